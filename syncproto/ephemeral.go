package syncproto

import (
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/rand"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// Spares holds ephemeral keys made ahead of time (docs/protocol.md §3.1)
// for the handshakes whose Config names it: a node makes one and shares it
// among all its handshakes, dialed and accepted.
//
// Each side of a handshake has a stretch in which it only waits for the
// other: the initiator while the responder decodes message 1 and
// encapsulates, the responder while the initiator checks message 3 and
// signs. Over Tor that stretch is most of a second. Making the next
// handshake's ephemeral keys there takes their generation off the path
// between "connected" and the first message (about 100 µs for the
// initiator's pair, 40 µs for the responder's share), which is the latency
// a user waits for.
//
// A key made ahead of time is used by exactly one handshake and dropped
// with it, so past sessions keep forward secrecy. What changes is that the
// next session's secret exists before that session does: a copy of this
// process's memory taken meanwhile would let a passive observer decrypt
// that one session. So a spare is used only within spareMaxAge of being
// made, which covers the handshakes that follow each other closely (a node
// dialing its peers, redials, the benchmark); an idle node makes its next
// keys when it needs them, and the spare it left behind is never used.
//
// Spares holds at most one key per role. Whoever swaps it out owns it, so
// no key serves two handshakes, whatever the number of concurrent ones.
// The zero value is ready to use, and a Spares is safe for concurrent use.
// Spare keys come from crypto/rand: a Config whose Rand is another source
// neither takes nor leaves keys here, so recorded transcripts stay
// deterministic.
type Spares struct {
	initiator spare[initiatorKeys]
	responder spare[ecdh.PrivateKey]
}

// initiatorKeys returns the keys for one initiator: the spare if there is
// a recent one, else new ones from r. A nil Spares always makes new ones.
func (s *Spares) initiatorKeys(r io.Reader) (*initiatorKeys, error) {
	if s != nil {
		if k := s.initiator.take(); k != nil {
			return k, nil
		}
	}
	return newInitiatorKeys(r)
}

// responderKey is initiatorKeys for the responder's one X25519 key.
func (s *Spares) responderKey(r io.Reader) (*ecdh.PrivateKey, error) {
	if s != nil {
		if k := s.responder.take(); k != nil {
			return k, nil
		}
	}
	return newResponderKey(r)
}

// fillInitiator makes the next initiator's keys unless some are waiting.
func (s *Spares) fillInitiator() {
	if s != nil {
		s.initiator.fill(newInitiatorKeys)
	}
}

// fillResponder makes the next responder's key unless one is waiting.
func (s *Spares) fillResponder() {
	if s != nil {
		s.responder.fill(newResponderKey)
	}
}

// spareMaxAge is how long a key made ahead of time stays usable.
const spareMaxAge = 30 * time.Second

// spare holds at most one ephemeral key of one kind, made ahead of time
// from crypto/rand. The zero value is empty.
type spare[K any] struct {
	next atomic.Pointer[made[K]]
}

// young reports whether a spare made at t may still be used. Both clocks
// must agree: the monotonic one stops while the machine is suspended, when
// a hibernation image is just the memory copy the expiry guards against.
func young(t time.Time) bool {
	now := time.Now()
	return now.Sub(t) < spareMaxAge && now.Round(0).Sub(t.Round(0)) < spareMaxAge
}

// made is a spare key and when it was made.
type made[K any] struct {
	key *K
	at  time.Time
}

// take removes the waiting key and returns it if it is recent enough, or
// returns nil.
func (s *spare[K]) take() *K {
	if m := s.next.Swap(nil); m != nil && young(m.at) {
		return m.key
	}
	return nil
}

// fill makes the spare unless there is one already: at most one key
// generation per handshake, so a handshake's work stays bounded.
func (s *spare[K]) fill(gen func(io.Reader) (*K, error)) {
	if s.next.Load() != nil {
		return
	}
	k, err := gen(rand.Reader)
	if err != nil {
		return // the next handshake makes its own and reports the failure
	}
	s.next.CompareAndSwap(nil, &made[K]{key: k, at: time.Now()})
}

// initiatorKeys is the initiator's ephemeral X25519 and ML-KEM-768 keys.
type initiatorKeys struct {
	x  *ecdh.PrivateKey
	dk *mlkem.DecapsulationKey768
}

func newInitiatorKeys(r io.Reader) (*initiatorKeys, error) {
	var seed [32 + mlkem.SeedSize]byte
	defer clear(seed[:])
	if _, err := io.ReadFull(r, seed[:]); err != nil {
		return nil, fmt.Errorf("reading randomness: %w", err)
	}
	x, err := ecdh.X25519().NewPrivateKey(seed[:32])
	if err != nil {
		return nil, fmt.Errorf("bug: %w", err)
	}
	dk, err := mlkem.NewDecapsulationKey768(seed[32:])
	if err != nil {
		return nil, fmt.Errorf("bug: %w", err)
	}
	return &initiatorKeys{x: x, dk: dk}, nil
}

// newResponderKey is the responder's ephemeral X25519 key.
func newResponderKey(r io.Reader) (*ecdh.PrivateKey, error) {
	var seed [32]byte
	defer clear(seed[:])
	if _, err := io.ReadFull(r, seed[:]); err != nil {
		return nil, fmt.Errorf("reading randomness: %w", err)
	}
	k, err := ecdh.X25519().NewPrivateKey(seed[:])
	if err != nil {
		return nil, fmt.Errorf("bug: %w", err)
	}
	return k, nil
}
