package syncproto

// Moving items (docs/protocol.md §10.3 steps 4-5 and 7): items frames
// pushed after reconciliation and live, their acknowledgements, and the
// items the peer refused.

import (
	"bytes"
	"fmt"

	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recon"
)

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
