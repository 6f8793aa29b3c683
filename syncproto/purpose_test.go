package syncproto

import (
	"errors"
	"io"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/ghostwire/ghostwire/identity"
)

// TestPurposeAgreed: the purpose the initiator asks for is the one both
// channels report, with the defaults (sync) and with pairing.
func TestPurposeAgreed(t *testing.T) {
	checkLeaks(t)
	for _, tc := range []struct {
		name   string
		ask    Purpose
		accept []Purpose
		want   Purpose
	}{
		{"defaults", 0, nil, PurposeSync},
		{"sync named", PurposeSync, []Purpose{PurposeSync}, PurposeSync},
		{"pairing", PurposePairing, []Purpose{PurposeSync, PurposePairing}, PurposePairing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, s := establish(t, func(c, s *Config) { c.Purpose, s.Accept = tc.ask, tc.accept })
			if c.Purpose() != tc.want || s.Purpose() != tc.want {
				t.Fatalf("initiator's purpose %v, responder's %v; want %v", c.Purpose(), s.Purpose(), tc.want)
			}
		})
	}
}

// TestPurposeRefused: an initiator asking for a purpose the responder does
// not accept gets no session. The responder reports a *PurposeError at
// message 1 and sends nothing; the initiator sees the close while waiting
// for message 2, exactly as for a version mismatch.
func TestPurposeRefused(t *testing.T) {
	checkLeaks(t)
	for _, tc := range []struct {
		name   string
		ask    Purpose
		accept []Purpose
	}{
		{"pairing asked, responder syncs only (the default)", PurposePairing, nil},
		{"sync asked, responder pairs only", PurposeSync, []Purpose{PurposePairing}},
		{"unknown purpose", 9, []Purpose{PurposeSync, PurposePairing}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, l := tcpPair(t)
			c, s := handshakeOver(t, d, l,
				&Config{Key: testKey(t, "alice"), Purpose: tc.ask},
				&Config{Key: testKey(t, "bob"), Accept: tc.accept}, testKey(t, "bob").ID())
			if c.c != nil || s.c != nil {
				t.Fatal("a session was established for a purpose the responder does not accept")
			}
			var pe *PurposeError
			if !errors.As(s.err, &pe) || stageOf(t, s.err) != StageInitiatorHello {
				t.Fatalf("responder: %v, want a *PurposeError at %q", s.err, StageInitiatorHello)
			}
			want := tc.accept
			if want == nil {
				want = []Purpose{PurposeSync}
			}
			if pe.Got != tc.ask || !slices.Equal(pe.Accept, want) {
				t.Errorf("PurposeError{Got: %v, Accept: %v}, want {%v, %v}", pe.Got, pe.Accept, tc.ask, want)
			}
			if stageOf(t, c.err) != StageResponderHello || !errors.Is(c.err, io.ErrUnexpectedEOF) {
				t.Fatalf("initiator: %v, want the connection closed at %q", c.err, StageResponderHello)
			}
		})
	}
}

// TestPurposeBound: an attacker on the wire who rewrites the purpose in
// message 1, to one the responder also accepts, gets no session: the
// purpose is in H2, so the initiator's check of message 3 fails.
func TestPurposeBound(t *testing.T) {
	checkLeaks(t)
	for _, tc := range []struct{ ask, rewrite Purpose }{
		{PurposeSync, PurposePairing},
		{PurposePairing, PurposeSync},
	} {
		t.Run(tc.ask.String()+" rewritten to "+tc.rewrite.String(), func(t *testing.T) {
			var rewritten atomic.Bool
			edit := func(dir, i int, f []byte) [][]byte {
				if dir != 0 || i != 0 {
					return [][]byte{f}
				}
				m, err := decodeInitiatorHello(f[frameHeaderSize:])
				if err != nil || Purpose(m.Purpose) != tc.ask {
					t.Errorf("message 1 on the wire: %v, purpose %d; want purpose %v", err, m.Purpose, tc.ask)
					return [][]byte{f}
				}
				m.Purpose = uint(tc.rewrite)
				rewritten.Store(true)
				return [][]byte{frameOf(t, m)}
			}
			d, l := relayed(t, edit, noCut)
			both := []Purpose{PurposeSync, PurposePairing}
			c, s := handshakeOver(t, d, l,
				&Config{Key: testKey(t, "alice"), Purpose: tc.ask},
				&Config{Key: testKey(t, "bob"), Accept: both}, testKey(t, "bob").ID())
			if !rewritten.Load() {
				t.Fatal("the relay did not see message 1")
			}
			if c.c != nil || s.c != nil {
				t.Fatal("a session was established after the purpose was rewritten")
			}
			if stageOf(t, c.err) != StageResponderAuth || !errors.Is(c.err, errAuth) {
				t.Fatalf("initiator: %v, want message 3 to fail authentication", c.err)
			}
		})
	}
}

// TestPairingDialsAnyone: a pairing initiator may dial an address whose
// identity it does not know (expected zero) and learns who answered; a
// sync initiator may not, since nothing after its handshake would check
// who answered.
func TestPairingDialsAnyone(t *testing.T) {
	checkLeaks(t)
	both := []Purpose{PurposeSync, PurposePairing}
	d, l := tcpPair(t)
	c, s := handshakeOver(t, d, l,
		&Config{Key: testKey(t, "alice"), Purpose: PurposePairing},
		&Config{Key: testKey(t, "bob"), Accept: both}, identity.ID{})
	if c.err != nil || s.err != nil {
		t.Fatalf("pairing with no expected identity: initiator %v, responder %v", c.err, s.err)
	}
	if c.c.Peer() != testKey(t, "bob").ID() || s.c.Peer() != testKey(t, "alice").ID() {
		t.Fatalf("peers %s and %s, want bob and alice", c.c.Peer().Short(), s.c.Peer().Short())
	}
	c.c.Close()
	s.c.Close()

	d, l = tcpPair(t)
	c, s = handshakeOver(t, d, l,
		&Config{Key: testKey(t, "alice"), Purpose: PurposeSync},
		&Config{Key: testKey(t, "bob"), Accept: both}, identity.ID{})
	if c.c != nil || stageOf(t, c.err) != StageSetup {
		t.Fatalf("sync with no expected identity: %v, want a refusal at %q", c.err, StageSetup)
	}
	if s.c != nil {
		s.c.Close()
	}
}
