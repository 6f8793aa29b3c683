package room

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/wire"
)

// threeRoom is a room of owner, bob and carol, all joined and synced.
func threeRoom(t *testing.T) (w *world, owner, bob, carol *node, sp item.Space) {
	w = newWorld(t)
	owner, bob, carol = w.node(), w.node(), w.node()
	sp = space(t, must[*apitype.Room](t)(owner.svc.Create("ops", 0)))
	must[*apitype.Room](t)(owner.svc.Invite(sp, bob.id(), carol.id()))
	for _, n := range []*node{bob, carol} {
		syncPair(owner, n)
		must[*apitype.Room](t)(n.svc.Join(sp))
		syncPair(owner, n)
	}
	return w, owner, bob, carol, sp
}

// sign makes an item of kind in the room's space with payload w.
func sign(t *testing.T, key *identity.PrivateKey, kind item.Kind, sp item.Space, at time.Time, w any) *item.Item {
	t.Helper()
	payload, err := wire.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	it, err := item.New(key, kind, sp, at, payload)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// refused checks that n stores none of items sent by peer in sc, and that
// its own rules say why with want.
func refused(t *testing.T, n *node, peer identity.ID, sc item.Scope, sp item.Space, want error, items ...*item.Item) {
	t.Helper()
	if got := n.deliver(peer, sc, items); got != 0 {
		t.Fatalf("%d items stored, want none", got)
	}
	for _, it := range items {
		if _, _, err := n.db.GetItem(it.ID()); err == nil {
			t.Fatalf("a refused %s is in the store", it.Kind())
		}
		if want == nil {
			continue
		}
		if err := mustModel(t, n, sp).add(it); !errors.Is(err, want) {
			t.Fatalf("a %s is refused with %v, want %v", it.Kind(), err, want)
		}
	}
}

// TestRefuseRekeyByMember: bob, a member, signs a state that removes
// carol; nobody stores it, and it is refused as not the owner's.
func TestRefuseRekeyByMember(t *testing.T) {
	w, owner, bob, carol, sp := threeRoom(t)
	cur := mustModel(t, owner, sp).current()
	forged := wireState{Nonce: cur.nonce, Name: cur.name, Epoch: cur.epoch + 1, Commit: cur.commit, Keys: cur.keys, Parts: cur.parts}
	forged.Members = [][]byte{owner.id().Bytes(), bob.id().Bytes()}
	forged.Removed = [][]byte{carol.id().Bytes()}
	it := sign(t, bob.key, KindState, sp, w.now, forged)
	refused(t, owner, bob.id(), Scope(sp), sp, ErrNotOwner, it)
	refused(t, carol, bob.id(), Scope(sp), sp, ErrNotOwner, it)
}

// TestRefuseRemovedMemberPost: carol, removed, still holds the old epoch's
// key. A message she writes under it after the rekey's grace, or under the
// new epoch, is refused by every member.
func TestRefuseRemovedMemberPost(t *testing.T) {
	w, owner, bob, carol, sp := threeRoom(t)
	old := mustModel(t, carol, sp).current().epoch
	key, err := carol.svc.epochKey(mustModel(t, carol, sp), old)
	if err != nil {
		t.Fatal(err)
	}
	must[*apitype.Room](t)(owner.svc.Remove(sp, carol.id()))
	syncPair(owner, bob)
	w.now = w.now.Add(StaleGrace + time.Minute)
	post := func(epoch uint64) *item.Item {
		body, _ := wire.Marshal(wireBody{Text: "still here"})
		nonce, ct, err := sealBody(rand.Reader, key, sp, carol.id(), epoch, body)
		if err != nil {
			t.Fatal(err)
		}
		return sign(t, carol.key, KindMessage, sp, w.now, wireMessage{Epoch: epoch, Nonce: nonce, Ciphertext: ct})
	}
	refused(t, bob, carol.id(), Scope(sp), sp, ErrStale, post(old))
	refused(t, owner, carol.id(), Scope(sp), sp, ErrStale, post(old))
	refused(t, bob, carol.id(), Scope(sp), sp, ErrNotMember, post(old+1))
	// Her own service refuses too, with the reason, once the notice of her
	// removal reached it.
	syncPair(owner, carol)
	if _, err := carol.svc.Send(sp, "still here", Timer{}); err == nil || !strings.Contains(err.Error(), "removed") {
		t.Fatalf("a removed member's send: %v", err)
	}
}

// TestRefuseForgedInvite: an invitation signed by someone who does not own
// the room, or naming another invitee, is refused in the invite scope, and
// the room does not appear.
func TestRefuseForgedInvite(t *testing.T) {
	w, owner, bob, _, sp := threeRoom(t)
	dave := w.node()
	cur := mustModel(t, owner, sp).current()
	inv := wireInvite{Nonce: cur.nonce, Name: "ops", Epoch: cur.epoch, Invitee: dave.id().Bytes(),
		Members: [][]byte{owner.id().Bytes(), dave.id().Bytes()}}
	byBob := sign(t, bob.key, KindInvite, sp, w.now, inv)
	refused(t, dave, bob.id(), InviteScope(dave.id(), bob.id()), sp, nil, byBob)
	if err := dave.svc.checkInvite(byBob, dave.id(), bob.id()); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a member's invitation is refused with %v", err)
	}
	// The owner's real invitation to bob, replayed to dave by bob.
	toBob := sign(t, owner.key, KindInvite, sp, w.now, wireInvite{Nonce: cur.nonce, Name: "ops", Epoch: cur.epoch,
		Invitee: bob.id().Bytes(), Members: [][]byte{owner.id().Bytes(), bob.id().Bytes()}})
	refused(t, dave, owner.id(), InviteScope(dave.id(), owner.id()), sp, nil, toBob)
	if rooms := must[[]*apitype.Room](t)(dave.svc.List()); len(rooms) != 0 {
		t.Fatalf("dave sees %d rooms after forged invitations", len(rooms))
	}
}

// TestRefuseHugeName: a room name of 100 KB is refused with a clear error
// and a hint, and nothing is stored; a state with an over-long name signed
// by the owner itself is refused too.
func TestRefuseHugeName(t *testing.T) {
	w, owner, bob, _, sp := threeRoom(t)
	n, _ := owner.db.CountItems()
	_, err := owner.svc.Create(strings.Repeat("x", 100<<10), 0)
	f := fault.As(err)
	if f == nil || f.Kind != fault.Invalid || !strings.Contains(f.Msg, "102400 bytes") || f.Hint == "" {
		t.Fatalf("a 100 KB name: %v", err)
	}
	if m, _ := owner.db.CountItems(); m != n {
		t.Fatalf("%d items stored for a refused room", m-n)
	}
	cur := mustModel(t, owner, sp).current()
	long := wireState{Nonce: cur.nonce, Name: strings.Repeat("x", MaxName+1), Epoch: cur.epoch + 1, Commit: cur.commit,
		Keys: cur.keys, Parts: partsFor(strings.Repeat("x", MaxName+1), 3, 0)}
	for _, id := range cur.members {
		long.Members = append(long.Members, id.Bytes())
	}
	refused(t, bob, owner.id(), Scope(sp), sp, ErrMalformed, sign(t, owner.key, KindState, sp, w.now, long))
}
