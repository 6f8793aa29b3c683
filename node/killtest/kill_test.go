// Package killtest kills a node process with SIGKILL at random moments
// while messages flow both ways, and checks that nothing it acknowledged
// is lost: not a message it accepted from its user, not one it told its
// peer it had stored. It is a test-only package because its test binary
// doubles as the node process it kills (TestMain), which no other
// package's tests should have to share.
//
// The node runs its real store (badger), its real sessions, handshake and
// channel over TCP on 127.0.0.1. Its transport is the one stand-in: a
// loopback transport that dials a peer at the address it printed, instead
// of tor. Under test here are the store and the sessions; each restart over
// tor would add the publication of an onion descriptor, seconds each, to
// every one of up to 200 iterations.
//
//	go test -run TestKillDuringBursts ./node/killtest -args -kill.iterations=200
package killtest

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/cloak"
	"github.com/ghostwire/ghostwire/dm"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/node"
	"github.com/ghostwire/ghostwire/store"
)

var iterations = flag.Int("kill.iterations", 20, "how many times the node process is killed (./run soak: 200)")

// The child node's settings travel in its environment.
const (
	envChild    = "GHOSTWIRE_KILLTEST_CHILD" // the store directory: run as the child
	envPeer     = "GHOSTWIRE_KILLTEST_PEER"  // the parent's address and identity: "ADDR ID"
	envRound    = "GHOSTWIRE_KILLTEST_ROUND" // which life of the child this is
	envSends    = "GHOSTWIRE_KILLTEST_SENDS" // how many messages it sends in this life
	childSeed   = 0x4b
	parentSeed  = 0x50
	redialEvery = 100 * time.Millisecond
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(envChild); dir != "" {
		if err := runChild(dir); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// secrets are a node's keys, the same in every life of the child.
func secrets(seed byte) (*identity.Secrets, error) {
	return identity.GenerateSecrets(bytes.NewReader(bytes.Repeat([]byte{seed}, 128)))
}

// loopback is the stand-in transport (see the package comment): it
// listens on 127.0.0.1 and dials each peer at the address it was told.
type loopback struct {
	mu       sync.Mutex
	peers    map[identity.ID]string
	listened func(addr string)
}

func newLoopback(listened func(string)) *loopback {
	return &loopback{peers: map[identity.ID]string{}, listened: listened}
}

func (l *loopback) set(id identity.ID, addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.peers[id] = addr
}

type reachable struct{ net.Listener }

func (reachable) WaitReachable(context.Context) error { return nil }

func (l *loopback) Mode() cloak.Mode { return cloak.ModeTor }
func (l *loopback) Listen(context.Context, *identity.PrivateKey) (cloak.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l.listened(ln.Addr().String())
	return reachable{ln}, nil
}
func (l *loopback) Dial(ctx context.Context, peer identity.ID) (net.Conn, error) {
	l.mu.Lock()
	addr := l.peers[peer]
	l.mu.Unlock()
	if addr == "" {
		return nil, fmt.Errorf("no address for %s yet", peer.Short())
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}
func (l *loopback) Status() cloak.Status {
	return cloak.Status{Phase: "loopback", Progress: 100, Ready: true, Reachable: true}
}
func (l *loopback) Close() error { return nil }

// runChild is one life of the child node: it prints its address, then
// sends its messages one by one, printing each once Send has returned (the
// moment the user is told it is accepted), and runs until it is killed.
func runChild(dir string) error {
	s, err := secrets(childSeed)
	if err != nil {
		return err
	}
	db, err := store.Open(dir, s.StoreKey[:], nil)
	if err != nil {
		return fmt.Errorf("the store does not open after the kill: %w", err)
	}
	out := bufio.NewWriter(os.Stdout)
	var outMu sync.Mutex
	say := func(f string, a ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(out, f+"\n", a...)
		out.Flush()
	}
	peerAddr, peerHex, _ := strings.Cut(os.Getenv(envPeer), " ")
	peer, err := identity.ParseID(peerHex)
	if err != nil {
		return err
	}
	tr := newLoopback(func(addr string) { say("addr %s", addr) })
	tr.set(peer, peerAddr)
	n, err := node.New(node.Config{Secrets: s, Store: db, Mode: cloak.ModeTor, Transport: tr, RedialInterval: redialEvery})
	if err != nil {
		return err
	}
	if _, err := n.AddPeer(peer, "parent"); err != nil { // renames a known peer: the same in every life
		return err
	}
	go n.Run(context.Background())
	round, _ := strconv.Atoi(os.Getenv(envRound))
	sends, _ := strconv.Atoi(os.Getenv(envSends))
	for i := range sends {
		text := fmt.Sprintf("from the child, life %d, message %d", round, i)
		if _, err := n.DM().Send(peer, text); err != nil {
			return err
		}
		say("sent %s", text)
		time.Sleep(time.Millisecond)
	}
	select {} // until killed
}

// child is one life of the child process, as the parent sees it.
type child struct {
	cmd  *exec.Cmd
	addr chan string
	mu   sync.Mutex
	sent []string // texts its Send accepted
	done chan struct{}
}

func startChild(t *testing.T, dir, parent string, round, sends int) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+dir, envPeer+"="+parent,
		envRound+"="+strconv.Itoa(round), envSends+"="+strconv.Itoa(sends))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, addr: make(chan string, 1), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "addr "); ok {
				c.addr <- a
			} else if s, ok := strings.CutPrefix(sc.Text(), "sent "); ok {
				c.mu.Lock()
				c.sent = append(c.sent, s)
				c.mu.Unlock()
			}
		}
		io.Copy(io.Discard, out)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("child stderr:\n%s", stderr.String())
		}
	})
	select {
	case a := <-c.addr:
		c.addr <- a
	case <-time.After(30 * time.Second):
		t.Fatalf("the child printed no address in 30 s: %s", stderr.String())
	}
	return c
}

// kill kills the child with SIGKILL and returns the texts it had
// acknowledged sending.
func (c *child) kill(t *testing.T) []string {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent
}

// childMessages opens the dead child's store as the child would on its
// next start and lists its messages by text.
func childMessages(t *testing.T, dir string, parent identity.ID) (in map[string]int, out map[string]bool) {
	t.Helper()
	s, err := secrets(childSeed)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(dir, s.StoreKey[:], nil)
	if err != nil {
		t.Fatalf("the child's store does not open after the kill: %v", err)
	}
	defer db.Close()
	n, err := node.New(node.Config{Secrets: s, Store: db, Mode: cloak.ModeTor, Transport: newLoopback(func(string) {})})
	if err != nil {
		t.Fatal(err)
	}
	return texts(t, n.DM(), parent)
}

// texts lists a conversation: how often each incoming text is listed, and
// outgoing texts with whether the peer has stored each.
func texts(t *testing.T, d *dm.Service, peer identity.ID) (in map[string]int, out map[string]bool) {
	t.Helper()
	msgs, err := d.List(&peer, nil)
	if err != nil {
		t.Fatal(err)
	}
	in, out = map[string]int{}, map[string]bool{}
	for _, m := range msgs {
		if m.Direction == "in" {
			in[m.Text]++
		} else {
			out[m.Text] = m.State == dm.StateDelivered || m.State == dm.StateRead
		}
	}
	return in, out
}

// TestKillDuringBursts: the parent node sends a burst of messages to the
// child node while the child sends its own, and kills the child at a random
// moment; then it opens the child's store (which must open unaided) and
// checks that every message the child accepted from its user and every
// message the parent saw acknowledged is there. After the last kill the
// child runs once more and both sides must converge: every message sent
// either way arrives and is acknowledged.
func TestKillDuringBursts(t *testing.T) {
	ps, err := secrets(parentSeed)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := secrets(childSeed)
	if err != nil {
		t.Fatal(err)
	}
	childID := cs.Key.ID()
	db, err := store.Open(filepath.Join(t.TempDir(), "parent"), ps.StoreKey[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	addr := make(chan string, 1)
	tr := newLoopback(func(a string) { addr <- a })
	parent, err := node.New(node.Config{Secrets: ps, Store: db, Mode: cloak.ModeTor, Transport: tr, RedialInterval: redialEvery})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parent.AddPeer(childID, "child"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); parent.Run(ctx) }()
	defer func() { cancel(); <-ran }()
	parentAt := <-addr + " " + ps.Key.ID().String()

	dir := filepath.Join(t.TempDir(), "child")
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill timing seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	var childSent []string
	parentSent, lostIn, lostOut, checked := 0, 0, 0, 0
	const burst, childSends = 20, 20
	for round := range *iterations {
		c := startChild(t, dir, parentAt, round, childSends)
		tr.set(childID, <-c.addr)
		// The parent's burst runs while the child lives; the kill comes
		// at a random moment within it or soon after.
		pauses := make([]time.Duration, burst)
		for i := range pauses {
			pauses[i] = time.Duration(rng.IntN(5)) * time.Millisecond
		}
		killAfter := time.Duration(rng.IntN(400)) * time.Millisecond
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := range burst {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := parent.DM().Send(childID, fmt.Sprintf("from the parent, round %d, message %d", round, i)); err != nil {
					t.Error(err)
					return
				}
				parentSent++
				time.Sleep(pauses[i])
			}
		})
		time.Sleep(killAfter)
		sent := c.kill(t)
		close(stop)
		wg.Wait()
		childSent = append(childSent, sent...)

		in, out := childMessages(t, dir, parent.ID())
		for _, s := range sent {
			if _, ok := out[s]; !ok {
				lostOut++
				t.Errorf("round %d: the child had accepted %q from its user; after the kill it is gone", round, s)
			}
		}
		_, pout := texts(t, parent.DM(), childID)
		for s, ok := range pout {
			if ok {
				checked++
				if in[s] == 0 {
					lostIn++
					t.Errorf("round %d: the child had acknowledged %q; after the kill it is gone", round, s)
				}
			}
		}
	}

	// One last life, with nothing new to send: both sides must converge.
	c := startChild(t, dir, parentAt, *iterations, 0)
	tr.set(childID, <-c.addr)
	deadline := time.Now().Add(60 * time.Second)
	missing := func() (string, int) {
		pin, pout := texts(t, parent.DM(), childID)
		for _, s := range childSent {
			switch pin[s] {
			case 0:
				return "a message the child sent has not reached the parent: " + s, len(pout)
			case 1:
			default:
				t.Fatalf("the parent lists %q %d times: a restart sent it again", s, pin[s])
			}
		}
		for s, ok := range pout {
			if !ok {
				return "a message the parent sent is not acknowledged: " + s, len(pout)
			}
		}
		return "", len(pout)
	}
	for {
		what, total := missing()
		if what == "" {
			if total != parentSent {
				t.Errorf("the parent lists %d messages to the child, it sent %d", total, parentSent)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the last restart, 60 s without converging: %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.kill(t)
	fmt.Printf("kill soak: %d kills (each followed by an unaided restart); the child accepted %d messages from its user, lost %d; "+
		"the parent sent %d, acknowledgements checked after the kills %d, lost %d; all converged after the last restart\n",
		*iterations, len(childSent), lostOut, parentSent, checked, lostIn)
}
