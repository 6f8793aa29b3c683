package room

import (
	"errors"
	"fmt"
	"time"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/wire"
)

// ErrTimer: a message whose timer breaks the room's (§13.6): none, or a
// longer one, under an epoch whose state sets a timer.
var ErrTimer = errors.New("room: the message's timer does not keep the room's")

// Timer says how a room message burns. The zero Timer asks for nothing of
// its own: the message takes the room's timer, if the room has one.
type Timer struct {
	// AfterRead burns each member's copy once that member has read it
	// (docs/protocol.md §13.6); the author's copy burns at the deadline.
	AfterRead bool
	// TTL burns every copy this long after the message was created.
	TTL time.Duration
}

// ttlRange reports whether secs, a timer on the wire, is in range.
func ttlRange(secs uint64) bool {
	return secs >= uint64(item.MinTTL/time.Second) && secs <= uint64(item.MaxTTL/time.Second)
}

// checkTTL is the user's error for a timer out of range.
func checkTTL(d time.Duration) error {
	if d < item.MinTTL || d > item.MaxTTL || d%time.Second != 0 {
		return fault.Invalidf("give a ttl from 1m to 365d, such as 10m, 24h or 7d",
			"ttl %s is outside the range 1m to 365d (in whole seconds)", d)
	}
	return nil
}

// effective is the timer a message we write under st carries: its own,
// limited by the room's; the room's when it asks for none; with only
// AfterRead and no room timer, item.MaxTTL, so that no burnable message
// outlives the longest timer.
func effective(t Timer, st *state) (Timer, error) {
	room := st.timer()
	if t.TTL != 0 {
		if err := checkTTL(t.TTL); err != nil {
			return t, err
		}
		if room != 0 && t.TTL > room {
			return t, fault.Invalidf(fmt.Sprintf("give a ttl of at most %s, or none to take the room's", item.FormatTTL(room)),
				"the room's timer is %s; a message may ask for less, not more", item.FormatTTL(room))
		}
		return t, nil
	}
	switch {
	case room != 0:
		t.TTL = room
	case t.AfterRead:
		t.TTL = item.MaxTTL
	}
	return t, nil
}

// deadline is when msg burns on every node at the latest, and false if it
// does not burn: its creation time as its author dated it plus its TTL, so
// every member reckons the same moment.
func (msg *message) deadline() (time.Time, bool) {
	if msg.ttl == 0 {
		return time.Time{}, false
	}
	return msg.it.Created().Add(time.Duration(msg.ttl) * time.Second), true
}

// burnView says which timer applies to msg and who set it: the room's
// (set by the owner in the state of the message's epoch) when the message
// carries exactly the room's TTL, otherwise the author's own.
func (m *model) burnView(msg *message) *apitype.Burn {
	until, ok := msg.deadline()
	if !ok {
		return nil
	}
	ttl := time.Duration(msg.ttl) * time.Second
	b := &apitype.Burn{AfterRead: msg.afterRead, TTL: item.FormatTTL(ttl), Deadline: until,
		SetBy: msg.it.Author().String(), Source: apitype.TimerMessage}
	if st := m.states[msg.epoch]; st != nil && st.ttl != 0 && st.ttl == msg.ttl {
		b.SetBy, b.Source = m.owner.String(), apitype.TimerRoom
	}
	return b
}

// timer is the room's timer under st.
func (st *state) timer() time.Duration { return time.Duration(st.ttl) * time.Second }

// Deadline is the room sealer's question (store.Sealer, through the
// node's burn machinery): when a room message must be burnt by, and
// whether it burns at all. It reads only the item's signed payload, so it
// may run inside a store transaction. An item that is not a well-formed
// room message does not burn; Check refused it before any store.
func Deadline(it *item.Item) (time.Time, bool) {
	if it.Kind() != KindMessage {
		return time.Time{}, false
	}
	msg, err := decodeMessage(it)
	if err != nil {
		return time.Time{}, false
	}
	return msg.deadline()
}

// SetTimer sets or clears (ttl 0) the room's timer: a rekey with the same
// members whose state carries it (docs/protocol.md §13.6), so it holds
// for every message written under the new epoch, and a member cannot
// strip it (the state is the owner's, signed). Only the owner may.
func (s *Service) SetTimer(sp item.Space, ttl time.Duration) (*apitype.Room, error) {
	if ttl != 0 {
		if err := checkTTL(ttl); err != nil {
			return nil, err
		}
		if s.h.Vault() == nil {
			return nil, errNoVault()
		}
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	r, m, err := s.owned(sp)
	if err != nil {
		return nil, err
	}
	cur := m.current()
	if cur.timer() == ttl {
		return s.describe(r, m), nil // nothing changes: no rekey
	}
	members := m.active()
	if _, err := s.publishState(r, cur.epoch+1, members, removedBy(m, members), ttl); err != nil {
		return nil, err
	}
	return s.show(r)
}

// errNoVault is the error for a timer on a node without a vault.
func errNoVault() error {
	return fault.Invalidf("run the node with its data directory's burn vault (the default); a node without one cannot keep burnable messages",
		"this node has no burn vault")
}

// burnRead burns, on this node, the after-read messages of others that
// were just shown opened (the member has read them): each member's copy
// burns once that member has read it (§13.6). Our own stay until their
// deadline, so that we keep relaying them to members not yet reached.
func (s *Service) burnRead(shown []*message) {
	var ids []item.ID
	keep := s.h.Now()
	for _, msg := range shown {
		if !msg.afterRead || msg.it.Author() == s.h.ID() {
			continue
		}
		until, _ := msg.deadline()
		ids = append(ids, msg.it.ID())
		if u := until.Add(item.BurnMemory); u.After(keep) {
			keep = u
		}
	}
	if len(ids) == 0 {
		return
	}
	s.h.Burn(ids, keep, "read in a room")
}

// burnable is the test a received item passes before the room's rules: a
// message with a timer needs a vault to be kept erasably here, and one
// whose deadline has passed is refused (it burnt everywhere already, or
// should have).
func (s *Service) burnable(it *item.Item) error {
	until, ok := Deadline(it)
	switch {
	case !ok:
		return nil
	case s.h.Vault() == nil:
		return fmt.Errorf("%w: a message with a timer, and this node has no burn vault", ErrTimer)
	case !until.After(s.h.Now()):
		return fmt.Errorf("%w: its timer ran out at %s", ErrTimer, until.Format(time.RFC3339))
	}
	return nil
}

// timerOf decodes and checks a message's timer fields.
func timerOf(w *wireMessage) error {
	switch {
	case w.TTL != 0 && !ttlRange(w.TTL):
		return malformed("message ttl %d seconds is outside 60 to 31,536,000", w.TTL)
	case w.AfterRead && w.TTL == 0:
		return malformed("an after-read message without a ttl")
	}
	return nil
}

// encodeMessage is the payload of a message we write.
func encodeMessage(epoch uint64, nonce, ct []byte, t Timer) ([]byte, error) {
	return wire.Marshal(wireMessage{Epoch: epoch, Nonce: nonce, Ciphertext: ct,
		TTL: uint64(t.TTL / time.Second), AfterRead: t.AfterRead})
}
