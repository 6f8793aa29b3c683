// The 100-member room runs without the race detector: it is one goroutine
// opening 100 real stores two at a time and syncing them by hand, and the
// room service starts no goroutines, so there is nothing for the detector
// to see; under -race the same work took most of the package's five
// minutes in the full suite. The service's code runs under -race in the
// package's other tests. `./run test` runs this in its second, plain go
// test, after the race suite.

//go:build !race

package room

import (
	"slices"
	"testing"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/localapi/apitype"
)

// TestHundredMembers: a room of 100 members (the owner and 99), each with
// its own store, opened two at a time. After one member is removed, every
// remaining member reads the next message and the removed one, holding
// the message's items, cannot.
func TestHundredMembers(t *testing.T) {
	w := newWorld(t)
	owner := w.node()
	members := make([]*node, 99)
	for i := range members {
		members[i] = w.node()
		members[i].close()
	}
	sp := space(t, must[*apitype.Room](t)(owner.svc.Create("hundred", 0)))
	ids := make([]identity.ID, len(members))
	for i, m := range members {
		ids[i] = m.id()
	}
	must[*apitype.Room](t)(owner.svc.Invite(sp, ids...))
	visit := func(fn func(m *node)) {
		for _, m := range members {
			m.open()
			fn(m)
			m.close()
		}
	}
	visit(func(m *node) {
		syncPair(owner, m)
		must[*apitype.Room](t)(m.svc.Join(sp))
		syncPair(owner, m)
	})
	if n := len(must[*apitype.RoomMembers](t)(owner.svc.Members(sp)).Members); n != 100 {
		t.Fatalf("%d members, want 100", n)
	}

	removed := members[42]
	must[*apitype.Room](t)(owner.svc.Remove(sp, removed.id()))
	cur := mustModel(t, owner, sp).current()
	if cur.parts != 2 || len(cur.members) != 99 {
		t.Fatalf("the rekey has %d parts for %d members, want 2 for 99", cur.parts, len(cur.members))
	}
	must[*apitype.RoomMessage](t)(owner.svc.Send(sp, "after the removal", Timer{}))
	visit(func(m *node) {
		syncPair(owner, m)
		if m == removed {
			if got := m.status(sp); got != apitype.RoomRemoved {
				t.Errorf("the removed member's room is %q, want removed", got)
			}
			copyRoom(t, owner, m, sp)
			if got := m.texts(sp); slices.Contains(got, "after the removal") || got[len(got)-1] != "<sealed>" {
				t.Errorf("the removed member reads %q", got)
			}
			return
		}
		if got := m.texts(sp); len(got) != 1 || got[0] != "after the removal" {
			t.Errorf("member %s reads %q", m.id().Short(), got)
		}
	})
}
