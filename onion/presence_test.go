package onion_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/onion"
	"github.com/ghostwire/ghostwire/onion/internal/torctl"
	"github.com/ghostwire/ghostwire/testuser"
)

// dialRefused dials until tor answers something other than "descriptor not
// found" (the upload may not have reached every HSDir yet) and returns that
// error; a dial that succeeds fails the test.
func dialRefused(t *testing.T, tor *onion.Tor, id identity.ID) error {
	t.Helper()
	var err error
	for range 40 {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		var c interface{ Close() error }
		c, err = tor.Dial(ctx, id)
		cancel()
		if err == nil {
			c.Close()
			t.Fatalf("an unauthorised dialer reached %s", id.Short())
		}
		if !strings.Contains(err.Error(), "descriptor not found") && !errors.Is(err, onion.ErrTorUnavailable) {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("dialing %s: still %v", id.Short(), err)
	return nil
}

// isAuthRefusal: tor's extended SOCKS errors for a service that wants
// client authorisation (0xF4: we hold no key for it; 0xF5: ours does not
// open the descriptor).
func isAuthRefusal(err error) bool {
	return strings.Contains(err.Error(), "requires client authorization") ||
		strings.Contains(err.Error(), "client authorization for the onion service was refused")
}

// TestOnlyPeers: a service published with OnlyPeers lets in the peers it
// names and nobody else; an unauthorised dial makes it build no rendezvous
// circuit; adding and removing peers changes who gets in while the same tor
// process keeps running. Node A, with its managed tor, runs as its own
// unprivileged user (onlyPeersNode, driven line by line); B and C are the
// network's tors.
func TestOnlyPeers(t *testing.T) {
	torB, torC := attach(t, 1), attach(t, 0)
	keyB, keyC := newKey(t), newKey(t)
	// B and C publish services of their own: a dialer presents the client
	// key of the identity it publishes.
	for _, p := range []struct {
		tor *onion.Tor
		key *identity.PrivateKey
	}{{torB, keyB}, {torC, keyC}} {
		ln, err := p.tor.Listen(context.Background(), p.key)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
	}

	acct := testuser.Node(t)
	base := acct.MkdirOwned(t, filepath.Join(t.TempDir(), "a"), 0o700)
	testuser.ShareTorrcFiles(t, network.JoinTorrc())
	nodeA, out, in := asNode(t, "only-peers-node", "GW_BASE="+base, "GW_TORRC="+network.JoinTorrc())
	// ask sends one command to A and returns its answer line.
	ask := func(cmd string) string {
		t.Helper()
		fmt.Fprintln(in, cmd)
		if !out.Scan() {
			t.Fatalf("node A stopped answering (%q): %v", cmd, nodeA.Wait())
		}
		return out.Text()
	}
	idA, err := identity.ParseID(ask("peers " + keyB.ID().String()))
	if err != nil {
		t.Fatalf("node A: %v", err)
	}
	pid := ask("pid")
	acct.AssertRuns(t, "node A's tor", atoi(t, pid))

	err = dialRefused(t, torC, idA)
	if !isAuthRefusal(err) {
		t.Fatalf("unauthorised C: %v, want a client-authorisation refusal", err)
	}
	t.Logf("unauthorised dialer: %v", err)
	if cs := ask("circuits"); cs != "no HS_SERVICE_REND" {
		t.Fatalf("A built a rendezvous circuit for an unauthorised dialer: %s", cs)
	}
	c := dialRetry(t, torB, idA)
	c.Close()

	ask("peers " + keyB.ID().String() + "," + keyC.ID().String())
	c = dialRetry(t, torC, idA)
	c.Close()

	ask("peers " + keyC.ID().String())
	err = dialRefused(t, torB, idA)
	if !isAuthRefusal(err) && !strings.Contains(err.Error(), "introduction") {
		t.Fatalf("removed peer B: %v, want a refusal", err)
	}
	t.Logf("removed peer: %v", err)
	if got := ask("pid"); got != pid {
		t.Fatalf("tor was restarted (pid %s, then %s); peer changes must not restart it", pid, got)
	}

	// What a prober learns once A is gone (docs/tor.md): the descriptor
	// stays on the HSDirs, so an unauthorised dialer still hears "client
	// authorization refused", while an authorised one, which can read the
	// introduction points, finds nobody there.
	in.Close()
	if err := nodeA.Wait(); err != nil {
		t.Fatalf("node A did not stop cleanly: %v", err)
	}
	err = dialRefused(t, torB, idA)
	if !isAuthRefusal(err) {
		t.Fatalf("unauthorised B, A offline: %v, want the same client-authorisation refusal", err)
	}
	t.Logf("unauthorised dialer, A offline: %v", err)
	err = dialRefused(t, torC, idA)
	if isAuthRefusal(err) {
		t.Fatalf("authorised C, A offline: %v, want an introduction failure", err)
	}
	t.Logf("authorised dialer, A offline: %v", err)

	// B's tor is a system tor shared with other controllers, who could
	// read our key back (ONION_CLIENT_AUTH_VIEW): detaching removes it.
	torB.Close()
	nc := rawControl(t, 1)
	fmt.Fprintf(nc, "ONION_CLIENT_AUTH_VIEW\r\n")
	sc := bufio.NewScanner(nc)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "CLIENT ") {
			t.Errorf("B's tor still holds a client key after B detached: %s", sc.Text())
		}
		if strings.HasPrefix(sc.Text(), "250 ") || strings.HasPrefix(sc.Text(), "5") {
			break
		}
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

// onlyPeersNode is node A of TestOnlyPeers: a managed tor in base joined to
// the network by torrc, publishing a fresh identity with OnlyPeers and
// echoing connections. It answers one line per command on stdin:
//   - "peers ID,…": sets the peers, waits until the service is published
//     for them, and answers A's onion address;
//   - "pid": tor's process ID;
//   - "circuits": whether tor holds a rendezvous circuit of the service.
//
// It closes everything when stdin closes.
func onlyPeersNode(base, torrc string) int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "only-peers node:", err); return 1 }
	tor, err := onion.Start(onion.Config{DataDir: filepath.Join(base, "tor"), Torrc: torrc, OnlyPeers: true})
	if err != nil {
		return fail(err)
	}
	defer tor.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if err := tor.WaitReady(ctx); err != nil {
		return fail(err)
	}
	key, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		return fail(err)
	}
	var ln *onion.Listener
	defer func() {
		if ln != nil {
			ln.Close()
		}
	}()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		switch cmd {
		case "peers":
			var ids []identity.ID
			for _, s := range strings.Split(arg, ",") {
				id, err := identity.ParseID(s)
				if err != nil {
					return fail(err)
				}
				ids = append(ids, id)
			}
			tor.SetPeers(ids)
			if ln == nil {
				if ln, err = tor.Listen(ctx, key); err != nil {
					return fail(err)
				}
				go echo(ln)
			}
			if err := ln.Service.WaitReachable(ctx); err != nil {
				return fail(err)
			}
			fmt.Println(key.ID())
		case "pid":
			fmt.Println(tor.PID())
		case "circuits":
			cs, err := tor.GetInfo("circuit-status")
			switch {
			case err != nil:
				return fail(err)
			case strings.Contains(cs, "HS_SERVICE_REND"):
				fmt.Println(strings.ReplaceAll(cs, "\n", " | "))
			default:
				fmt.Println("no HS_SERVICE_REND")
			}
		default:
			return fail(fmt.Errorf("unknown command %q", cmd))
		}
	}
	return 0
}

// rawControl is an authenticated control connection to the network's i-th
// client tor, for commands the package does not offer; the test closes it.
func rawControl(t *testing.T, i int) net.Conn {
	t.Helper()
	cl := network.Clients()[i]
	nc, _, err := torctl.DialRaw(context.Background(), cl.ControlAddr(), torctl.Auth{CookieFile: cl.CookieFile()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}
