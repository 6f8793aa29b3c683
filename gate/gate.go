// Package gate bounds what the node's listener takes on, so that a flood of
// connections costs the node a fixed number of descriptors, a fixed amount
// of public-key work at a time, and never the sessions it already has
// (docs/limits.md).
//
// The one thing a reader must know: every accepted connection passes
// through a Gate, in three stages. A new connection waits for its first
// message, holding one of Conns slots. Once that message is accepted
// (decoded, not a replay: Replays) it takes one of Handshakes slots, which
// bound the public-key work in flight, until the handshake proves a peer.
// Then it is a session and is never evicted. When slots are full a
// newcomer evicts the oldest connection of the earliest stage that holds
// any, once it has had its grace (a few times what honest handshakes here
// take, so a burst of newcomers never cuts an honest one short); until
// then the newcomer waits. A session is never evicted for a newcomer.
// Over tor every connection comes from 127.0.0.1, so nothing here looks at
// where a connection comes from: the bound is global, and oldest-first is
// fair to every source alike.
package gate

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// Limits are a Gate's caps.
type Limits struct {
	// Conns is the most inbound connections open at once, in any stage.
	Conns int
	// Handshakes is the most handshakes past their first message at once:
	// the responder's public-key work in flight. It is below Conns so that
	// sessions always have room.
	Handshakes int
}

// Implementation constants: how the caps follow from the descriptor limit.
const (
	// connShare: inbound connections may use a quarter of the
	// descriptors. The rest is for the store's files, tor's control and
	// SOCKS connections, dials to peers and the local API.
	connShare = 4
	// handshakeShare: a quarter of the connections may be doing a
	// handshake's public-key work.
	handshakeShare = 4
	// maxConns: beyond this a bigger descriptor limit buys nothing; a node
	// has one session per peer.
	maxConns   = 16384
	minConns   = 8
	minHandsh  = 2
	maxHandsh  = 512
	fallbackFD = 1024 // when the limit cannot be read
)

// Implementation constants: how long a connection is safe from eviction
// in each stage. The grace is graceFactor times the moving average of how
// long the stage took for handshakes that proved a peer, within
// [minGrace, maxGrace]: milliseconds on loopback, a round trip or two
// over tor (about a second each). Only a proved peer's handshake feeds the
// average, so a flood cannot stretch the grace it is judged by. The first
// such handshake sets the average; until then firstEstimate (a tor round
// trip) stands for it.
const (
	graceFactor   = 4
	minGrace      = 500 * time.Millisecond
	maxGrace      = 5 * time.Second
	firstEstimate = time.Second
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

// The stages a connection goes through.
const (
	stageHello     = iota // waiting for its first message
	stageHandshake        // past it, doing the handshake's public-key work
	stageSession          // a proved peer
	stageGone             // left or evicted
)

// Gate admits connections under Limits. Its methods are safe for
// concurrent use; the zero value is not ready (use New).
type Gate struct {
	lim Limits
	now func() time.Time // time.Now; tests set it

	mu sync.Mutex
	// Guarded by mu. Invariant: conns = hello.Len() + hs.Len() + sessions,
	// and a *Ticket is in hello or hs exactly while its stage says so.
	hello, hs *list.List // of *Ticket, oldest first
	conns     int
	sessions  int
	typical   [2]time.Duration // moving average of each stage's duration, for proved peers
	sampled   bool             // a proved peer's handshake has set typical
	evicted   uint64           // connections evicted for room, ever
	refused   uint64           // connections refused because every slot is a session
	freed     chan struct{}    // closed and replaced whenever a slot frees
}

// New returns a gate with the given caps (at least one of each).
func New(lim Limits) *Gate {
	lim.Conns = max(lim.Conns, 1)
	lim.Handshakes = min(max(lim.Handshakes, 1), lim.Conns)
	return &Gate{lim: lim, now: time.Now, hello: list.New(), hs: list.New(),
		typical: [2]time.Duration{firstEstimate, firstEstimate}, freed: make(chan struct{})}
}

// Limits returns the gate's caps.
func (g *Gate) Limits() Limits { return g.lim }

// Ticket is one admitted connection. Its owner calls Heard when the first
// message is accepted, Promote once the handshake has proved the peer, and
// Leave when the connection is closed.
type Ticket struct {
	g     *Gate
	evict func() // ends the connection's handshake; called with g.mu held, must not block
	// Guarded by g.mu.
	stage int
	elem  *list.Element // in g.hello or g.hs while in those stages
	since [2]time.Time  // when it entered each of stageHello and stageHandshake
}

// Enter admits a new connection (stage: waiting for its first message).
// At the Conns cap it evicts the oldest connection still waiting for its
// first message once that one has had its grace, or if there is none, the
// oldest handshake once it has; it waits for that (or a free slot) if need
// be. It returns nil, and the caller closes the connection, when every
// slot holds a session or ctx ends first. evict is called at most once,
// with the gate's lock held, so it must only cancel and never block.
// While the one accept loop waits here, newcomers queue in the kernel, in
// arrival order.
func (g *Gate) Enter(ctx context.Context, evict func()) *Ticket {
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.conns >= g.lim.Conns {
		if g.sessions == g.conns {
			g.refused++
			return nil
		}
		// The earliest stage gives way first, and a handshake only when no
		// connection is waiting for its first message: past that message
		// it is bounded by Handshakes already.
		from, stage := g.hello, stageHello
		if from.Len() == 0 {
			from, stage = g.hs, stageHandshake
		}
		wait := time.Duration(-1)
		if !g.evictFrom(from, stage, &wait) && !g.wait(ctx, wait) {
			return nil
		}
	}
	t := &Ticket{g: g, evict: evict}
	g.enter(t, stageHello)
	g.conns++
	return t
}

// Heard moves the connection to the handshake stage once its first
// message is accepted, when one of the Handshakes slots is free or can be
// had by evicting the oldest handshake that has had its grace; meanwhile
// it waits, still in the first stage. It reports false if the connection
// was evicted or ctx ended first (the handshake then stops).
func (t *Ticket) Heard(ctx context.Context) bool {
	g := t.g
	g.mu.Lock()
	defer g.mu.Unlock()
	for {
		if t.stage != stageHello {
			return false
		}
		if g.hs.Len() < g.lim.Handshakes {
			break
		}
		wait := time.Duration(-1)
		if g.evictFrom(g.hs, stageHandshake, &wait) {
			continue
		}
		if !g.wait(ctx, wait) {
			return false
		}
	}
	g.hello.Remove(t.elem)
	g.enter(t, stageHandshake)
	return true
}

// Promote turns a handshake into a session, which is never evicted. It
// reports false if the handshake was evicted meanwhile (the caller closes
// the connection).
func (t *Ticket) Promote() bool {
	g := t.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.stage != stageHandshake {
		return false
	}
	g.hs.Remove(t.elem)
	t.elem, t.stage = nil, stageSession
	g.sessions++
	now := g.now()
	took := [2]time.Duration{t.since[1].Sub(t.since[0]), now.Sub(t.since[1])}
	for i := range took {
		if !g.sampled {
			g.typical[i] = took[i]
		} else {
			g.typical[i] += (took[i] - g.typical[i]) / 8 // 1/8 weight to the newest
		}
	}
	g.sampled = true
	g.release()
	return true
}

// Leave releases the ticket's slot; it may be called more than once and
// after an eviction.
func (t *Ticket) Leave() {
	g := t.g
	g.mu.Lock()
	defer g.mu.Unlock()
	switch t.stage {
	case stageGone:
		return
	case stageHello:
		g.hello.Remove(t.elem)
	case stageHandshake:
		g.hs.Remove(t.elem)
	case stageSession:
		g.sessions--
	}
	t.elem, t.stage = nil, stageGone
	g.conns--
	g.release()
}

// enter puts t at the back of stage's list. g.mu is held.
func (g *Gate) enter(t *Ticket, stage int) {
	t.stage, t.since[stage] = stage, g.now()
	if stage == stageHello {
		t.elem = g.hello.PushBack(t)
	} else {
		t.elem = g.hs.PushBack(t)
	}
}

// evictFrom evicts the oldest connection of l (stage) if it has had its
// grace, and reports whether it did; if not, it lowers *wait to how long
// until it will have (a negative *wait means no bound yet). g.mu is held.
func (g *Gate) evictFrom(l *list.List, stage int, wait *time.Duration) bool {
	f := l.Front()
	if f == nil {
		return false
	}
	old := f.Value.(*Ticket)
	grace := min(max(graceFactor*g.typical[stage], minGrace), maxGrace)
	left := old.since[stage].Add(grace).Sub(g.now())
	if left > 0 {
		if *wait < 0 || left < *wait {
			*wait = left
		}
		return false
	}
	l.Remove(f)
	old.elem, old.stage = nil, stageGone
	g.conns--
	g.evicted++
	old.evict()
	return true
}

// wait releases g.mu until a slot frees, d passes (d < 0: no bound) or
// ctx ends, and reports false in the last case. g.mu is held on return.
func (g *Gate) wait(ctx context.Context, d time.Duration) bool {
	freed := g.freed
	g.mu.Unlock()
	var timer <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
	case <-freed:
	case <-timer:
	}
	g.mu.Lock()
	return ctx.Err() == nil
}

// release wakes everyone waiting for a slot. g.mu is held.
func (g *Gate) release() {
	close(g.freed)
	g.freed = make(chan struct{})
}

// Counts is what the gate holds now and has done, for status.
type Counts struct {
	Conns      int // inbound connections open, in every stage
	Handshakes int // of them, past their first message and not yet proved
	Sessions   int
	Evicted    uint64
	Refused    uint64
}

// Counts returns the gate's current counts.
func (g *Gate) Counts() Counts {
	g.mu.Lock()
	defer g.mu.Unlock()
	return Counts{Conns: g.conns, Handshakes: g.hs.Len(), Sessions: g.sessions, Evicted: g.evicted, Refused: g.refused}
}
