package syncproto

// Reconciliation rounds (docs/protocol.md §10.3 steps 1-3 and 6): the open,
// the responder's refusals, each round's messages fed to the scopes' state
// machines, holding scopes back when a round is full, and done.

import (
	"fmt"
	"slices"

	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recon"
)

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
