package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/cloak"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recon"
	"github.com/ghostwire/ghostwire/syncproto"
)

// The listener tests run the responding node in a child process (this test
// binary run again; TestMain runs runListenChild) whose RLIMIT_NOFILE they lower: a
// descriptor limit is the process's, and the flooders and honest peers in
// the parent must not share it. The child speaks a line protocol on
// stdin/stdout: it prints "addr HOST:PORT" once running, and answers
// "status" (the node's status as JSON), "rlimit", "rss" (VmRSS in KiB),
// "exhaust" (open /dev/null until EMFILE and hold it all) and "release".

const (
	listenChildEnv    = "GHOSTWIRE_LISTEN_CHILD"     // "SOFT HARD PEERS"
	listenChildDirEnv = "GHOSTWIRE_LISTEN_CHILD_DIR" // where its store goes (the parent's temp dir)
)

// TestMain runs this binary as the listener tests' child node when they
// start it so, and as the package's tests otherwise.
func TestMain(m *testing.M) {
	if spec := os.Getenv(importMemChildEnv); spec != "" {
		if err := runImportMemChild(spec); err != nil {
			fmt.Fprintln(os.Stderr, "import memory child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if spec := os.Getenv(listenChildEnv); spec != "" {
		if err := runListenChild(spec, os.Getenv(listenChildDirEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "listen child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if spec := os.Getenv(burnChildEnv); spec != "" {
		if err := runBurnChild(spec); err != nil {
			fmt.Fprintln(os.Stderr, "burn child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childSeed makes the child node's identity (bareNode), which the parent
// derives too.
const childSeed = 0xb0

// honestKey is the i-th honest peer's key; the child's node knows keys 0
// to PEERS-1. Each session uses a key of its own, so that no attempt is
// refused because the previous one's session has not ended yet.
func honestKey(t testing.TB, i int) *identity.PrivateKey {
	k, err := honestKeyOf(i)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func honestKeyOf(i int) (*identity.PrivateKey, error) {
	var seed [8]byte
	binary.BigEndian.PutUint64(seed[:], uint64(i))
	sum := sha512.Sum512(append([]byte("ghostwire listen test peer "), seed[:]...))
	return identity.GenerateKey(bytes.NewReader(sum[:]))
}

// loopTransport listens on 127.0.0.1 (the port of its first listener each
// time again, so the parent's address stays good) and never dials.
type loopTransport struct {
	unusedTransport
	mu   sync.Mutex
	addr string
}

type loopListener struct{ net.Listener }

func (loopListener) WaitReachable(context.Context) error { return nil }

func (t *loopTransport) Listen(context.Context, *identity.PrivateKey) (cloak.Listener, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ln, err := net.Listen("tcp", t.addr)
	if err != nil {
		return nil, err
	}
	t.addr = ln.Addr().String()
	return loopListener{ln}, nil
}

func (*loopTransport) Status() cloak.Status { return cloak.Status{Reachable: true} }

// runListenChild is the child process's node (TestMain), with its store
// in dir; it answers the parent's questions until stdin closes.
func runListenChild(spec, dir string) error {
	var soft, hard uint64
	var peers int
	if _, err := fmt.Sscan(spec, &soft, &hard, &peers); err != nil {
		return fmt.Errorf("bad %s %q: %v", listenChildEnv, spec, err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: soft, Max: hard}); err != nil {
		return err
	}
	tr := &loopTransport{addr: "127.0.0.1:0"}
	n, db, err := openBareNode(dir, childSeed, nil, func(cfg *Config) { cfg.Transport = tr })
	if err != nil {
		return err
	}
	defer db.Close()
	for i := range peers {
		k, err := honestKeyOf(i)
		if err != nil {
			return err
		}
		if _, err := n.AddPeer(k.ID(), ""); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for range 500 {
		if tr.mu.Lock(); tr.addr != "127.0.0.1:0" {
			tr.mu.Unlock()
			break
		}
		tr.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	tr.mu.Lock()
	fmt.Printf("addr %s\n", tr.addr)
	tr.mu.Unlock()

	var held []*os.File
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "status":
			st, err := n.Status()
			if err != nil {
				fmt.Printf("error %v\n", err)
				continue
			}
			b, _ := json.Marshal(st)
			fmt.Printf("%s\n", b)
		case "rlimit":
			var lim syscall.Rlimit
			syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
			fmt.Printf("%d %d\n", lim.Cur, lim.Max)
		case "rss":
			fmt.Printf("%d\n", rssKiB())
		case "exhaust":
			for {
				f, err := os.Open(os.DevNull)
				if err != nil {
					break
				}
				held = append(held, f)
			}
			fmt.Printf("%d\n", len(held))
		case "release":
			for _, f := range held {
				f.Close()
			}
			held = nil
			fmt.Println("released")
		}
	}
	return sc.Err()
}

// rssKiB is this process's resident set, from /proc.
func rssKiB() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			v, _ := strconv.Atoi(f[1])
			return v
		}
	}
	return 0
}

// listenChild is the parent's handle on the child's node.
type listenChild struct {
	t    *testing.T
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	addr string
	id   identity.ID
	mu   sync.Mutex // one question at a time
}

func startListenChild(t *testing.T, soft, hard, peers int) *listenChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d %d %d", listenChildEnv, soft, hard, peers), listenChildDirEnv+"="+t.TempDir())
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &listenChild{t: t, cmd: cmd, in: in, out: bufio.NewScanner(out)}
	c.out.Buffer(nil, 1<<20)
	t.Cleanup(func() {
		in.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("the child node: %v", err)
		}
	})
	line := c.line()
	if !strings.HasPrefix(line, "addr ") {
		t.Fatalf("the child node did not start: %q", line)
	}
	c.addr = strings.TrimPrefix(line, "addr ")
	secrets, err := identity.GenerateSecrets(bytes.NewReader(bytes.Repeat([]byte{childSeed}, 128)))
	if err != nil {
		t.Fatal(err)
	}
	c.id = secrets.Key.ID()
	return c
}

func (c *listenChild) line() string {
	if !c.out.Scan() {
		c.t.Fatalf("the child node stopped answering: %v", c.out.Err())
	}
	return c.out.Text()
}

func (c *listenChild) ask(q string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintln(c.in, q)
	return c.line()
}

// listener is the listener part of the child's status, read as JSON so
// that its absence is a failure rather than a build error.
func (c *listenChild) listener() map[string]any {
	var st map[string]any
	if err := json.Unmarshal([]byte(c.ask("status")), &st); err != nil {
		c.t.Fatalf("status: %v", err)
	}
	l, _ := st["listener"].(map[string]any)
	return l
}

// emptyStore is an honest initiator that holds nothing: a session with it
// is a handshake and one round of sync, and Synced means the responder
// took the session.
type emptyStore struct {
	once   sync.Once
	synced chan struct{}
}

func (*emptyStore) Scopes(identity.ID) []item.Scope                              { return nil }
func (*emptyStore) Set(item.Scope) (recon.Set, error)                            { return recon.NewMemSet(nil), nil }
func (*emptyStore) Item(item.Scope, recon.ID) []byte                             { return nil }
func (*emptyStore) Accept(identity.ID, item.Scope, [][]byte) ([]recon.ID, error) { return nil, nil }
func (*emptyStore) Acked(identity.ID, []recon.ID, []recon.ID)                    {}
func (s *emptyStore) Synced(identity.ID)                                         { s.once.Do(func() { close(s.synced) }) }

// session is one honest session to the child: dial, handshake, sync. It
// returns once the sync completed and leaves the session running until
// the returned stop is called.
func (c *listenChild) session(ctx context.Context, key *identity.PrivateKey, record *[]byte) (stop func(), err error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, err
	}
	var conn net.Conn = raw
	if record != nil {
		conn = &recordConn{Conn: raw, first: record}
	}
	sc, err := syncproto.Client(ctx, conn, &syncproto.Config{Key: key}, c.id)
	if err != nil {
		return nil, err
	}
	st := &emptyStore{synced: make(chan struct{})}
	sctx, cancel := context.WithCancel(context.Background())
	ended := make(chan error, 1)
	go func() { ended <- syncproto.NewSession(sc, st, true).Run(sctx) }()
	stop = func() { cancel(); <-ended }
	select {
	case <-st.synced:
		return stop, nil
	case err := <-ended:
		cancel()
		if err == nil {
			err = errors.New("the node closed the session without syncing")
		}
		return nil, err
	case <-ctx.Done():
		stop()
		return nil, ctx.Err()
	}
}

// recordConn keeps a copy of the first write: the initiator's message 1.
type recordConn struct {
	net.Conn
	first *[]byte
}

func (c *recordConn) Write(p []byte) (int, error) {
	if *c.first == nil {
		*c.first = bytes.Clone(p)
	}
	return c.Conn.Write(p)
}

// TestListenerSurvivesFDExhaustion: with the process out of descriptors
// accept fails; the listener backs off (status says so, with the reason)
// instead of stopping, and once descriptors are back a new session
// succeeds while an earlier one is still live. The node also raised its
// soft descriptor limit to the hard one.
func TestListenerSurvivesFDExhaustion(t *testing.T) {
	checkBaseline(t)
	c := startListenChild(t, 128, 512, 4)
	if got := c.ask("rlimit"); got != "512 512" {
		t.Errorf("the node's RLIMIT_NOFILE (soft hard) is %s; want the soft limit raised to the hard: 512 512", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	live, err := c.session(ctx, honestKey(t, 0), nil)
	if err != nil {
		t.Fatalf("the first session: %v", err)
	}
	defer live()

	if n, _ := strconv.Atoi(c.ask("exhaust")); n == 0 {
		t.Fatal("the child could not take its descriptors")
	}
	// The kernel completes this connection; the node's accept then fails
	// for want of a descriptor.
	var d net.Dialer
	stuck, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	var l map[string]any
	for range 100 { // bounded: the backoff is logged at its first error
		if l = c.listener(); l["state"] == "backing off" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if l["state"] != "backing off" || l["reason"] != "too many open files" {
		t.Errorf("with the descriptors exhausted the listener shows %v; want state \"backing off\", reason \"too many open files\"", l)
	}
	if got := c.ask("release"); got != "released" {
		t.Fatal(got)
	}
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	again, err := c.session(sctx, honestKey(t, 1), nil)
	if err != nil {
		t.Fatalf("a new session once descriptors were back, the first still live: %v", err)
	}
	again()
	if l := c.listener(); l["state"] != "listening" {
		t.Errorf("after recovering the listener shows %v; want state \"listening\"", l)
	}
}

// The flood: floodMessages first messages, junk and replayed, from
// floodFlooders connections at a time, at a node whose descriptor limit is
// floodFDs, while floodHonest honest peers each open sessions one after
// another for as long as the flood lasts.
const (
	floodMessages = 10000
	floodFlooders = 8
	floodFDs      = 4096
	floodHonest   = 4
	floodMinTries = 20  // fewer honest sessions during the flood measure nothing (below 100, one failure fails)
	floodMaxTries = 400 // and at most this many: the count is bounded
	// floodTimeout is how long an honest session may take before it counts
	// as failed: well past the 2 s target, so that the rate measures
	// refusals, not a slow machine.
	floodTimeout = 10 * time.Second
)

// TestHandshakeFlood: junk and replayed first messages, many of them held
// open as a slow attacker would, cost the node a bounded number of
// descriptors and handshakes, and an honest peer's new sessions still
// succeed at least 99% of the time. The latency and memory figures are
// printed (`./run soak` shows them), not asserted.
func TestHandshakeFlood(t *testing.T) {
	checkBaseline(t)
	c := startListenChild(t, floodFDs, floodFDs, floodMaxTries+1)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var m1 []byte
	stop, err := c.session(ctx, honestKey(t, 0), &m1)
	if err != nil {
		t.Fatalf("the session that records message 1: %v", err)
	}
	stop()
	rss0, _ := strconv.Atoi(c.ask("rss"))

	fctx, fcancel := context.WithTimeout(ctx, time.Minute)
	defer fcancel()
	var (
		fwg      sync.WaitGroup // the flooders
		hold     sync.WaitGroup // the connections they hold
		mu       sync.Mutex
		sent     int
		held     []net.Conn
		floodEnd = make(chan struct{})
	)
	next := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if sent == floodMessages || fctx.Err() != nil {
			return 0, false
		}
		sent++
		return sent, true
	}
	junk := func(i int) []byte { // deterministic garbage of varied length
		sum := sha512.Sum512([]byte(strconv.Itoa(i)))
		return bytes.Repeat(sum[:], 1+i%32)
	}
	for range floodFlooders {
		fwg.Add(1)
		go func() {
			defer fwg.Done()
			for {
				i, ok := next()
				if !ok {
					return
				}
				d := net.Dialer{Timeout: time.Second}
				conn, err := d.DialContext(fctx, "tcp", c.addr)
				if err != nil {
					continue
				}
				switch i % 5 {
				case 0, 1: // a replay, held open waiting for message 2
					conn.Write(m1)
				case 2: // junk
					conn.Write(junk(i))
				case 3: // the start of a replay, then silence
					conn.Write(m1[:len(m1)/2])
				case 4: // a replay, then gone
					conn.Write(m1)
					conn.Close()
					continue
				}
				mu.Lock()
				held = append(held, conn)
				mu.Unlock()
				hold.Add(1)
				go func() { // hold it until the node closes it
					defer hold.Done()
					io.Copy(io.Discard, conn)
					conn.Close()
				}()
			}
		}()
	}
	go func() {
		fwg.Wait()
		close(floodEnd)
	}()

	var (
		hmu       sync.Mutex
		tries, ok int
		lat       []time.Duration
		fails     []error
		hwg       sync.WaitGroup
	)
	for range floodHonest {
		hwg.Add(1)
		go func() {
			defer hwg.Done()
			for {
				hmu.Lock()
				select {
				case <-floodEnd:
					hmu.Unlock()
					return
				default:
				}
				if tries == floodMaxTries {
					hmu.Unlock()
					return
				}
				tries++
				k := tries
				hmu.Unlock()
				sctx, scancel := context.WithTimeout(ctx, floodTimeout)
				start := time.Now()
				stop, err := c.session(sctx, honestKey(t, k), nil)
				took := time.Since(start)
				scancel()
				if err == nil {
					stop()
				}
				hmu.Lock()
				if err == nil {
					ok++
					lat = append(lat, took)
				} else {
					fails = append(fails, err)
				}
				hmu.Unlock()
			}
		}()
	}
	var peakRSS int
	sample := time.NewTicker(100 * time.Millisecond)
	for sampling := true; sampling; {
		select {
		case <-floodEnd:
			sampling = false
		case <-sample.C:
			if v, _ := strconv.Atoi(c.ask("rss")); v > peakRSS {
				peakRSS = v
			}
		}
	}
	sample.Stop()
	hwg.Wait()
	l := c.listener()
	mu.Lock()
	for _, conn := range held {
		conn.Close()
	}
	flooded := sent
	mu.Unlock()
	hold.Wait()

	slices.Sort(lat)
	p99 := time.Duration(0)
	if len(lat) > 0 {
		p99 = lat[min(len(lat)-1, len(lat)*99/100)]
	}
	t.Logf("flood: %d junk and replayed first messages from %d flooders; honest sessions %d/%d (%.1f%%, target ≥ 99%%), p99 %v (target ≤ 2s), node RSS +%d MiB (target ≤ 64 MiB); listener %v evicted, %v refused, caps %v conns / %v handshakes at %v fds",
		flooded, floodFlooders, ok, tries, 100*float64(ok)/float64(max(tries, 1)), p99.Round(time.Millisecond),
		max(peakRSS-rss0, 0)/1024, l["evicted"], l["refused"], l["max_conns"], l["max_handshakes"], l["fd_limit"])
	if flooded < floodMessages {
		t.Errorf("the flood sent %d of %d messages in its minute", flooded, floodMessages)
	}
	for i, err := range fails {
		if i == 5 {
			break
		}
		t.Logf("flood: an honest session failed: %v", err)
	}
	if tries < floodMinTries {
		t.Errorf("only %d honest sessions were tried during the flood; want at least %d to measure a rate", tries, floodMinTries)
	}
	if ok*100 < tries*99 {
		t.Errorf("honest sessions succeeded %d of %d times during the flood; want at least 99%%", ok, tries)
	}
}
