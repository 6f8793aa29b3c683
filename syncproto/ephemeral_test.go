package syncproto

import (
	"crypto/ecdh"
	"crypto/rand"
	"net"
	"sync"
	"testing"
	"time"
)

// TestEphemeralKeysFresh: with keys made ahead of time, every handshake
// still puts fresh ephemeral shares on the wire, sequential or concurrent,
// on both sides; crypto/rand named explicitly (as the node does) uses the
// spares too; and a handshake with its own Rand neither takes nor leaves
// one. Both sides share one Spares, as a node's dialer and listener do.
func TestEphemeralKeysFresh(t *testing.T) {
	checkLeaks(t)
	alice, bob := testKey(t, "alice"), testKey(t, "bob")
	seen := map[string]string{}
	var mu sync.Mutex
	// handshake runs on any goroutine: it reports with t.Error only.
	handshake := func(d, l net.Conn, ccfg, scfg *Config) {
		fc, sfc := &flightConn{Conn: d}, &flightConn{Conn: l}
		c, s := handshakeOver(t, fc, sfc, ccfg, scfg, bob.ID())
		if c.err != nil || s.err != nil {
			t.Error(c.err, s.err)
			return
		}
		m1, err := decodeInitiatorHello(fc.first[frameHeaderSize:])
		if err != nil {
			t.Error(err)
			return
		}
		m2, err := decodeResponderHello(sfc.first[frameHeaderSize:])
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for what, share := range map[string][]byte{"initiator X25519": m1.X25519, "initiator ML-KEM": m1.MLKEM, "responder X25519": m2.X25519} {
			if prev, ok := seen[string(share)]; ok {
				t.Errorf("%s share repeats a %s share", what, prev)
			}
			seen[string(share)] = what
		}
	}
	sp := new(Spares)
	system := func() (*Config, *Config) { return &Config{Key: alice, Spares: sp}, &Config{Key: bob, Spares: sp} }
	named := func() (*Config, *Config) {
		return &Config{Key: alice, Rand: rand.Reader, Spares: sp}, &Config{Key: bob, Rand: rand.Reader, Spares: sp}
	}
	initiatorSpare, responderSpare := &sp.initiator, &sp.responder
	for i := range 8 {
		d, l := tcpPair(t)
		ccfg, scfg := system()
		if i%2 == 1 {
			ccfg, scfg = named()
		}
		ik, rk := initiatorSpare.next.Load(), responderSpare.next.Load()
		handshake(d, l, ccfg, scfg)
		// Each handshake takes the waiting keys (none before the first)
		// and leaves new ones.
		if k := initiatorSpare.next.Load(); k == nil || k == ik {
			t.Fatalf("handshake %d did not take and replace the initiator's spare", i)
		}
		if k := responderSpare.next.Load(); k == nil || k == rk {
			t.Fatalf("handshake %d did not take and replace the responder's spare", i)
		}
	}
	const concurrent = 16
	pairs := make([][2]net.Conn, concurrent)
	for i := range pairs {
		pairs[i][0], pairs[i][1] = tcpPair(t)
	}
	var wg sync.WaitGroup
	for _, p := range pairs {
		wg.Go(func() {
			ccfg, scfg := system()
			handshake(p[0], p[1], ccfg, scfg)
		})
	}
	wg.Wait()
	if want := 3 * (8 + concurrent); len(seen) != want {
		t.Fatalf("%d distinct shares, want %d", len(seen), want)
	}

	// Own randomness: the spares stay as they are.
	ik, rk := initiatorSpare.next.Load(), responderSpare.next.Load()
	rec := recordTranscript(t)
	ccfg, scfg := rec.clientConfig(), rec.serverConfig()
	ccfg.Spares, scfg.Spares = sp, sp
	d, l := tcpPair(t)
	if c, s := handshakeOver(t, d, l, ccfg, scfg, rec.responder.ID()); c.err != nil || s.err != nil {
		t.Fatal(c.err, s.err)
	}
	if initiatorSpare.next.Load() != ik || responderSpare.next.Load() != rk {
		t.Fatal("a handshake with its own Rand took or left a key made ahead of time")
	}
}

// TestSpareTakenOnce: a key made ahead of time serves one handshake; the
// next take makes a new one; a key older than spareMaxAge is not used.
func TestSpareTakenOnce(t *testing.T) {
	sp := new(Spares)
	responderSpare := &sp.responder
	sp.fillResponder()
	first := responderSpare.next.Load()
	if first == nil {
		t.Fatal("fill left no key")
	}
	sp.fillResponder() // already full: keeps the one it has
	if responderSpare.next.Load() != first {
		t.Fatal("fill replaced a waiting key")
	}
	k1, err := sp.responderKey(rand.Reader)
	if err != nil || k1 != first.key {
		t.Fatalf("take: %v; want the waiting key", err)
	}
	k2, err := sp.responderKey(rand.Reader)
	if err != nil || k2 == first.key || k2.Equal(first.key) {
		t.Fatalf("second take: %v; want a new key", err)
	}

	old, err := newResponderKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	responderSpare.next.Store(&made[ecdh.PrivateKey]{key: old, at: time.Now().Add(-spareMaxAge)})
	k3, err := sp.responderKey(rand.Reader)
	if err != nil || k3 == old || k3.Equal(old) {
		t.Fatalf("take after %v: %v; want a new key, not the stale one", spareMaxAge, err)
	}
	if responderSpare.next.Load() != nil {
		t.Fatal("the stale key is still waiting")
	}
}

// TestSparesOwned: keys made ahead of time live only in the Spares a
// Config names. Handshakes without one make their keys on demand, and
// handshakes using one pool neither take from nor fill another.
func TestSparesOwned(t *testing.T) {
	checkLeaks(t)
	alice, bob := testKey(t, "alice"), testKey(t, "bob")
	mine, other := new(Spares), new(Spares)
	other.fillInitiator()
	other.fillResponder()
	ik, rk := other.initiator.next.Load(), other.responder.next.Load()

	for _, sp := range []*Spares{nil, mine} {
		d, l := tcpPair(t)
		c, s := handshakeOver(t, d, l, &Config{Key: alice, Spares: sp}, &Config{Key: bob, Spares: sp}, bob.ID())
		if c.err != nil || s.err != nil {
			t.Fatal(c.err, s.err)
		}
	}
	if other.initiator.next.Load() != ik || other.responder.next.Load() != rk {
		t.Fatal("handshakes took or replaced keys in a Spares their Config does not name")
	}
	if mine.initiator.next.Load() == nil || mine.responder.next.Load() == nil {
		t.Fatal("handshakes did not leave keys in the Spares their Config names")
	}
}
