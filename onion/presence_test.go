package onion_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/onion"
	"github.com/ghostwire/ghostwire/onion/internal/torctl"
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
// process keeps running.
func TestOnlyPeers(t *testing.T) {
	torB, torC := attach(t, 1), attach(t, 0)
	keyA, keyB, keyC := newKey(t), newKey(t), newKey(t)
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

	torA, err := onion.Start(onion.Config{DataDir: t.TempDir(), Torrc: network.JoinTorrc(), OnlyPeers: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer torA.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := torA.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	torA.SetPeers([]identity.ID{keyB.ID()})
	lnA, err := torA.Listen(ctx, keyA)
	if err != nil {
		t.Fatal(err)
	}
	defer lnA.Close()
	go echo(lnA)
	waitReachable(t, lnA.Service)
	pid := torA.PID()

	err = dialRefused(t, torC, keyA.ID())
	if !isAuthRefusal(err) {
		t.Fatalf("unauthorised C: %v, want a client-authorisation refusal", err)
	}
	t.Logf("unauthorised dialer: %v", err)
	if cs, err := torA.GetInfo("circuit-status"); err != nil || strings.Contains(cs, "HS_SERVICE_REND") {
		t.Fatalf("A built a rendezvous circuit for an unauthorised dialer (%v):\n%s", err, cs)
	}
	c := dialRetry(t, torB, keyA.ID())
	c.Close()

	torA.SetPeers([]identity.ID{keyB.ID(), keyC.ID()})
	waitReachable(t, lnA.Service)
	c = dialRetry(t, torC, keyA.ID())
	c.Close()

	torA.SetPeers([]identity.ID{keyC.ID()})
	waitReachable(t, lnA.Service)
	err = dialRefused(t, torB, keyA.ID())
	if !isAuthRefusal(err) && !strings.Contains(err.Error(), "introduction") {
		t.Fatalf("removed peer B: %v, want a refusal", err)
	}
	t.Logf("removed peer: %v", err)
	if torA.PID() != pid {
		t.Fatalf("tor was restarted (pid %d, then %d); peer changes must not restart it", pid, torA.PID())
	}

	// What a prober learns once A is gone (docs/tor.md): the descriptor
	// stays on the HSDirs, so an unauthorised dialer still hears "client
	// authorization refused", while an authorised one, which can read the
	// introduction points, finds nobody there.
	lnA.Close()
	torA.Close()
	err = dialRefused(t, torB, keyA.ID())
	if !isAuthRefusal(err) {
		t.Fatalf("unauthorised B, A offline: %v, want the same client-authorisation refusal", err)
	}
	t.Logf("unauthorised dialer, A offline: %v", err)
	err = dialRefused(t, torC, keyA.ID())
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

// testLogger sends a Tor's log to the test's log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{t}, nil))
}

type tlogWriter struct{ t *testing.T }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
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
