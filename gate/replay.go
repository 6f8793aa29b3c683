package gate

import (
	"crypto/sha256"
	"sync"
)

// replayMemory is how many first messages Replays remembers: 32,768
// digests of 16 bytes, about 2 MiB with the map, whatever arrives.
const replayMemory = 1 << 15

// Replays remembers the first messages (handshake message 1) a responder
// has recently seen, so that a replayed one is refused before any
// public-key work. An honest initiator makes fresh ephemeral keys for
// every handshake, so its first message never repeats; a replay could
// never become a session anyway (docs/protocol.md §3.1), this only makes
// it cheap. What it does not stop: a first message altered in any byte
// (a new X25519 share costs nothing to make) is new to it, and costs the
// responder one handshake's work within the gate's caps; tor's
// proof-of-work defence is what prices those (docs/limits.md).
//
// Its methods are safe for concurrent use; the zero value is not ready
// (use NewReplays).
type Replays struct {
	mu   sync.Mutex
	seen map[[16]byte]struct{} // guarded by mu, as are ring and next
	ring [][16]byte            // the digests in seen, oldest at next once full
	next int
}

// NewReplays returns an empty memory of first messages.
func NewReplays() *Replays {
	return &Replays{seen: make(map[[16]byte]struct{}, replayMemory), ring: make([][16]byte, 0, replayMemory)}
}

// Seen reports whether msg was seen before, and remembers it if not
// (forgetting the oldest it remembers when full).
func (r *Replays) Seen(msg []byte) bool {
	sum := sha256.Sum256(msg)
	var d [16]byte
	copy(d[:], sum[:])
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.seen[d]; ok {
		return true
	}
	if len(r.ring) < replayMemory {
		r.ring = append(r.ring, d)
	} else {
		delete(r.seen, r.ring[r.next])
		r.ring[r.next] = d
		r.next = (r.next + 1) % replayMemory
	}
	r.seen[d] = struct{}{}
	return false
}
