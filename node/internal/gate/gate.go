// Package gate bounds what the node's listener takes on, so that a flood of
// connections costs the node a fixed amount of descriptors, memory and CPU
// and never the sessions it already has (docs/limits.md).
//
// The one thing a reader must know: every accepted connection passes
// through a Gate. While it handshakes it holds one of a few handshake
// slots; when the handshake proves a peer it is promoted to a session and
// can no longer be evicted. When the slots are full a new connection
// evicts the handshake that has waited longest, never a session: an honest
// initiator finishes within a round trip, so the oldest handshake is the
// one least likely to be honest. Over tor every connection comes from
// 127.0.0.1, so nothing here looks at where a connection comes from: the
// bound is global, and oldest-first is fair to everyone.
package gate

import (
	"container/list"
	"sync"
)

// Limits are a Gate's caps.
type Limits struct {
	// Conns is the most connections open at once, handshaking or in a
	// session. A connection beyond it is closed at once unless a handshake
	// can be evicted for it.
	Conns int
	// Handshakes is the most handshakes in progress at once; it is below
	// Conns so that sessions always have room.
	Handshakes int
}

// Implementation constants: how the caps follow from the descriptor limit.
const (
	// connShare: connections may use a quarter of the descriptors. The
	// rest is for the store's files, tor's control and SOCKS connections,
	// dials to peers and the local API.
	connShare = 4
	// handshakeShare: a quarter of the connections may be handshakes.
	handshakeShare = 4
	// maxConns: beyond this a bigger descriptor limit buys nothing; a node
	// has one session per peer.
	maxConns   = 16384
	minConns   = 8
	minHandsh  = 2
	maxHandsh  = 512
	fallbackFD = 1024 // when the limit cannot be read
)

// LimitsFor derives the caps from the process's descriptor limit (the soft
// RLIMIT_NOFILE after RaiseFDLimit), well below it so that reaching a cap
// never makes accept fail for lack of descriptors.
func LimitsFor(fds int) Limits {
	if fds <= 0 {
		fds = fallbackFD
	}
	conns := min(max(fds/connShare, minConns), maxConns)
	hs := min(max(conns/handshakeShare, minHandsh), maxHandsh)
	return Limits{Conns: conns, Handshakes: hs}
}

// Gate admits connections under Limits. Its methods are safe for
// concurrent use; the zero value is not ready (use New).
type Gate struct {
	lim Limits
	mu  sync.Mutex
	// Guarded by mu. Invariant: conns = hs.Len() + sessions.
	conns    int
	sessions int
	hs       *list.List // of *Ticket, oldest first: the handshakes in progress
	evicted  uint64     // handshakes evicted for room, ever
	refused  uint64     // connections refused because every slot is a session
}

// New returns a gate with the given caps (at least one connection and one
// handshake).
func New(lim Limits) *Gate {
	lim.Conns = max(lim.Conns, 1)
	lim.Handshakes = min(max(lim.Handshakes, 1), lim.Conns)
	return &Gate{lim: lim, hs: list.New()}
}

// Limits returns the gate's caps.
func (g *Gate) Limits() Limits { return g.lim }

// Ticket is one admitted connection. Its owner calls Promote once the
// handshake has proved the peer and Leave when the connection is closed.
type Ticket struct {
	g     *Gate
	evict func()        // ends the handshake; called with g.mu held, must not block
	elem  *list.Element // in g.hs while handshaking; nil once promoted or left
	done  bool
}

// Enter admits a new connection for its handshake, or returns nil if it
// must be closed at once. evict is called (at most once, with the gate's
// lock held, so it must only cancel and never block) if a newer connection
// needs the slot before the handshake ends.
func (g *Gate) Enter(evict func()) *Ticket {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.hs.Len() >= g.lim.Handshakes || g.conns >= g.lim.Conns {
		if g.hs.Len() == 0 {
			// Every connection is a session: those are never given up
			// for a newcomer.
			g.refused++
			return nil
		}
		g.evictOldest()
	}
	t := &Ticket{g: g, evict: evict}
	t.elem = g.hs.PushBack(t)
	g.conns++
	return t
}

// evictOldest ends the handshake that has waited longest. g.mu is held.
func (g *Gate) evictOldest() {
	old := g.hs.Remove(g.hs.Front()).(*Ticket)
	old.elem = nil
	old.done = true
	g.conns--
	g.evicted++
	old.evict()
}

// Promote turns a handshake into a session: it leaves the handshake slots
// and is never evicted. It reports false if the handshake was evicted
// meanwhile (the caller closes the connection and forgets it).
func (t *Ticket) Promote() bool {
	g := t.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.done || t.elem == nil {
		return false
	}
	g.hs.Remove(t.elem)
	t.elem = nil
	g.sessions++
	return true
}

// Leave releases the ticket's slot; it may be called more than once and
// after an eviction.
func (t *Ticket) Leave() {
	g := t.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.done {
		return
	}
	t.done = true
	if t.elem != nil {
		g.hs.Remove(t.elem)
		t.elem = nil
	} else {
		g.sessions--
	}
	g.conns--
}

// Counts is what the gate holds now and has done, for status.
type Counts struct {
	Conns, Handshakes, Sessions int
	Evicted, Refused            uint64
}

// Counts returns the gate's current counts.
func (g *Gate) Counts() Counts {
	g.mu.Lock()
	defer g.mu.Unlock()
	return Counts{Conns: g.conns, Handshakes: g.hs.Len(), Sessions: g.sessions, Evicted: g.evicted, Refused: g.refused}
}
