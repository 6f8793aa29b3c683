package room

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/localapi/apitype"
)

// TestAdmissionCache: the cached model a frame is checked against (Check,
// cache.go) follows the membership items as they are stored. With bob's
// cache filled, the owner's rekey that removes carol reaches bob: a message
// under the new epoch is then admitted (the cache has its state), and
// carol's post under the old epoch past StaleGrace is refused (the cache
// knows the epoch ended). Checking a frame leaves the cache as it was: a
// message admitted in one frame's test is not in the next one's model.
func TestAdmissionCache(t *testing.T) {
	w, owner, bob, carol, sp := threeRoom(t)
	r, err := bob.svc.record(sp)
	if err != nil {
		t.Fatal(err)
	}
	first := must[*apitype.RoomMessage](t)(carol.svc.Send(sp, "before", Timer{}))
	if bob.deliver(carol.id(), Scope(sp), carolItems(t, carol, sp)) == 0 {
		t.Fatal("carol's message was refused")
	}
	if m, err := bob.svc.admission(r); err != nil || len(m.messages) != 0 {
		t.Fatalf("the cached model holds %d messages (%v), want none: a frame's items changed the cache", len(m.messages), err)
	}
	oldEpoch := mustModel(t, bob, sp).current().epoch

	must[*apitype.Room](t)(owner.svc.Remove(sp, carol.id()))
	after := must[*apitype.RoomMessage](t)(owner.svc.Send(sp, "after the removal", Timer{}))
	syncPair(owner, bob)
	if got := bob.texts(sp); len(got) != 2 || got[0] != first.Text || got[1] != after.Text {
		t.Fatalf("bob reads %q, want the message from before and the one under the new epoch", got)
	}
	late := timedMessageAt(t, carol, sp, oldEpoch, wireBody{Text: "still writing"}, w.now.Add(StaleGrace+time.Minute))
	refused(t, bob, carol.id(), Scope(sp), sp, ErrStale, late)
	if m, err := bob.svc.admission(r); err != nil || m.add(late) == nil || !errors.Is(m.add(late), ErrStale) {
		t.Fatalf("the cache does not know that epoch %d ended", oldEpoch)
	}
}

// carolItems lists the messages carol holds in the room.
func carolItems(t *testing.T, n *node, sp item.Space) []*item.Item {
	t.Helper()
	var out []*item.Item
	for _, msg := range mustModel(t, n, sp).messages {
		out = append(out, msg.it)
	}
	return out
}

// TestAdmissionCacheConcurrent: sessions check frames at once while the
// cache is dropped and rebuilt under them (run it with -race): each
// Check's copy is its own, so every frame's test sees the room as stored.
func TestAdmissionCacheConcurrent(t *testing.T) {
	_, _, bob, carol, sp := threeRoom(t)
	frame := signMessage(t, carol, sp, mustModel(t, carol, sp).current().epoch, wireMessage{}, wireBody{Text: "at once"}, time.Now())
	var wg sync.WaitGroup
	refused := make(chan string, 8)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if !bob.svc.Check(carol.id(), Scope(sp))(frame) {
					refused <- "a check refused a member's message"
					return
				}
				if g == 0 {
					bob.svc.forget(sp)
				}
				if len(bob.svc.actives()[sp]) != 3 {
					refused <- "the room's members went missing"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(refused)
	for msg := range refused {
		t.Fatal(msg)
	}
}
