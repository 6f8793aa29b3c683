package onion_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/onion"
	"github.com/ghostwire/ghostwire/testuser"
)

// TestServiceHasPoWDefence: the node's service is published with the
// proof-of-work defence on, and the descriptor a client fetches carries
// PoW parameters: client B's tor says so in its own debug log ("PoW params
// present in descriptor", from consider_sending_introduce1), read through
// its control port's DEBUG events while B dials the service. The node runs
// as its own unprivileged user, attached to a system tor run as debian-tor.
func TestServiceHasPoWDefence(t *testing.T) {
	testuser.ShareTorrcFiles(t, network.JoinTorrc())
	sys := testuser.StartSystemTor(t, network.JoinTorrc(), "ExtendedErrors")
	_, out, _ := asNode(t, "echo-node", "GW_CONTROL="+sys.Control)
	var onionAddr, pow string
	for out.Scan() {
		if l, ok := strings.CutPrefix(out.Text(), "SERVING "); ok {
			onionAddr, pow, _ = strings.Cut(l, " ")
			break
		}
	}
	if pow != "pow=true" {
		t.Fatalf("the node's service: %q %q; want it published with the PoW defence (tor 0.4.9 knows it)", onionAddr, pow)
	}
	id, err := identity.ParseID(onionAddr)
	if err != nil {
		t.Fatal(err)
	}
	torB := attach(t, 1)

	nc := rawControl(t, 1)
	fmt.Fprintf(nc, "SETEVENTS DEBUG\r\n")
	found := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(nc)
		for s.Scan() {
			if strings.Contains(s.Text(), "PoW params present in descriptor") {
				found <- s.Text()
				return
			}
		}
	}()
	c := dialRetry(t, torB, id)
	c.Close()
	select {
	case l := <-found:
		t.Logf("client's tor: %s", l)
	case <-time.After(10 * time.Second):
		t.Fatal("the client's tor never saw PoW parameters in the service's descriptor")
	}
}

// echoNode is the node side of TestServiceHasPoWDefence: attached to
// control as Debian's user would be, it publishes a fresh identity's
// service, echoes every connection, prints "SERVING ONION pow=BOOL" once
// the descriptor is uploaded, and runs until stdin closes.
func echoNode(control string) int {
	tor, err := onion.Start(onion.Config{ControlAddr: control})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer tor.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	key, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := tor.Listen(ctx, key)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer ln.Close()
	go echo(ln)
	if err := ln.Service.WaitReachable(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("SERVING %s pow=%v\n", key.ID().Onion(), ln.PoWDefence())
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// TestHungTorIsNotHealthy: a managed tor that is stopped (SIGSTOP) keeps
// its sockets open, yet within seconds the transport's status says "tor not
// responding", not ready and not reachable, and dials fail with
// ErrTorUnavailable; after SIGCONT it is ready and reachable again without
// a restart.
func TestHungTorIsNotHealthy(t *testing.T) {
	checkGoroutines(t)
	tor, err := onion.Start(onion.Config{DataDir: t.TempDir(), Torrc: network.JoinTorrc()})
	if err != nil {
		t.Fatal(err)
	}
	tr := onion.NewTransport(tor)
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := tor.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	ln, err := tr.Listen(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	waitReachable(t, ln.(*onion.Listener).Service)
	if st := tr.Status(); !st.Ready || !st.Reachable || st.Phase == onion.NotResponding {
		t.Fatalf("before SIGSTOP: %+v", st)
	}

	pid := tor.PID()
	syscall.Kill(pid, syscall.SIGSTOP)
	defer syscall.Kill(pid, syscall.SIGCONT)
	waitStatus := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: status still %+v after 10 s", what, tr.Status())
			}
		}
	}
	waitStatus("stopped tor", func() bool { return tr.Status().Phase == onion.NotResponding })
	if st := tr.Status(); st.Ready || st.Reachable || !strings.Contains(st.Warning, "not answered") {
		t.Errorf("stopped tor: %+v; want not ready, not reachable, a warning", st)
	}
	if _, err := tr.Dial(context.Background(), newKey(t).ID()); !errors.Is(err, onion.ErrTorUnavailable) {
		t.Errorf("dial with tor stopped: %v, want ErrTorUnavailable", err)
	}

	syscall.Kill(pid, syscall.SIGCONT)
	waitStatus("resumed tor", func() bool { st := tr.Status(); return st.Ready && st.Reachable })
	if tor.PID() != pid {
		t.Errorf("tor was restarted (pid %d → %d); a resumed tor should simply be used again", pid, tor.PID())
	}
}

// TestAttachRefusesMergedCircuits: a tor whose SOCKS port has
// NoIsolateSOCKSAuth or PreferSOCKSNoAuth would put all peers on one
// circuit, so the node refuses to attach to it (ErrMergedCircuits), while
// the same tor with the isolation flags left alone is accepted. The tor is
// Debian's system tor in shape and account (testuser.StartSystemTor): a
// unix: control socket with its cookie beside it, which the node, run as
// its own unprivileged user in debian-tor's group, finds without
// --tor-cookie and reads through that group.
func TestAttachRefusesMergedCircuits(t *testing.T) {
	testuser.ShareTorrcFiles(t, network.JoinTorrc())
	for _, c := range []struct {
		flags string
		want  string // the helper's verdict: ok, or merged (ErrMergedCircuits)
	}{
		{"ExtendedErrors", "ok"},
		{"ExtendedErrors NoIsolateSOCKSAuth", "merged"},
		{"PreferSOCKSNoAuth", "merged"},
	} {
		t.Run(c.flags, func(t *testing.T) {
			// The private network: nothing leaves loopback.
			sys := testuser.StartSystemTor(t, network.JoinTorrc(), c.flags)
			node, out, _ := asNode(t, "check-control", "GW_CONTROL="+sys.Control)
			verdict := ""
			for out.Scan() {
				if l, ok := strings.CutPrefix(out.Text(), "CHECK "); ok {
					verdict = l
				}
			}
			if err := node.Wait(); err != nil {
				t.Fatalf("the node helper failed: %v", err)
			}
			if got, _, _ := strings.Cut(verdict, " "); got != c.want {
				t.Errorf("CheckControl with SocksPort flags %q: %q, want %s", c.flags, verdict, c.want)
			}
		})
	}
}

// checkControl is the node side of TestAttachRefusesMergedCircuits: it
// attaches to control as Debian's user would (no cookie given), runs the
// startup check until tor's socket answers, and prints "CHECK ok",
// "CHECK merged …", "CHECK untrusted …" or "CHECK error …".
func checkControl(control string) int {
	tor, err := onion.Start(onion.Config{ControlAddr: control})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer tor.Close()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = tor.CheckControl(ctx)
		cancel()
		// Until tor has opened its socket the dial fails; anything
		// else is the answer.
		if err == nil || errors.Is(err, onion.ErrMergedCircuits) || errors.Is(err, onion.ErrUntrustedTor) || time.Now().After(deadline) {
			break
		}
	}
	switch {
	case err == nil:
		fmt.Println("CHECK ok")
	case errors.Is(err, onion.ErrMergedCircuits):
		fmt.Println("CHECK merged", err)
	case errors.Is(err, onion.ErrUntrustedTor):
		fmt.Println("CHECK untrusted", err)
	default:
		fmt.Println("CHECK error", err)
	}
	return 0
}

// TestPoWFallback: a tor that does not know PoWDefensesEnabled (before
// 0.4.9.2, it answers 512 naming the unknown keyword) still gets the
// service, published without the defence, and Service.PoWDefence says so.
// The tor here is a fake on a Unix socket whose cookie we made, since the
// installed tor knows the option.
func TestPoWFallback(t *testing.T) {
	dir, err := os.MkdirTemp("", "gw-pow-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	secret := make([]byte, 32)
	rand.Read(secret)
	cookie := filepath.Join(dir, "cookie")
	os.WriteFile(cookie, secret, 0o600)
	ln, err := net.Listen("unix", filepath.Join(dir, "control"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	key := newKey(t)
	var mu sync.Mutex
	var adds []string
	answer := func(line string) (string, bool) {
		switch {
		case strings.HasPrefix(line, "ADD_ONION"):
			mu.Lock()
			adds = append(adds, line)
			mu.Unlock()
			if strings.Contains(line, "PoWDefensesEnabled") {
				return "512 Unrecognized keyword argument \"PoWDefensesEnabled\"\r\n", true
			}
			return "250-ServiceID=" + key.ID().Onion() + "\r\n250 OK\r\n", true
		case line == "GETCONF SocksPort":
			return "250 SocksPort=unix:" + filepath.Join(dir, "socks") + "\r\n", true
		case line == "GETINFO net/listeners/socks":
			return "250-net/listeners/socks=\"unix:" + filepath.Join(dir, "socks") + "\"\r\n250 OK\r\n", true
		case line == "GETINFO process/pid":
			return fmt.Sprintf("250-process/pid=%d\r\n250 OK\r\n", os.Getpid()), true
		case line == "GETINFO status/bootstrap-phase":
			return "250-status/bootstrap-phase=NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY=\"Done\"\r\n250 OK\r\n", true
		case line == "GETINFO version":
			return "250-version=0.4.8.0\r\n250 OK\r\n", true
		}
		return "", false
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); serveFake(c, "COOKIE,SAFECOOKIE", cookie, secret, func(string) {}, answer) }()
		}
	}()

	tor, err := onion.Start(onion.Config{ControlAddr: "unix:" + filepath.Join(dir, "control"), ControlCookie: cookie})
	if err != nil {
		t.Fatal(err)
	}
	defer tor.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tor.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	svc, err := tor.Publish(ctx, key, "unix:"+filepath.Join(dir, "service"))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if svc.ServiceID() != key.ID().Onion() || svc.PoWDefence() {
		t.Errorf("published as %q with PoW defence %v; want %q without", svc.ServiceID(), svc.PoWDefence(), key.ID().Onion())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(adds) != 2 || !strings.Contains(adds[0], " PoWDefensesEnabled=1 ") || strings.Contains(adds[1], "PoW") {
		t.Errorf("ADD_ONION requests: %q; want one with the defence, then one without", adds)
	}
}
