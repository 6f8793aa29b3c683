package room

import (
	"encoding/hex"
	"fmt"
	"slices"
	"testing"

	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/store"
)

type storeEntry = store.Entry

func space(t testing.TB, r *apitype.Room) item.Space {
	t.Helper()
	b, err := hex.DecodeString(r.ID)
	if err != nil || len(b) != item.SpaceSize {
		t.Fatalf("room ID %q", r.ID)
	}
	return item.Space(b)
}

// TestLifecycle walks a room through what its members do: create, invite
// two, messages both ways, a message reaching a member through another
// member, a removal, a leave, and a rejoin.
func TestLifecycle(t *testing.T) {
	w := newWorld(t)
	owner, bob, carol := w.node(), w.node(), w.node()
	room := must[*apitype.Room](t)(owner.svc.Create("ops", 0))
	sp := space(t, room)

	must[*apitype.Room](t)(owner.svc.Invite(sp, bob.id()))
	must[*apitype.Room](t)(owner.svc.Invite(sp, carol.id()))
	syncPair(owner, bob)
	syncPair(owner, carol)
	if got := bob.status(sp); got != apitype.RoomPending {
		t.Fatalf("bob's room after the invitation is %q, want pending", got)
	}
	if _, err := bob.svc.Send(sp, "too early", Timer{}); err == nil {
		t.Fatal("a pending member could send")
	}
	must[*apitype.Room](t)(bob.svc.Join(sp))
	must[*apitype.Room](t)(carol.svc.Join(sp))
	syncPair(owner, bob)
	syncPair(owner, carol)

	must[*apitype.RoomMessage](t)(owner.svc.Send(sp, "hello from the owner", Timer{}))
	syncPair(owner, bob)
	must[*apitype.RoomMessage](t)(bob.svc.Send(sp, "hello from bob", Timer{}))
	syncPair(owner, bob)
	// carol was away: she gets both from bob, never meeting the owner.
	syncPair(bob, carol)
	want := []string{"hello from the owner", "hello from bob"}
	for _, n := range []*node{owner, bob, carol} {
		if got := n.texts(sp); !slices.Equal(got, want) {
			t.Fatalf("messages read: %q, want %q", got, want)
		}
	}

	// Remove carol: the next message is under a key she never receives.
	must[*apitype.Room](t)(owner.svc.Remove(sp, carol.id()))
	syncPair(owner, bob)
	syncPair(owner, carol)
	if got := carol.status(sp); got != apitype.RoomRemoved {
		t.Fatalf("carol's room after her removal is %q, want removed", got)
	}
	must[*apitype.RoomMessage](t)(bob.svc.Send(sp, "after carol", Timer{}))
	syncPair(owner, bob)
	syncPair(bob, carol) // moves nothing: carol is out
	// Carol's node no longer syncs the room; put the new items in its store
	// anyway, as a relay that ignored the rules would: it cannot open them.
	copyRoom(t, bob, carol, sp)
	if got := carol.texts(sp); !slices.Equal(got, append(want, "<sealed>")) {
		t.Fatalf("carol, removed, reads %q", got)
	}
	if got := owner.texts(sp); !slices.Equal(got, append(want, "after carol")) {
		t.Fatalf("the owner reads %q", got)
	}

	// Bob leaves: the owner's node answers with a rekey without him.
	must[*apitype.Room](t)(bob.svc.Leave(sp))
	syncPair(owner, bob)
	if got := must[*apitype.RoomMembers](t)(owner.svc.Members(sp)); len(got.Members) != 1 || got.Room.Epoch != 4 {
		t.Fatalf("after bob left the owner sees %d members at epoch %d, want 1 at 4", len(got.Members), got.Room.Epoch)
	}

	// Carol comes back on a new invitation and reads from then on.
	must[*apitype.Room](t)(owner.svc.Invite(sp, carol.id()))
	syncPair(owner, carol)
	if got := carol.status(sp); got != apitype.RoomPending {
		t.Fatalf("carol's room after a new invitation is %q, want pending", got)
	}
	must[*apitype.Room](t)(carol.svc.Join(sp))
	syncPair(owner, carol)
	must[*apitype.RoomMessage](t)(owner.svc.Send(sp, "welcome back", Timer{}))
	syncPair(owner, carol)
	got := carol.texts(sp)
	if got[len(got)-1] != "welcome back" || slices.Contains(got, "after carol") {
		t.Fatalf("carol, back, reads %q", got)
	}
}

// copyRoom puts every item of a room that from holds into to's store,
// bypassing every check.
func copyRoom(t *testing.T, from, to *node, sp item.Space) {
	t.Helper()
	from.db.SpaceItems(sp, func(it *item.Item) error {
		if _, err := to.db.PutItems([]storeEntry{{Item: it, Scopes: []item.Scope{Scope(sp)}}}); err != nil {
			t.Fatal(err)
		}
		return nil
	})
}

// TestLeaveAcrossInvite: bob leaves while the owner is away; before the
// leave reaches it, the owner invites dave (a state that still lists bob).
// When the leave arrives, the owner's node rekeys without bob all the same,
// and carol, still a member, reads the next message while bob cannot.
func TestLeaveAcrossInvite(t *testing.T) {
	w, owner, bob, carol, sp := threeRoom(t)
	dave := w.node()
	must[*apitype.Room](t)(bob.svc.Leave(sp))
	if got := bob.status(sp); got != apitype.RoomLeft {
		t.Fatalf("bob's room after leaving is %q", got)
	}
	if _, err := bob.svc.Send(sp, "one more", Timer{}); err == nil {
		t.Fatal("a member that left could send")
	}
	must[*apitype.Room](t)(owner.svc.Invite(sp, dave.id()))
	syncPair(owner, bob)
	got := must[*apitype.RoomMembers](t)(owner.svc.Members(sp))
	if len(got.Members) != 3 || !slices.Contains(got.Removed, bob.id().String()) {
		t.Fatalf("after bob's leave reached it the owner lists %d members, removed %q", len(got.Members), got.Removed)
	}
	must[*apitype.RoomMessage](t)(owner.svc.Send(sp, "without bob", Timer{}))
	syncPair(owner, carol)
	if got := carol.texts(sp); len(got) != 1 || got[0] != "without bob" {
		t.Fatalf("carol reads %q", got)
	}
	copyRoom(t, owner, bob, sp)
	if got := bob.texts(sp); slices.Contains(got, "without bob") {
		t.Fatalf("bob, gone, reads %q", got)
	}
}

// TestMessageBeforeItsState: a frame whose message comes before the rekey
// it is under (reconciliation sends items in no particular order) stores
// the rekey, refuses the message for now, and rescopes the sender so the
// next session brings it again; then it is stored and read.
func TestMessageBeforeItsState(t *testing.T) {
	w, owner, bob, _, sp := threeRoom(t)
	dave := w.node()
	must[*apitype.Room](t)(owner.svc.Invite(sp, dave.id()))
	msg := must[*apitype.RoomMessage](t)(owner.svc.Send(sp, "under the new epoch", Timer{}))
	m := mustModel(t, owner, sp)
	id, _ := hex.DecodeString(msg.ID)
	it, _, err := owner.db.GetItem(item.ID(id))
	if err != nil {
		t.Fatal(err)
	}
	frame := []*item.Item{it, m.current().it}
	bob.rescoped = nil
	if got := bob.deliver(owner.id(), Scope(sp), frame); got != 1 {
		t.Fatalf("%d of the message and its state stored, want the state alone", got)
	}
	if !slices.Contains(bob.rescoped, owner.id()) {
		t.Fatalf("bob did not rescope the owner after the state came (rescoped %d peers)", len(bob.rescoped))
	}
	if got := bob.deliver(owner.id(), Scope(sp), frame[:1]); got != 1 {
		t.Fatal("the message is refused once its state is stored")
	}
	if got := bob.texts(sp); !slices.Equal(got, []string{"under the new epoch"}) {
		t.Fatalf("bob reads %q", got)
	}
}

// TestSharedRoomsCap: two peers in more rooms than a session carries
// share MaxSharedRooms of them, the same ones on both sides.
func TestSharedRoomsCap(t *testing.T) {
	w := newWorld(t)
	owner, bob := w.node(), w.node()
	for i := range MaxSharedRooms + 2 {
		sp := space(t, must[*apitype.Room](t)(owner.svc.Create(fmt.Sprintf("room %d", i), 0)))
		must[*apitype.Room](t)(owner.svc.Invite(sp, bob.id()))
	}
	syncPair(owner, bob)
	for _, r := range must[[]*apitype.Room](t)(bob.svc.List()) {
		b, _ := hex.DecodeString(r.ID)
		must[*apitype.Room](t)(bob.svc.Join(item.Space(b)))
	}
	a, b := owner.svc.Scopes(bob.id()), bob.svc.Scopes(owner.id())
	if len(a) != 1+MaxSharedRooms || !slices.Equal(a, b) {
		t.Fatalf("the owner offers %d scopes and bob %d (equal: %v), want %d each", len(a), len(b), slices.Equal(a, b), 1+MaxSharedRooms)
	}
}
