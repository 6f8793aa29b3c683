package syncproto

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
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
