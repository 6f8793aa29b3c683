package room

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/service"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/vault"
	"github.com/ghostwire/ghostwire/wire"
)

// Host is what the room service needs of the node.
type Host interface {
	service.Host
	// PeerName is the peer's local name, or "".
	PeerName(identity.ID) string
	// Publish stores our own new items and hands them to every peer that
	// shares one of their scopes.
	Publish(entries []store.Entry, exp []item.Expiry) (int, error)
	// Rescope ends the live sessions with peers, without waiting, and has
	// the dialer reach them again: the scopes a session reconciles are
	// fixed when it starts, and a join, a removal or a leave changes them.
	Rescope(peers ...identity.ID)
	// Changed wakes whoever follows the node's data.
	Changed()
	// Changes is closed at the next stored change (any service's).
	Changes() <-chan struct{}
	// Vault holds the keys of burnable messages; nil means this node can
	// neither send nor keep room messages with a timer, and refuses them.
	Vault() *vault.Vault
	// Burn destroys sealed items on this node (their vault keys first,
	// then what the store kept) and remembers their IDs until keep, so
	// sync neither offers them again nor takes them back.
	Burn(ids []item.ID, keep time.Time, why string)
	// Keeper keeps the epoch keys this node opened where destroying them
	// erases them (held.go); nil when the node has no key vault, whose
	// recipient key is then never destroyed, so keys are opened again
	// after a restart and kept in memory only.
	Keeper() Keeper
}

// bucketRooms records the rooms this node knows: space → wireRecord.
const bucketRooms = "rooms"

// Service is the room service of one node. It is safe for concurrent use.
type Service struct {
	h Host

	mu struct {
		sync.Mutex
		// active caches each joined room's current members (model.active),
		// which Scopes reads for every peer on every push; nil when stale.
		active map[item.Space][]identity.ID
		// models caches each joined room's membership model (cache.go);
		// an entry is dropped when a membership item of its room is
		// stored.
		models map[item.Space]*model
		keys   map[epochRef][]byte  // epoch keys opened, so each is unwrapped once
		retry  map[identity.ID]bool // peers whose items waited for a state
	}
	// opMu serialises the owner's rekeys, so two membership changes never
	// claim the same epoch.
	opMu sync.Mutex
}

type epochRef struct {
	space item.Space
	epoch uint64
}

// New returns the service.
func New(h Host) *Service {
	s := &Service{h: h}
	s.mu.keys = map[epochRef][]byte{}
	s.mu.models = map[item.Space]*model{}
	s.mu.retry = map[identity.ID]bool{}
	return s
}

// Status values of the local record (apitype.Room.Status, less "removed",
// which is computed).
const (
	statusPending = apitype.RoomPending
	statusJoined  = apitype.RoomJoined
	statusLeft    = apitype.RoomLeft
)

// record is the local record of a room.
type record struct {
	space   item.Space
	owner   identity.ID
	nonce   []byte
	name    string
	status  string
	epoch   uint64        // the invitation's epoch, while pending
	members []identity.ID // the invitation's members
}

func (r *record) toWire() wireRecord {
	w := wireRecord{Owner: r.owner.Bytes(), Nonce: r.nonce, Name: r.name, Status: r.status, Epoch: r.epoch}
	for _, m := range r.members {
		w.Members = append(w.Members, m.Bytes())
	}
	return w
}

func (s *Service) putRecord(r *record) error {
	b, err := wire.Marshal(r.toWire())
	if err != nil {
		return err
	}
	err = s.h.Store().Update(func(tx *store.Tx) error { return tx.Put(bucketRooms, r.space[:], b) })
	s.invalidate()
	return err
}

// records lists the rooms this node knows, ordered by space. A record
// that does not decode (a damaged store) is left out.
func (s *Service) records() ([]*record, error) {
	var out []*record
	err := s.h.Store().View(func(tx *store.Tx) error {
		return tx.Scan(bucketRooms, nil, func(k, v []byte) error {
			if r, ok := parseRecord(k, v); ok {
				out = append(out, r)
			}
			return nil
		})
	})
	slices.SortFunc(out, func(a, b *record) int { return bytes.Compare(a.space[:], b.space[:]) })
	return out, err
}

// parseRecord decodes a record stored under key k.
func parseRecord(k, v []byte) (*record, bool) {
	var w wireRecord
	if len(k) != item.SpaceSize || wire.Unmarshal(v, &w) != nil {
		return nil, false
	}
	owner, err := identity.NewID(w.Owner)
	if err != nil {
		return nil, false
	}
	members, err := ids(w.Members, "member")
	if err != nil {
		return nil, false
	}
	return &record{space: item.Space(k), owner: owner, nonce: w.Nonce, name: w.Name,
		status: w.Status, epoch: w.Epoch, members: members}, true
}

// load builds the model of a room from the store. Items that no longer
// pass (a message from before its state was known, refused now that it
// is) stay out of the model, so no listing shows them.
func (s *Service) load(r *record) (*model, error) { return s.build(r, true) }

// build is load, leaving the messages out unless messages is true.
func (s *Service) build(r *record, messages bool) (*model, error) {
	m := newModel(r.space, r.owner)
	var items []*item.Item
	err := s.h.Store().SpaceItems(r.space, func(it *item.Item) error {
		if messages || it.Kind() != KindMessage {
			items = append(items, it)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	order(items)
	for _, it := range items {
		m.add(it) // a refused item stays out
	}
	return m, nil
}

// invalidate drops the cached memberships after a change of ours: who is
// in each room, and the admission models (cache.go).
func (s *Service) invalidate() {
	s.mu.Lock()
	s.mu.active = nil
	clear(s.mu.models)
	s.mu.Unlock()
}

// actives returns every joined room's current members, from the cache.
func (s *Service) actives() map[item.Space][]identity.ID {
	s.mu.Lock()
	a := s.mu.active
	s.mu.Unlock()
	if a != nil {
		return a
	}
	a = map[item.Space][]identity.ID{}
	recs, err := s.records()
	if err != nil {
		s.h.Log().Warn("reading the rooms failed", "err", err)
		return a
	}
	for _, r := range recs {
		if r.status != statusJoined {
			continue
		}
		m, err := s.admission(r)
		if err != nil {
			s.h.Log().Warn("reading a room failed", "err", err)
			continue
		}
		if act := m.active(); len(act) == 0 && len(r.members) > 0 {
			a[r.space] = r.members // joined on an invitation whose state has not come
		} else {
			a[r.space] = act
		}
	}
	s.mu.Lock()
	s.mu.active = a
	s.mu.Unlock()
	return a
}

// Scopes lists the scopes this service shares with peer: the invite scope
// the two always share, then, by space, every room both are in now.
func (s *Service) Scopes(peer identity.ID) []item.Scope {
	me := s.h.ID()
	out := []item.Scope{InviteScope(me, peer)}
	a := s.actives()
	spaces := make([]item.Space, 0, len(a))
	for sp := range a {
		spaces = append(spaces, sp)
	}
	slices.SortFunc(spaces, func(x, y item.Space) int { return bytes.Compare(x[:], y[:]) })
	for _, sp := range spaces {
		if len(out) > MaxSharedRooms {
			s.h.Log().Debug("more rooms shared with a peer than a session carries; the rest wait", "peer", peer, "max", MaxSharedRooms)
			break
		}
		if slices.Contains(a[sp], peer) && slices.Contains(a[sp], me) {
			out = append(out, Scope(sp))
		}
	}
	return out
}

// Check returns the test an item peer sent in scope sc must pass, or nil
// if sc is not this service's (docs/protocol.md §13.1). In a room's scope
// every item is checked against the room as this node knows it, and the
// items admitted earlier in the same frame count: a rekey and the first
// messages under it often travel together.
func (s *Service) Check(peer identity.ID, sc item.Scope) func(*item.Item) bool {
	me := s.h.ID()
	if sc == InviteScope(me, peer) {
		return func(it *item.Item) bool { return s.checkInvite(it, me, peer) == nil }
	}
	recs, err := s.records()
	if err != nil {
		return nil
	}
	for _, r := range recs {
		if Scope(r.space) != sc || r.status != statusJoined {
			continue
		}
		m, err := s.admission(r)
		if err != nil {
			return func(*item.Item) bool { return false }
		}
		return func(it *item.Item) bool {
			err := s.burnable(it)
			if err == nil {
				err = m.add(it)
			}
			if errors.Is(err, ErrUnknownEpoch) {
				s.mu.Lock()
				s.mu.retry[peer] = true
				s.mu.Unlock()
			}
			if err != nil {
				s.h.Log().Debug("room item refused", "peer", peer, "kind", it.Kind(), "err", err)
			}
			return err == nil
		}
	}
	return nil
}

// checkInvite is the rule of the invite scope between me and peer: an
// invitation from one of the two, owner of its room, to the other; or a
// state by one of the two, owner of its room, that removes the other (the
// removed member's notice); or a leave by one of the two from a room the
// other owns.
func (s *Service) checkInvite(it *item.Item, me, peer identity.ID) error {
	other := peer
	switch it.Author() {
	case peer:
		other = me
	case me:
	default:
		return malformed("an invite-scope item by a third party")
	}
	switch it.Kind() {
	case KindInvite:
		inv, err := decodeInvite(it)
		if err != nil {
			return err
		}
		if inv.invitee != other {
			return malformed("an invitation to someone else")
		}
		return nil
	case KindState:
		st, err := decodeState(it)
		if err != nil {
			return err
		}
		if !slices.Contains(st.removed, other) {
			return malformed("a state that does not remove the other peer")
		}
		return nil
	case KindLeave:
		if _, err := decodeMark(it); err != nil {
			return err
		}
		r, err := s.record(it.Space())
		if err != nil || r.owner != other {
			return malformed("a leave from a room the other peer does not own")
		}
		return nil
	}
	return malformed("a %s does not belong in the invite scope", it.Kind())
}

// Accepted is told of items from peer once stored: an invitation to us
// becomes a pending room; a removal of us shows as such; a member's leave
// in a room we own is answered by a rekey without it; and a state that
// arrived after items that waited for it has the peer sync again.
func (s *Service) Accepted(peer identity.ID, items []*item.Item) error {
	me := s.h.ID()
	stateCame, messages := false, false
	var membership []item.Space // rooms whose membership items came
	var leaves []*item.Item
	for _, it := range items {
		switch it.Kind() {
		case KindInvite:
			membership = append(membership, it.Space())
			if inv, err := decodeInvite(it); err == nil && inv.invitee == me {
				if err := s.invited(inv); err != nil {
					return err
				}
			}
		case KindState, KindKeys:
			membership, stateCame = append(membership, it.Space()), true
		case KindJoin:
			membership = append(membership, it.Space())
		case KindMessage:
			messages = true
		case KindLeave:
			membership = append(membership, it.Space())
			leaves = append(leaves, it)
		}
	}
	if len(membership) == 0 {
		// Messages change neither who is in a room nor what admits the
		// next frame: the caches stand.
		if messages {
			s.h.Changed()
		}
		return nil
	}
	before := s.actives()
	s.forget(membership...)
	s.mu.Lock()
	s.mu.active = nil
	s.mu.Unlock()
	after := s.actives()
	s.h.Changed()
	s.mu.Lock()
	retry := stateCame && s.mu.retry[peer]
	if retry {
		delete(s.mu.retry, peer)
	}
	s.mu.Unlock()
	// A state changes who shares a room with us: sessions with those
	// peers started with the old scopes, so they start again; and one
	// with the peer that sent the state, if items it sent earlier waited
	// for it.
	changed := map[identity.ID]bool{}
	if retry {
		changed[peer] = true
	}
	for sp := range union(before, after) {
		for _, id := range before[sp] {
			if !slices.Contains(after[sp], id) {
				changed[id] = true
			}
		}
		for _, id := range after[sp] {
			if !slices.Contains(before[sp], id) {
				changed[id] = true
			}
		}
	}
	delete(changed, me)
	if len(changed) > 0 {
		peers := make([]identity.ID, 0, len(changed))
		for id := range changed {
			peers = append(peers, id)
		}
		s.h.Rescope(peers...)
	}
	if stateCame {
		s.keepArrived(membership)
	}
	for _, l := range leaves {
		s.answerLeave(l)
	}
	return nil
}

// invited records an invitation to us as a pending room, unless we are in
// the room already (a repeated invitation changes nothing).
func (s *Service) invited(inv *invite) error {
	sp := inv.it.Space()
	r, err := s.record(sp)
	if err == nil && r.status == statusJoined {
		m, err := s.load(r)
		if err != nil {
			return err
		}
		// In by a state we hold, not merely by this invitation.
		if cur := m.current(); cur != nil && cur.epoch >= inv.epoch && slices.Contains(cur.members, s.h.ID()) {
			return nil
		}
	}
	if err == nil && r.status == statusPending && r.epoch > inv.epoch {
		return nil
	}
	s.h.Log().Info("room invitation", "from", inv.it.Author())
	return s.putRecord(&record{space: sp, owner: inv.it.Author(), nonce: inv.nonce, name: inv.name,
		status: statusPending, epoch: inv.epoch, members: inv.members})
}

// errNoRoom is record's error for a room this node does not know.
var errNoRoom = errors.New("room: no such room")

// record reads one room's record.
func (s *Service) record(sp item.Space) (*record, error) {
	recs, err := s.records()
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if r.space == sp {
			return r, nil
		}
	}
	return nil, errNoRoom
}

// answerLeave rekeys a room we own without a member that asked to leave.
// If this node is off when the leave comes, the owner's node answers it
// when the leave reaches it; until then the leaver holds the current key
// (docs/protocol.md §13.3).
func (s *Service) answerLeave(l *item.Item) {
	r, err := s.record(l.Space())
	if err != nil || r.owner != s.h.ID() || r.status != statusJoined {
		return
	}
	mk, err := decodeMark(l)
	if err != nil {
		return
	}
	m, err := s.load(r)
	if err != nil || m.current() == nil || mk.epoch < m.since(l.Author()) {
		return // not in the room, or a leave from before it was last invited
	}
	if _, err := s.rekey(r, nil, []identity.ID{l.Author()}, false); err != nil {
		s.h.Log().Warn("rekeying after a member left failed", "err", err)
	}
}

// union is the set of rooms in a or b.
func union(a, b map[item.Space][]identity.ID) map[item.Space]bool {
	out := map[item.Space]bool{}
	for sp := range a {
		out[sp] = true
	}
	for sp := range b {
		out[sp] = true
	}
	return out
}
