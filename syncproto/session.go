package syncproto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recon"
	"github.com/ghostwire/ghostwire/wire"
)

// Sync session constants, docs/protocol.md §10.
const (
	// MaxScopes bounds the scopes one session reconciles.
	MaxScopes = 256
	// MaxScopeItems is the largest scope a session reconciles (recon's
	// Limits.MaxItems). One scope's messages of one round, at most a
	// manifest of 32 bytes per ID, then always fit in one round of
	// maxRoundBytes. A larger scope is left out
	// of the session (not offered, or refused) and the others go on; it is
	// counted in SessionStats.ScopesTooLarge.
	MaxScopeItems = 1 << 21
	// maxRoundBytes bounds one round of the peer's frames, and so what a
	// peer can make us hold before any of it is checked: a byte per ID on
	// top of the ID itself, and a frame's worth of slack (67 MiB). A side
	// whose scopes' messages would make a larger round holds some scopes
	// back to its next round (§10.3).
	maxRoundBytes = MaxScopeItems*(recon.IDSize+1) + MaxPayload
	// maxRounds bounds the reconciliation rounds per session; recon needs
	// at most three. Rounds that carry scopes held back are allowed on top,
	// two per scope: each such round carries at least one held-back batch,
	// and only a scope's largest messages (a manifest, a manifest result)
	// make a round overflow in practice.
	maxRounds = 8
	// sessionOverhead is room for the session message's own fields around
	// its payload within one channel frame.
	sessionOverhead = 64
	// frameBytes is what a session frame costs on the wire before the
	// AEAD: the length prefix and the content-type byte (§2, §4.2).
	frameBytes = frameHeaderSize + 1

	msgOpen  = 1 // initiator: offered scopes and its first round
	msgRecon = 2 // one side's round (several frames; the last has End)
	msgItems = 3 // items of one scope
	msgAck   = 4 // items frames stored durably, and the items refused
	msgDone  = 5 // this side has pushed everything reconciliation found
)

// SyncStore is what a session needs from the node. The node, not the
// session, decides what a peer may see and what it may send.
type SyncStore interface {
	// Scopes lists the scopes this side offers to peer.
	Scopes(peer identity.ID) []item.Scope
	// Set returns the IDs held in a scope; it must not change while the
	// session reconciles it.
	Set(s item.Scope) (recon.Set, error)
	// Item returns the canonical bytes of item id to send in scope s, or
	// nil if it is not (or no longer) an item of s: a session sends an item
	// only in a scope it belongs to.
	Item(s item.Scope, id recon.ID) []byte
	// Accept checks the items that peer sent in scope s and stores durably
	// those it admits; the session then acknowledges the frame. It returns
	// the IDs of the items it refused (forged, misplaced, from the future,
	// over a limit): each costs the peer that item, not the session, and
	// the peer learns which in the acknowledgement (§10.3). An error is a
	// failure of this side (the store) and ends the session.
	Accept(peer identity.ID, s item.Scope, items [][]byte) (refused []recon.ID, err error)
	// Acked records that peer stored the items stored durably and refused
	// the items refused.
	Acked(peer identity.ID, stored, refused []recon.ID)
	// Synced is called once when reconciliation and the transfer it
	// called for are complete in both directions.
	Synced(peer identity.ID)
}

// sessionMsg is a session frame's payload, §10.2.
type sessionMsg struct {
	Type     uint         `cbor:"1,keyasint"`
	Scopes   [][]byte     `cbor:"2,keyasint,omitempty"`
	Recon    []reconEntry `cbor:"3,keyasint,omitempty"`
	End      bool         `cbor:"4,keyasint,omitempty"`
	Scope    uint         `cbor:"5,keyasint,omitempty"`
	Items    [][]byte     `cbor:"6,keyasint,omitempty"`
	Refused  []uint       `cbor:"8,keyasint,omitempty"`
	Done     bool         `cbor:"9,keyasint,omitempty"`  // on a round: also msgDone
	More     bool         `cbor:"10,keyasint,omitempty"` // on a round: scopes were held back, answer with a round
	Acked    uint64       `cbor:"11,keyasint,omitempty"` // ack: items frames received and stored so far
	Rejected [][]byte     `cbor:"12,keyasint,omitempty"` // ack: IDs of items in the frames it acknowledges that were not stored
}

type reconEntry struct {
	_     struct{} `cbor:",toarray"`
	Scope uint
	Msg   []byte
}

// batch is one scope's messages of one round. They travel in the same
// round, since the scope's state machine reads them as one.
type batch []reconEntry

// SessionStats counts what a session sent and received: session frames
// after framing, before the AEAD (§10.5), and reconciliation rounds.
type SessionStats struct {
	BytesSent, BytesReceived int
	FramesSent               int
	ReconRounds              int // rounds this side sent
	// ScopesTooLarge counts scopes this side left out because they hold
	// more than MaxScopeItems IDs.
	ScopesTooLarge int
}

// ErrSession is wrapped by every error about a peer's session messages.
var ErrSession = errors.New("syncproto: sync protocol violation")

// ErrNotShared is Push's error for a scope the session does not reconcile
// (the peer refused it, or it was never offered): a new session would not
// carry the items either.
var ErrNotShared = errors.New("syncproto: scope not shared in this session")

func sessionErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrSession, fmt.Sprintf(format, a...))
}

// reconciler is what recon.Initiator and recon.Responder both are.
type reconciler interface {
	Next(in []recon.Message) ([]recon.Message, bool, error)
	Result() recon.Result
}

// scopeState is one scope's reconciliation on this side.
type scopeState struct {
	id     item.Scope
	rec    reconciler // nil for a scope the responder refuses
	active bool       // reconciling
	done   bool       // reconciliation finished here
	inbox  []recon.Message
}

// Session runs the sync protocol (§10) on an established channel. The
// dialer is the initiator. One goroutine calls Run; Push may be called from
// any goroutine while Run runs.
type Session struct {
	c         *Conn
	st        SyncStore
	peer      identity.ID
	initiator bool
	limits    recon.Limits
	maxRound  int // maxRoundBytes; tests lower it with limits.MaxItems

	// deferred are scopes' messages held back from this side's last round
	// because the round was full; they lead the next one. Run's goroutine
	// only.
	deferred []batch

	// scopes is fixed once the open exchange is over (opened closed).
	scopes []*scopeState
	index  map[item.Scope]uint
	// started is set (by Run's goroutine only) once the scope list exists;
	// opened is closed once it is final (on the initiator, after the
	// responder's refusals), which is when Push may read it.
	started bool
	opened  chan struct{}
	ended   chan struct{} // closed when Run returns

	// Run's goroutine reads and never writes. A reader blocked in a write
	// while its peer's is blocked too would stop both for good once pushes
	// fill the transport both ways. Run queues its rounds, dones and
	// pushes for the writer goroutine it owns (writeLoop), which writes
	// them in order, acknowledgements first.
	qmu   sync.Mutex
	queue []*outJob
	live  []*outJob // from Push: after queue, once liveOK
	// liveOK is closed once live pushes may go: on the initiator with
	// opened, on the responder once its answer to the open is queued (the
	// initiator takes no items before it has read the refusals).
	liveOK     chan struct{}
	ackOwed    uint64        // items frames received and stored
	rejectOwed []rejection   // items refused in frames not yet acknowledged, in frame order
	wake       chan struct{} // capacity 1: queue or ackOwed changed
	quit       chan struct{} // closed when Run stops the writer
	doneQueued bool          // Run's goroutine only

	// wmu serialises frames and is held while one is written, which can
	// take as long as the peer takes to read; Run's goroutine never takes
	// it. mu guards the fields below and is never held while writing.
	wmu   sync.Mutex
	mu    sync.Mutex
	stats SessionStats
	// pushed holds the IDs of every items frame sent and not yet
	// acknowledged, oldest first: frames acked+1 … acked+len(pushed).
	pushed [][]recon.ID
	acked  uint64
	done   struct{ sent, received, synced bool }
}

// rejection is the items refused in one items frame received: the frame's
// number in this session (1 for the first) and their IDs.
type rejection struct {
	frame uint64
	ids   []recon.ID
}

// maxRejectedPerAck bounds the IDs one acknowledgement lists, so that it
// fits a frame however many frames it answers; more wait for the next.
// One frame's refusals always fit: an item that decodes is over 128 bytes,
// so a frame holds fewer than MaxPayload/128 of them.
const maxRejectedPerAck = (MaxPayload - sessionOverhead) / (recon.IDSize + 2)

// outJob is one piece of output for the writer: a round (or a bare done),
// or a push of the items with these IDs in scope sc.
type outJob struct {
	frames []sessionMsg
	done   bool // the frames say done: done.sent once written
	sc     item.Scope
	ids    []recon.ID
}

// NewSession prepares a session over c; Run starts it.
func NewSession(c *Conn, st SyncStore, initiator bool) *Session {
	return &Session{c: c, st: st, peer: c.Peer(), initiator: initiator,
		limits:   recon.Limits{MaxMessage: MaxPayload - sessionOverhead - 16, MaxItems: MaxScopeItems},
		maxRound: maxRoundBytes,
		index:    map[item.Scope]uint{}, opened: make(chan struct{}), liveOK: make(chan struct{}), ended: make(chan struct{}),
		wake: make(chan struct{}, 1), quit: make(chan struct{})}
}

// Stats returns the counters so far.
func (s *Session) Stats() SessionStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Run reconciles, transfers, then serves pushes until ctx ends or the peer
// closes. It closes the channel when it returns. A clean close by the peer
// returns nil.
func (s *Session) Run(ctx context.Context) error {
	defer close(s.ended)
	stop := context.AfterFunc(ctx, func() { s.c.Close() })
	defer stop()
	wdone := make(chan error, 1)
	go func() {
		err := s.writeLoop()
		if err != nil {
			s.c.Close() // Run's read fails next
		}
		wdone <- err
	}()
	err := s.run()
	close(s.quit)
	s.c.Close() // also ends a write the peer stopped reading
	werr := <-wdone
	if ctx.Err() != nil {
		return nil
	}
	if werr != nil && errors.Is(err, net.ErrClosed) {
		err = werr // the writer failed first and closed the channel
	}
	return err // §10.4: the peer got a bare close; the caller logs the reason
}

// writeLoop writes Run's output until Run stops it: an acknowledgement of
// everything stored so far whenever one is owed, else the next job; a push
// goes one frame at a time, so acknowledgements are never stuck behind it.
func (s *Session) writeLoop() error {
	var ackSent uint64
	liveOK := s.liveOK // nil once closed
	for {
		select {
		case <-liveOK:
			liveOK = nil
		default:
		}
		s.qmu.Lock()
		owed := s.ackOwed
		upTo, rejected := s.takeRejected()
		var job, live *outJob
		if len(s.queue) > 0 {
			job = s.queue[0]
		}
		if len(s.live) > 0 && liveOK == nil {
			live = s.live[0]
		}
		s.qmu.Unlock()
		var err error
		switch {
		case owed > ackSent:
			ack := sessionMsg{Type: msgAck, Acked: owed}
			if rejected != nil {
				ack.Acked, ack.Rejected = upTo, rejected
			}
			err = s.write(ack)
			ackSent = ack.Acked
		case job != nil && job.frames != nil:
			for _, m := range job.frames {
				if err = s.write(m); err != nil {
					break
				}
			}
			if err == nil && job.done {
				s.mu.Lock()
				s.done.sent = true
				s.mu.Unlock()
				s.checkSynced()
			}
			s.pop(&s.queue)
		case job != nil:
			err = s.pushFrame(job, &s.queue)
		case live != nil:
			err = s.pushFrame(live, &s.live)
		default:
			select {
			case <-s.wake:
			case <-liveOK:
			case <-s.quit:
				return nil
			}
		}
		if err != nil {
			return err
		}
	}
}

// pop drops the writer's finished job from the head of q.
func (s *Session) pop(q *[]*outJob) {
	s.qmu.Lock()
	(*q)[0] = nil
	*q = (*q)[1:]
	s.qmu.Unlock()
}

// enqueue hands a job to the writer.
func (s *Session) enqueue(j *outJob) {
	s.qmu.Lock()
	s.queue = append(s.queue, j)
	s.qmu.Unlock()
	s.poke()
}

func (s *Session) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Session) write(m sessionMsg) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.writeLocked(m)
}

func (s *Session) run() error {
	if s.initiator {
		if err := s.open(); err != nil {
			return err
		}
	}
	var buf []byte
	inRound := false   // frames of the peer's current round are arriving
	openRound := false // that round is the initiator's open
	roundMore := false // the peer held scopes back from that round
	roundBytes := 0
	for {
		p, err := s.c.ReadFrame(buf)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		buf = p[:0]
		s.mu.Lock()
		s.stats.BytesReceived += len(p) + frameBytes
		s.mu.Unlock()
		var m sessionMsg
		if err := wire.Unmarshal(p, &m); err != nil {
			return sessionErr("%v", err)
		}
		switch m.Type {
		case msgOpen, msgRecon:
			// The open comes once, first, and only from the initiator;
			// after it everything is a recon round.
			if (m.Type == msgOpen) != (!s.initiator && !s.started) || (m.Type == msgRecon && !s.started) {
				return sessionErr("unexpected message type %d", m.Type)
			}
			if !inRound {
				inRound, openRound, roundMore, roundBytes = true, m.Type == msgOpen, false, 0
				switch {
				case openRound && len(m.Refused) > 0:
					return sessionErr("refusals in the open")
				case openRound:
					if err := s.acceptOpen(m.Scopes); err != nil {
						return err
					}
				case len(m.Scopes) > 0:
					return sessionErr("scopes outside the open")
				case s.initiator && !s.isOpen():
					// The responder's first round: its refusals fix the
					// scope list, and only then may Push use it.
					if err := s.refuse(m.Refused); err != nil {
						return err
					}
				case len(m.Refused) > 0:
					return sessionErr("refusals outside the responder's first round")
				}
			} else if m.Type == msgOpen || len(m.Scopes) > 0 || len(m.Refused) > 0 {
				return sessionErr("scopes or refusals after a round's first frame")
			}
			// Each frame is decoded into the scopes' inboxes as it comes,
			// and a round's bytes are bounded, so a peer cannot make us
			// hold more than maxRoundBytes.
			roundBytes += len(p)
			if roundBytes > s.maxRound {
				return sessionErr("round larger than %d bytes", s.maxRound)
			}
			if m.More && openRound {
				return sessionErr("scopes held back from the open")
			}
			roundMore = roundMore || m.More
			if err := s.ingest(m, openRound); err != nil {
				return err
			}
			if m.End {
				inRound = false
				if err := s.handleRound(openRound, roundMore); err != nil {
					return err
				}
			}
		case msgItems:
			if err := s.receiveItems(m); err != nil {
				return err
			}
		case msgAck:
			if err := s.receiveAck(m.Acked, m.Rejected); err != nil {
				return err
			}
		case msgDone:
			if err := s.receiveDone(); err != nil {
				return err
			}
		default:
			return sessionErr("unknown message type %d", m.Type)
		}
	}
}

func (s *Session) isOpen() bool {
	select {
	case <-s.opened:
		return true
	default:
		return false
	}
}

// open sends the initiator's scopes and first round.
func (s *Session) open() error {
	offered := s.st.Scopes(s.peer)
	if len(offered) > MaxScopes {
		return fmt.Errorf("bug: syncproto: %d scopes offered", len(offered))
	}
	msg := sessionMsg{Type: msgOpen}
	var out []batch
	for _, sc := range offered {
		set, err := s.st.Set(sc)
		if err != nil {
			return err
		}
		if s.tooLarge(set) {
			continue
		}
		in, err := recon.NewInitiator(set, s.limits)
		if err != nil {
			return err
		}
		i := uint(len(s.scopes))
		st := &scopeState{id: sc, rec: in, active: true}
		s.scopes = append(s.scopes, st)
		s.index[sc] = i
		msg.Scopes = append(msg.Scopes, sc[:])
		first, done, err := in.Next(nil)
		if err != nil {
			return err
		}
		st.done = done
		out = append(out, encodeBatch(i, first))
	}
	// s.opened stays open until the responder's refusals arrive (refuse).
	s.started = true
	return s.sendRound(msg, out)
}

// tooLarge reports, and counts, a set over the session's scope limit
// (MaxScopeItems): such a scope is left out, not reconciled.
func (s *Session) tooLarge(set recon.Set) bool {
	if set.Len() <= s.limits.MaxItems {
		return false
	}
	s.mu.Lock()
	s.stats.ScopesTooLarge++
	s.mu.Unlock()
	return true
}

// acceptOpen fixes the scope list from the initiator's open: the scopes we
// offer this peer too are reconciled, the others refused.
func (s *Session) acceptOpen(scopes [][]byte) error {
	if len(scopes) > MaxScopes {
		return sessionErr("%d scopes", len(scopes))
	}
	ours := map[item.Scope]bool{}
	for _, sc := range s.st.Scopes(s.peer) {
		ours[sc] = true
	}
	for i, b := range scopes {
		if len(b) != len(item.Scope{}) {
			return sessionErr("scope of %d bytes", len(b))
		}
		sc := item.Scope(b)
		if _, dup := s.index[sc]; dup {
			return sessionErr("scope listed twice")
		}
		st := &scopeState{id: sc}
		if ours[sc] {
			set, err := s.st.Set(sc)
			if err != nil {
				return err
			}
			if !s.tooLarge(set) {
				if st.rec, err = recon.NewResponder(set, s.limits); err != nil {
					return err
				}
				st.active = true
			}
		}
		s.scopes = append(s.scopes, st)
		s.index[sc] = uint(i)
	}
	s.started = true
	close(s.opened)
	return nil
}

// refuse drops the scopes the responder does not share with us, then lets
// Push use the scope list.
func (s *Session) refuse(idx []uint) error {
	for _, i := range idx {
		if int(i) >= len(s.scopes) || !s.scopes[i].active {
			return sessionErr("refused scope index %d of %d (or twice)", i, len(s.scopes))
		}
		s.scopes[i].active = false
		s.scopes[i].done = true
	}
	close(s.opened)
	close(s.liveOK)
	return nil
}

// ingest feeds one frame of the peer's round to the scopes' inboxes.
func (s *Session) ingest(m sessionMsg, openRound bool) error {
	if m.Done {
		if err := s.receiveDone(); err != nil {
			return err
		}
	}
	for _, e := range m.Recon {
		if int(e.Scope) >= len(s.scopes) {
			return sessionErr("scope index %d of %d", e.Scope, len(s.scopes))
		}
		st := s.scopes[e.Scope]
		if openRound && !st.active {
			continue // a scope we refuse: its first message is ignored
		}
		if !st.active || st.done {
			return sessionErr("message for scope %d, which is not reconciling", e.Scope)
		}
		rm, err := recon.Decode(e.Msg)
		if err != nil {
			return sessionErr("%v", err)
		}
		st.inbox = append(st.inbox, rm)
	}
	return nil
}

// handleRound runs each scope on the round the peer just finished and
// sends this side's next round, led by the scopes held back from the last
// one. If the peer held scopes back (more), it sends a round even if empty,
// so that the peer can send them.
func (s *Session) handleRound(openRound, more bool) error {
	reply := sessionMsg{Type: msgRecon}
	if openRound {
		for i, st := range s.scopes {
			if !st.active {
				reply.Refused = append(reply.Refused, uint(i))
			}
		}
	}
	out := s.deferred
	var finished []*scopeState
	for i, st := range s.scopes {
		if !st.active || st.done || len(st.inbox) == 0 {
			continue
		}
		msgs, done, err := st.rec.Next(st.inbox)
		st.inbox = nil
		if err != nil {
			return fmt.Errorf("syncproto: scope %d: %w", i, err)
		}
		if len(msgs) > 0 {
			out = append(out, encodeBatch(uint(i), msgs))
		}
		if done {
			st.done = true
			finished = append(finished, st)
		}
	}
	out, s.deferred = s.fit(reply, out)
	reply.More = len(s.deferred) > 0
	// The open is always answered with a round, even an empty one: the
	// initiator's scope list is final only once it has one.
	if len(out) > 0 || reply.Refused != nil || more || openRound {
		// When this round finishes every scope and there is nothing to
		// push, the round itself says done: identical sets then cost one
		// frame each way (§10.3).
		pushes := 0
		for _, st := range finished {
			pushes += len(st.rec.Result().Have)
		}
		if pushes == 0 && s.allDone() && !s.doneQueued {
			reply.Done, s.doneQueued = true, true
		}
		if err := s.sendRound(reply, out); err != nil {
			return err
		}
		if openRound {
			close(s.liveOK)
		}
	}
	for _, st := range finished {
		if have := st.rec.Result().Have; len(have) > 0 {
			s.enqueue(&outJob{sc: st.id, ids: have})
		}
	}
	s.maybeDone()
	return nil
}

// allDone reports whether every scope has finished here and no scope's
// messages wait for the next round.
func (s *Session) allDone() bool {
	if len(s.deferred) > 0 {
		return false
	}
	for _, st := range s.scopes {
		if st.active && !st.done {
			return false
		}
	}
	return true
}

func (s *Session) receiveDone() error {
	s.mu.Lock()
	if s.done.received {
		s.mu.Unlock()
		return sessionErr("second done")
	}
	s.done.received = true
	s.mu.Unlock()
	s.checkSynced()
	return nil
}

// sendRound queues a round: the batches in as many frames as the frame
// limit needs; the first frame carries first's other fields, the last has
// End.
func (s *Session) sendRound(first sessionMsg, batches []batch) error {
	s.mu.Lock()
	s.stats.ReconRounds++
	rounds := s.stats.ReconRounds
	s.mu.Unlock()
	if rounds > maxRounds*2+2*len(s.scopes) {
		return sessionErr("too many rounds")
	}
	var frames []sessionMsg
	m := first
	size := firstFrameSize(first)
	for _, b := range batches {
		for _, e := range b {
			if size+len(e.Msg)+16 > MaxPayload && len(m.Recon) > 0 {
				frames = append(frames, m)
				m, size = sessionMsg{Type: msgRecon}, sessionOverhead
			}
			m.Recon = append(m.Recon, e)
			size += len(e.Msg) + 16
		}
	}
	m.End = true
	s.enqueue(&outJob{frames: append(frames, m), done: first.Done})
	return nil
}

// firstFrameSize bounds a round's first frame before its recon entries.
func firstFrameSize(first sessionMsg) int {
	return sessionOverhead + (len(item.Scope{})+2)*len(first.Scopes) + 3*len(first.Refused)
}

// fit splits a round's batches into those that fit in one round as the
// peer counts it (at most s.maxRound payload bytes; each entry is counted
// with a frame's overhead, as if alone in its frame) and those held back to
// the next round. The first batch always goes: MaxScopeItems makes any one
// scope's batch fit.
func (s *Session) fit(first sessionMsg, batches []batch) (now, later []batch) {
	total := firstFrameSize(first)
	for i, b := range batches {
		cost := 0
		for _, e := range b {
			cost += len(e.Msg) + 16 + sessionOverhead
		}
		if i > 0 && total+cost > s.maxRound {
			return batches[:i], slices.Clip(batches[i:])
		}
		total += cost
	}
	return batches, nil
}

// encodeBatch encodes scope i's messages of one round.
func encodeBatch(i uint, msgs []recon.Message) batch {
	b := make(batch, 0, len(msgs))
	for _, rm := range msgs {
		b = append(b, reconEntry{Scope: i, Msg: rm.Encode()})
	}
	return b
}

// writeLocked writes one frame; the caller holds s.wmu.
func (s *Session) writeLocked(m sessionMsg) error {
	b, err := wire.Marshal(m)
	if err != nil {
		return err
	}
	if err := s.c.WriteFrame(b); err != nil {
		return err
	}
	s.mu.Lock()
	s.stats.BytesSent += len(b) + frameBytes
	s.stats.FramesSent++
	s.mu.Unlock()
	return nil
}

// pushFrame sends the next items frame of push job j, the head of q, drops
// its IDs from the job, and pops the job once it is empty. An ID with
// nothing to send (deleted meanwhile) is skipped, and so is a job for a
// scope this session does not reconcile (a live push the peer refused).
func (s *Session) pushFrame(j *outJob, q *[]*outJob) error {
	i, ok := s.sharedIndex(j.sc)
	if !ok {
		j.ids = nil
	}
	var items [][]byte
	var ids []recon.ID
	size := 0
	for len(j.ids) > 0 {
		b := s.st.Item(j.sc, j.ids[0])
		if b != nil && size+len(b)+8 > MaxPayload-sessionOverhead && len(items) > 0 {
			break
		}
		if b != nil {
			items = append(items, b)
			ids = append(ids, j.ids[0])
			size += len(b) + 8
		}
		j.ids = j.ids[1:]
	}
	if len(j.ids) == 0 {
		s.pop(q)
	}
	if len(items) == 0 {
		return nil
	}
	return s.sendItems(i, items, ids)
}

// sendItems writes one items frame and remembers its IDs until the peer
// acknowledges it.
func (s *Session) sendItems(scope uint, items [][]byte, ids []recon.ID) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	s.pushed = append(s.pushed, ids)
	s.mu.Unlock()
	return s.writeLocked(sessionMsg{Type: msgItems, Scope: scope, Items: items})
}

// Push queues the items with these IDs in scope sc for the peer now (a
// live update) and returns at once; the session reads each item from the
// SyncStore when it writes it, after its own rounds, pushes and dones and
// once the scope list is final. It returns an error if the session ended
// or, once the scope list is final, sc is not shared in it; a push the
// session cannot make before it ends is dropped, and the next session's
// reconciliation carries the items.
func (s *Session) Push(sc item.Scope, ids []recon.ID) error {
	select {
	case <-s.ended:
		return fmt.Errorf("syncproto: session with %s ended", s.peer.Short())
	default:
	}
	if s.isOpen() {
		if _, ok := s.sharedIndex(sc); !ok {
			return ErrNotShared
		}
	}
	if len(ids) == 0 {
		return nil
	}
	s.qmu.Lock()
	s.live = append(s.live, &outJob{sc: sc, ids: ids})
	s.qmu.Unlock()
	s.poke()
	return nil
}

// sharedIndex returns sc's index if it is reconciled in this session. The
// scope list must be final (s.opened closed).
func (s *Session) sharedIndex(sc item.Scope) (uint, bool) {
	i, ok := s.index[sc]
	return i, ok && s.scopes[i].active
}

func (s *Session) receiveItems(m sessionMsg) error {
	if !s.isOpen() || int(m.Scope) >= len(s.scopes) || !s.scopes[m.Scope].active {
		return sessionErr("items for scope %d, which is not shared", m.Scope)
	}
	if len(m.Items) == 0 {
		return sessionErr("empty items message")
	}
	refused, err := s.st.Accept(s.peer, s.scopes[m.Scope].id, m.Items)
	if err != nil {
		return fmt.Errorf("syncproto: storing items from %s: %w", s.peer.Short(), err)
	}
	s.qmu.Lock()
	s.ackOwed++
	if len(refused) > 0 {
		s.rejectOwed = append(s.rejectOwed, rejection{s.ackOwed, refused})
	}
	s.qmu.Unlock()
	s.poke()
	return nil
}

func (s *Session) receiveAck(n uint64, rejected [][]byte) error {
	s.mu.Lock()
	if n <= s.acked || n-s.acked > uint64(len(s.pushed)) {
		sent := s.acked + uint64(len(s.pushed))
		s.mu.Unlock()
		return sessionErr("acknowledgement of %d items frames; %d sent, %d already acknowledged", n, sent, s.acked)
	}
	k := int(n - s.acked)
	var ids []recon.ID
	for _, f := range s.pushed[:k] {
		ids = append(ids, f...)
	}
	s.mu.Unlock()
	stored, refused, err := splitRejected(ids, rejected)
	if err != nil {
		return err
	}
	// The frames leave pushed only once Acked has recorded them, so that
	// Synced (which waits for pushed to empty) never comes first. Run is
	// the only goroutine that removes frames; the writer only appends.
	if len(ids) > 0 {
		s.st.Acked(s.peer, stored, refused)
	}
	s.mu.Lock()
	clear(s.pushed[:k])
	s.pushed = s.pushed[k:]
	s.acked = n
	s.mu.Unlock()
	s.checkSynced()
	return nil
}

// maybeDone queues a bare msgDone, behind the pushes of their items, once
// every scope has finished reconciling and no round said done.
func (s *Session) maybeDone() {
	if s.allDone() && !s.doneQueued {
		s.doneQueued = true
		s.enqueue(&outJob{frames: []sessionMsg{{Type: msgDone}}, done: true})
	}
}

func (s *Session) checkSynced() {
	s.mu.Lock()
	ready := s.done.sent && s.done.received && len(s.pushed) == 0 && !s.done.synced
	if ready {
		s.done.synced = true
	}
	s.mu.Unlock()
	if ready {
		s.st.Synced(s.peer)
	}
}

// takeRejected returns the refusals the next acknowledgement carries and
// the last frame it may then acknowledge, or nil if none are owed (it then
// acknowledges every frame received). It takes as many frames' refusals as
// fit maxRejectedPerAck, at least one frame's. The caller holds s.qmu.
func (s *Session) takeRejected() (upTo uint64, ids [][]byte) {
	n := 0
	for n < len(s.rejectOwed) {
		r := s.rejectOwed[n]
		if n > 0 && len(ids)+len(r.ids) > maxRejectedPerAck {
			break
		}
		for _, id := range r.ids {
			ids = append(ids, bytes.Clone(id[:]))
		}
		n++
	}
	upTo = s.ackOwed
	if n < len(s.rejectOwed) {
		upTo = s.rejectOwed[n].frame - 1 // the frames before the next refusals
	}
	clear(s.rejectOwed[:n])
	s.rejectOwed = s.rejectOwed[n:]
	return upTo, ids
}

// splitRejected splits the IDs of the frames an acknowledgement covers
// into those the peer stored and those it refused. An ID sent in several
// frames (scopes) may be refused in each; a refused ID that is not among
// them, or refused more often than it was sent, is a protocol violation.
func splitRejected(ids []recon.ID, rejected [][]byte) (stored, refused []recon.ID, err error) {
	if len(rejected) == 0 {
		return ids, nil, nil
	}
	left := make(map[recon.ID]int, len(ids)) // refusals each ID may still take
	for _, id := range ids {
		left[id]++
	}
	for _, b := range rejected {
		if len(b) != recon.IDSize {
			return nil, nil, sessionErr("refused ID of %d bytes", len(b))
		}
		id := recon.ID(b)
		if left[id] == 0 {
			return nil, nil, sessionErr("refusal of item %x, which the acknowledged frames do not hold (so often)", id[:4])
		}
		left[id]--
		refused = append(refused, id)
	}
	for _, id := range ids {
		if left[id] > 0 {
			left[id]--
			stored = append(stored, id)
		}
	}
	return stored, refused, nil
}
