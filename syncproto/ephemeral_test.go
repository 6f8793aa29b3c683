package syncproto

import (
	"sync"
	"testing"
)

// TestEphemeralKeysFresh: with keys made ahead of time, every handshake
// still puts fresh ephemeral shares on the wire, sequential or concurrent,
// on both sides; and a handshake with its own Rand neither takes nor leaves
// a key made ahead of time.
func TestEphemeralKeysFresh(t *testing.T) {
	checkLeaks(t)
	alice, bob := testKey(t, "alice"), testKey(t, "bob")
	seen := map[string]string{}
	var mu sync.Mutex
	handshake := func() {
		d, l := tcpPair(t)
		fc, sfc := &flightConn{Conn: d}, &flightConn{Conn: l}
		c, s := handshakeOver(t, fc, sfc, &Config{Key: alice}, &Config{Key: bob}, bob.ID())
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

	for range 8 {
		handshake()
	}
	if initiatorSpare.next.Load() == nil || responderSpare.next.Load() == nil {
		t.Fatal("no key was made ahead of time for the next handshake")
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(handshake)
	}
	wg.Wait()
	if want := 3 * 24; len(seen) != want {
		t.Fatalf("%d distinct shares, want %d", len(seen), want)
	}

	// Own randomness: the spares stay as they are.
	handshake()
	ik, rk := initiatorSpare.next.Load(), responderSpare.next.Load()
	rec := recordTranscript(t)
	d, l := tcpPair(t)
	if c, s := handshakeOver(t, d, l, rec.clientConfig(), rec.serverConfig(), rec.responder.ID()); c.err != nil || s.err != nil {
		t.Fatal(c.err, s.err)
	}
	if initiatorSpare.next.Load() != ik || responderSpare.next.Load() != rk {
		t.Fatal("a handshake with its own Rand took or left a key made ahead of time")
	}
}

// TestSpareTakenOnce: a key made ahead of time serves one handshake; the
// next take makes a new one.
func TestSpareTakenOnce(t *testing.T) {
	cfg := &Config{}
	responderSpare.next.Store(nil)
	responderSpare.fill(cfg)
	first := responderSpare.next.Load()
	if first == nil {
		t.Fatal("fill left no key")
	}
	responderSpare.fill(cfg) // already full: keeps the one it has
	if responderSpare.next.Load() != first {
		t.Fatal("fill replaced a waiting key")
	}
	k1, err := responderSpare.take(cfg)
	if err != nil || k1 != first {
		t.Fatalf("take: %v, %v; want the waiting key", k1, err)
	}
	k2, err := responderSpare.take(cfg)
	if err != nil || k2 == first || k2.Equal(first) {
		t.Fatalf("second take: %v; want a new key", err)
	}
}
