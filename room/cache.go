package room

import (
	"maps"
	"slices"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
)

// The admission cache. Every frame a peer sends in a room scope is checked
// against the room as this node knows it (Check), and every stored change
// asks who is in each room now (actives). Both used to rebuild the room
// from the store each time: every item of its space read and decoded,
// every message included, and every state's key wraps parsed — a cost
// that grows with the room's history and was paid per received frame.
// What admission needs is only the membership items (states, key parts,
// invites, joins, leaves; §13.3 judges a message by those, never by other
// messages), and those change only when one of them is stored. So the
// service keeps, per joined room, a model of those items alone, drops it
// when one of them is stored (Accepted, and this node's own operations),
// and hands each caller a private copy to add a frame's items to.

// maxCachedRooms bounds the cache: a node syncs at most MaxSharedRooms
// rooms with one peer, and a model holds its states' key wraps (up to
// 64 KiB an epoch), so rooms beyond this many are rebuilt when needed.
const maxCachedRooms = 2 * MaxSharedRooms

// admission returns a private copy of room r's membership model, building
// and caching it if needed. Adding items to the copy leaves the cache as
// it was.
func (s *Service) admission(r *record) (*model, error) {
	s.mu.Lock()
	m := s.mu.models[r.space]
	s.mu.Unlock()
	if m == nil {
		var err error
		if m, err = s.build(r, false); err != nil {
			return nil, err
		}
		s.mu.Lock()
		if len(s.mu.models) >= maxCachedRooms {
			for sp := range s.mu.models { // any one: this many rooms is rare
				delete(s.mu.models, sp)
				break
			}
		}
		s.mu.models[r.space] = m
		s.mu.Unlock()
	}
	return m.clone(), nil
}

// forget drops the cached models of spaces (all of them without any).
func (s *Service) forget(spaces ...item.Space) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(spaces) == 0 {
		clear(s.mu.models)
		return
	}
	for _, sp := range spaces {
		delete(s.mu.models, sp)
	}
}

// clone copies m so that adding to the copy never changes m: the maps are
// copied, and the slices in them clipped so that an append reallocates.
// The decoded items themselves are shared; nothing changes them once made.
func (m *model) clone() *model {
	c := &model{space: m.space, owner: m.owner, states: maps.Clone(m.states), invites: maps.Clone(m.invites),
		joins: maps.Clone(m.joins), parts: make(map[uint64][]*keysPart, len(m.parts)),
		leaves: make(map[identity.ID][]*mark, len(m.leaves)), messages: slices.Clip(m.messages)}
	for e, p := range m.parts {
		c.parts[e] = slices.Clip(p)
	}
	for id, l := range m.leaves {
		c.leaves[id] = slices.Clip(l)
	}
	return c
}
