package room

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
)

// StaleGrace is how long after a rekey a message may still be written under
// the epoch before it (docs/protocol.md §13.3): a member that had not yet
// received the rekey wrote it in good faith. After it, a message under an
// old epoch is refused, which is what stops a removed member (who keeps the
// old epoch's key) from posting; it can only claim to have written before
// the grace ran out.
const StaleGrace = 10 * time.Minute

// Reasons an item is refused, wrapped with the detail.
var (
	// ErrNotOwner: an item only the owner may sign (a state, a key part,
	// an invite) signed by someone else.
	ErrNotOwner = errors.New("room: only the room's owner may sign this")
	// ErrNotMember: an item by someone who is not a member of the epoch it
	// names, or who left it.
	ErrNotMember = errors.New("room: the author is not a member of the epoch")
	// ErrUnknownEpoch: an item under an epoch whose state this node has not
	// received; a later sync brings the state, and the item again.
	ErrUnknownEpoch = errors.New("room: epoch not known here yet")
	// ErrStale: a message under an epoch more than StaleGrace older than
	// the rekey that ended it.
	ErrStale = errors.New("room: message under an ended epoch")
)

// model is what a node knows of one room: the items of its space, decoded
// and sorted by rule. It is built afresh from the store when needed and is
// not safe for concurrent use.
type model struct {
	space  item.Space
	owner  identity.ID
	states map[uint64]*state // by epoch; the newest version when two claim one
	parts  map[uint64][]*keysPart
	// invites by epoch: who an invitation named as members, for a node that
	// holds an invitation and not yet the state.
	invites  map[uint64]*invite
	joins    map[identity.ID]uint64 // the newest epoch each member joined at
	leaves   map[identity.ID][]*mark
	messages []*message
}

func newModel(sp item.Space, owner identity.ID) *model {
	return &model{space: sp, owner: owner, states: map[uint64]*state{}, parts: map[uint64][]*keysPart{},
		invites: map[uint64]*invite{}, joins: map[identity.ID]uint64{}, leaves: map[identity.ID][]*mark{}}
}

// add files a verified item of the room's space after checking it against
// what the model already holds; it returns why the item does not belong.
// Items must be added in an order where each one's epoch state comes
// first: states, key parts and invites never depend on others.
func (m *model) add(it *item.Item) error {
	if it.Space() != m.space {
		return malformed("item of another space")
	}
	switch it.Kind() {
	case KindState, KindKeys, KindInvite:
		if it.Author() != m.owner {
			return fmt.Errorf("%w (a %s signed by %s)", ErrNotOwner, it.Kind(), it.Author().Short())
		}
	}
	switch it.Kind() {
	case KindState:
		st, err := decodeState(it)
		if err != nil {
			return err
		}
		if old := m.states[st.epoch]; old == nil || item.VersionOf(it).Newer(item.VersionOf(old.it)) {
			m.states[st.epoch] = st
		}
	case KindKeys:
		k, err := decodeKeys(it)
		if err != nil {
			return err
		}
		m.parts[k.epoch] = append(m.parts[k.epoch], k)
	case KindInvite:
		inv, err := decodeInvite(it)
		if err != nil {
			return err
		}
		if old := m.invites[inv.epoch]; old == nil || item.VersionOf(it).Newer(item.VersionOf(old.it)) {
			m.invites[inv.epoch] = inv
		}
	case KindJoin, KindLeave:
		mk, err := decodeMark(it)
		if err != nil {
			return err
		}
		if err := m.memberAt(it.Author(), mk.epoch); err != nil {
			return err
		}
		if it.Kind() == KindJoin {
			m.joins[it.Author()] = max(m.joins[it.Author()], mk.epoch)
		} else {
			m.leaves[it.Author()] = append(m.leaves[it.Author()], mk)
		}
	case KindMessage:
		msg, err := decodeMessage(it)
		if err != nil {
			return err
		}
		if err := m.admit(msg); err != nil {
			return err
		}
		m.messages = append(m.messages, msg)
	default:
		return malformed("a %s does not belong in a room", it.Kind())
	}
	return nil
}

// membersAt lists epoch's members: its state's, or an invitation's for
// that epoch when the state has not come yet.
func (m *model) membersAt(epoch uint64) ([]identity.ID, bool) {
	if st := m.states[epoch]; st != nil {
		return st.members, true
	}
	if inv := m.invites[epoch]; inv != nil {
		return inv.members, true
	}
	return nil, false
}

// memberAt returns nil if id is a member of epoch.
func (m *model) memberAt(id identity.ID, epoch uint64) error {
	members, ok := m.membersAt(epoch)
	switch {
	case !ok:
		return fmt.Errorf("%w (epoch %d)", ErrUnknownEpoch, epoch)
	case !slices.Contains(members, id):
		return fmt.Errorf("%w (%s, epoch %d)", ErrNotMember, id.Short(), epoch)
	}
	return nil
}

// leftBy reports whether id left epoch (or a later one) at or before t.
func (m *model) leftBy(id identity.ID, epoch uint64, t time.Time) bool {
	for _, l := range m.leaves[id] {
		if l.epoch >= epoch && !l.it.Created().After(t) {
			return true
		}
	}
	return false
}

// admit applies §13.3 to a message: its author is a member of its epoch,
// has not left it before writing, it keeps the timer the epoch's state
// sets (§13.6), and the epoch had not ended more than StaleGrace before
// the message was written.
func (m *model) admit(msg *message) error {
	st := m.states[msg.epoch]
	if st == nil {
		return fmt.Errorf("%w (epoch %d)", ErrUnknownEpoch, msg.epoch)
	}
	a := msg.it.Author()
	if !slices.Contains(st.members, a) {
		return fmt.Errorf("%w (%s, epoch %d)", ErrNotMember, a.Short(), msg.epoch)
	}
	if m.leftBy(a, msg.epoch, msg.it.Created()) {
		return fmt.Errorf("%w (%s left epoch %d before writing)", ErrNotMember, a.Short(), msg.epoch)
	}
	if st.ttl != 0 && (msg.ttl == 0 || msg.ttl > st.ttl) {
		return fmt.Errorf("%w (epoch %d's timer is %d s, the message's %d s)", ErrTimer, msg.epoch, st.ttl, msg.ttl)
	}
	if next := m.next(msg.epoch); next != nil && msg.it.Created().After(next.it.Created().Add(StaleGrace)) {
		return fmt.Errorf("%w: epoch %d ended at %s", ErrStale, msg.epoch, next.it.Created().Format(time.RFC3339))
	}
	return nil
}

// next is the state of the lowest known epoch after epoch, or nil.
func (m *model) next(epoch uint64) *state {
	var out *state
	for e, st := range m.states {
		if e > epoch && (out == nil || e < out.epoch) {
			out = st
		}
	}
	return out
}

// current is the state of the newest known epoch, or nil.
func (m *model) current() *state {
	var out *state
	for e, st := range m.states {
		if out == nil || e > out.epoch {
			out = st
		}
	}
	return out
}

// active lists who is in the room now: the current epoch's members (or the
// newest invitation's, before any state came), less those who left it.
func (m *model) active() []identity.ID {
	var epoch uint64
	members, ok := []identity.ID(nil), false
	if st := m.current(); st != nil {
		epoch, members, ok = st.epoch, st.members, true
	}
	for e, inv := range m.invites {
		if !ok || e > epoch {
			epoch, members, ok = e, inv.members, true
		}
	}
	var out []identity.ID
	for _, id := range members {
		if !m.leftBy(id, epoch, farFuture) {
			out = append(out, id)
		}
	}
	return out
}

// partFor returns the sealed part that wraps epoch's key for id, or nil.
func (m *model) partFor(id identity.ID, epoch uint64) []byte {
	st := m.states[epoch]
	if st == nil {
		return nil
	}
	i := slices.Index(st.members, id)
	if i < 0 {
		return nil
	}
	first := firstPart(st.name, len(st.members), len(st.removed))
	if i < first {
		return st.keys
	}
	want := uint64(1 + (i-first)/partMembers)
	for _, k := range m.parts[epoch] {
		if k.part == want && k.fits(st) {
			return k.keys
		}
	}
	return nil
}

// order sorts the items of a room so that add sees each epoch's state
// before what depends on it: states, key parts and invites first, then
// joins and leaves, then messages, each by creation time.
func order(items []*item.Item) {
	rank := func(k item.Kind) int {
		switch k {
		case KindState, KindKeys, KindInvite:
			return 0
		case KindJoin, KindLeave:
			return 1
		}
		return 2
	}
	slices.SortStableFunc(items, func(a, b *item.Item) int {
		if c := rank(a.Kind()) - rank(b.Kind()); c != 0 {
			return c
		}
		return item.VersionOf(a).Compare(item.VersionOf(b))
	})
}

// farFuture is a time after every leave: leftBy with it asks whether a
// member left at all.
var farFuture = time.Unix(1<<40, 0)

// since returns the epoch from which id has been a member without a break
// up to the current one; past the current epoch when it is not a member
// now. A leave under an earlier epoch belongs to an earlier membership.
func (m *model) since(id identity.ID) uint64 {
	cur := m.current()
	if cur == nil || !slices.Contains(cur.members, id) {
		return ^uint64(0)
	}
	e := cur.epoch
	for e > 0 {
		prev := m.states[e-1]
		if prev == nil || !slices.Contains(prev.members, id) {
			break
		}
		e--
	}
	return e
}
