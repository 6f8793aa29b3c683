package room

import (
	"crypto/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/wire"
)

// timedMessage signs a message by n under the room's current epoch with
// the timer fields given as they go on the wire, bypassing Send's checks,
// the way a member running other software could.
func timedMessage(t *testing.T, n *node, sp item.Space, body wireBody, ttl uint64, afterRead bool, at time.Time) *item.Item {
	t.Helper()
	return signMessage(t, n, sp, mustModel(t, n, sp).current().epoch, wireMessage{TTL: ttl, AfterRead: afterRead}, body, at)
}

// timedMessageAt signs a message by n under epoch, without a timer.
func timedMessageAt(t *testing.T, n *node, sp item.Space, epoch uint64, body wireBody, at time.Time) *item.Item {
	t.Helper()
	return signMessage(t, n, sp, epoch, wireMessage{}, body, at)
}

// signMessage seals body under epoch's key as n holds it and signs w with
// its epoch, nonce and ciphertext filled in.
func signMessage(t *testing.T, n *node, sp item.Space, epoch uint64, w wireMessage, body wireBody, at time.Time) *item.Item {
	t.Helper()
	key, err := n.svc.epochKey(mustModel(t, n, sp), epoch)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := wire.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	w.Epoch = epoch
	if w.Nonce, w.Ciphertext, err = sealBody(rand.Reader, key, sp, n.id(), epoch, pt); err != nil {
		t.Fatal(err)
	}
	return sign(t, n.key, KindMessage, sp, at, w)
}

// TestRoomTimer walks what a user does with timers: a room created with
// one, messages that take it or ask for less, one that asks for more
// (refused), a timer set and cleared by the owner only, and what each
// member is told about which timer applies and who set it.
func TestRoomTimer(t *testing.T) {
	_, owner, bob, carol, sp := threeRoom(t)
	// Set by the owner: a rekey with the same members.
	before := mustModel(t, owner, sp).current().epoch
	room := must[*apitype.Room](t)(owner.svc.SetTimer(sp, time.Hour))
	if room.Timer != "1h" || room.Epoch != before+1 || room.Members != 3 {
		t.Fatalf("after set-timer 1h: timer %q, epoch %d (was %d), %d members", room.Timer, room.Epoch, before, room.Members)
	}
	if _, err := bob.svc.SetTimer(sp, time.Minute); fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), "do not own") {
		t.Fatalf("a member setting the timer: %v, want invalid: not the owner", err)
	}
	for _, n := range []*node{bob, carol} {
		syncPair(owner, n)
	}

	plain := must[*apitype.RoomMessage](t)(bob.svc.Send(sp, "takes the room's", Timer{}))
	short := must[*apitype.RoomMessage](t)(bob.svc.Send(sp, "asks for less", Timer{TTL: 10 * time.Minute}))
	if _, err := bob.svc.Send(sp, "asks for more", Timer{TTL: 2 * time.Hour}); fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), "room's timer is 1h") {
		t.Fatalf("a ttl over the room's: %v, want invalid naming the room's timer", err)
	}
	if _, err := bob.svc.Send(sp, "too short", Timer{TTL: 30 * time.Second}); fault.KindOf(err) != fault.Invalid {
		t.Fatalf("a ttl of 30s: %v, want invalid", err)
	}
	syncPair(bob, carol)
	want := map[string]apitype.Burn{
		plain.ID: {TTL: "1h", Source: apitype.TimerRoom, SetBy: owner.id().String()},
		short.ID: {TTL: "10m", Source: apitype.TimerMessage, SetBy: bob.id().String()},
	}
	msgs := must[[]*apitype.RoomMessage](t)(carol.svc.Messages(sp))
	if len(msgs) != 2 {
		t.Fatalf("carol lists %d messages, want 2", len(msgs))
	}
	for _, m := range msgs {
		w := want[m.ID]
		if m.Burn == nil || m.Burn.TTL != w.TTL || m.Burn.Source != w.Source || m.Burn.SetBy != w.SetBy {
			t.Fatalf("%q burns %+v, want %+v", m.Text, m.Burn, w)
		}
		if !m.Burn.Deadline.Equal(m.Created.Add(map[string]time.Duration{"1h": time.Hour, "10m": 10 * time.Minute}[w.TTL])) {
			t.Fatalf("%q: deadline %s, created %s, ttl %s", m.Text, m.Burn.Deadline, m.Created, w.TTL)
		}
	}

	// Cleared: the next epoch has none, and its messages do not burn.
	if room := must[*apitype.Room](t)(owner.svc.SetTimer(sp, 0)); room.Timer != "" {
		t.Fatalf("after set-timer off the room still has timer %q", room.Timer)
	}
	syncPair(owner, bob)
	if m := must[*apitype.RoomMessage](t)(bob.svc.Send(sp, "stays", Timer{})); m.Burn != nil {
		t.Fatalf("a message in a room without a timer burns: %+v", m.Burn)
	}
	// Any later rekey carries the timer forward.
	must[*apitype.Room](t)(owner.svc.SetTimer(sp, 24*time.Hour))
	if room := must[*apitype.Room](t)(owner.svc.Remove(sp, carol.id())); room.Timer != "1d" {
		t.Fatalf("a removal dropped the room's timer: %q", room.Timer)
	}
}

// TestRoomTimerCreate: a room made with a timer has it from epoch 0, and
// a timer out of range is refused before anything is stored.
func TestRoomTimerCreate(t *testing.T) {
	w := newWorld(t)
	owner := w.node()
	room := must[*apitype.Room](t)(owner.svc.Create("timed", 7*24*time.Hour))
	if room.Timer != "7d" || room.Epoch != 0 {
		t.Fatalf("created with 7d: timer %q, epoch %d", room.Timer, room.Epoch)
	}
	for _, d := range []time.Duration{time.Second, item.MinTTL - time.Second, item.MaxTTL + time.Second, item.MinTTL + time.Millisecond} {
		if _, err := owner.svc.Create("bad "+d.String(), d); fault.KindOf(err) != fault.Invalid {
			t.Fatalf("create with ttl %s: %v, want invalid", d, err)
		}
	}
	for _, d := range []time.Duration{item.MinTTL, item.MaxTTL} {
		if _, err := owner.svc.Create("edge "+d.String(), d); err != nil {
			t.Fatalf("create with ttl %s (the edge of the range): %v", d, err)
		}
	}
	if rooms := must[[]*apitype.Room](t)(owner.svc.List()); len(rooms) != 3 {
		t.Fatalf("%d rooms stored, want the 3 valid ones", len(rooms))
	}
}

// TestRoomTimerRefused: what a member running other software might send
// is refused by every other member's node, and nothing is stored: a
// stripped timer, a longer one, one out of range, after-read without a
// ttl, a timer hidden in the body, a message past its deadline, and a
// state with a timer signed by a member.
func TestRoomTimerRefused(t *testing.T) {
	w, owner, bob, carol, sp := threeRoom(t)
	must[*apitype.Room](t)(owner.svc.SetTimer(sp, time.Hour))
	syncPair(owner, bob)
	syncPair(owner, carol)
	hour := uint64(time.Hour / time.Second)
	cases := []struct {
		name string
		it   *item.Item
		want error
	}{
		{"stripped", timedMessage(t, bob, sp, wireBody{Text: "no timer"}, 0, false, w.now), ErrTimer},
		{"longer than the room's", timedMessage(t, bob, sp, wireBody{Text: "two hours"}, 2*hour, false, w.now), ErrTimer},
		{"under a minute", timedMessage(t, bob, sp, wireBody{Text: "59 s"}, 59, false, w.now), ErrMalformed},
		{"over 365 days", timedMessage(t, bob, sp, wireBody{Text: "a year and a second"}, 365*24*hour+1, false, w.now), ErrMalformed},
		{"after-read without a ttl", timedMessage(t, bob, sp, wireBody{Text: "no ttl"}, 0, true, w.now), ErrMalformed},
		{"past its deadline", timedMessage(t, bob, sp, wireBody{Text: "too late"}, 60, false, w.now.Add(-2*time.Minute)), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			refused(t, carol, bob.id(), Scope(sp), sp, c.want, c.it)
		})
	}
	t.Run("a timer in the body", func(t *testing.T) {
		it := timedMessage(t, bob, sp, wireBody{Text: "hidden", TTL: 60}, hour, false, w.now)
		if carol.deliver(bob.id(), Scope(sp), []*item.Item{it}) != 1 {
			t.Fatal("a well-formed payload was refused")
		}
		// The payload is the author's to sign, the body too; one that
		// carries key 2 is never shown as text.
		for _, m := range must[[]*apitype.RoomMessage](t)(carol.svc.Messages(sp)) {
			if m.ID == it.ID().String() && !m.Sealed {
				t.Fatalf("a body with a timer inside was shown: %q", m.Text)
			}
		}
	})
	t.Run("a member's state with a timer", func(t *testing.T) {
		st := mustModel(t, owner, sp).current()
		w2 := wireState{Nonce: mustModel(t, owner, sp).current().nonce, Name: st.name, Epoch: st.epoch + 1,
			Commit: st.commit, Keys: st.keys, Parts: st.parts, TTL: 60}
		for _, id := range st.members {
			w2.Members = append(w2.Members, id.Bytes())
		}
		forged := sign(t, bob.key, KindState, sp, w.now, w2)
		refused(t, carol, bob.id(), Scope(sp), sp, ErrNotOwner, forged)
	})
}

// TestRoomBurnAfterRead: each member's copy burns once that member has
// read it; the author's stays (until its deadline), and a member that
// has not read it keeps it.
func TestRoomBurnAfterRead(t *testing.T) {
	_, owner, bob, carol, sp := threeRoom(t)
	m := must[*apitype.RoomMessage](t)(bob.svc.Send(sp, "read once", Timer{AfterRead: true}))
	if m.Burn == nil || !m.Burn.AfterRead || m.Burn.TTL != "365d" || m.Burn.Source != apitype.TimerMessage {
		t.Fatalf("an after-read message in a room without a timer burns %+v, want after read or in 365d, the author's", m.Burn)
	}
	syncPair(bob, owner)
	syncPair(bob, carol)
	var id item.ID
	for _, b := range bob.burntCandidates(t, sp) {
		if b.String() == m.ID {
			id = b
		}
	}
	if got := owner.texts(sp); !slices.Contains(got, "read once") {
		t.Fatalf("the owner reads %q", got)
	}
	if !slices.Contains(owner.burnt, id) {
		t.Fatal("the owner read the message and its node did not burn it")
	}
	bob.texts(sp)
	for _, n := range []*node{bob, carol} {
		if slices.Contains(n.burnt, id) {
			t.Fatalf("%s burnt a message it had not read (or wrote)", name(n, bob))
		}
	}
}

func name(n, bob *node) string {
	if n == bob {
		return "the author"
	}
	return "a member"
}

// burntCandidates lists the IDs of the room's messages n holds.
func (n *node) burntCandidates(t *testing.T, sp item.Space) []item.ID {
	var out []item.ID
	for _, msg := range mustModel(t, n, sp).messages {
		out = append(out, msg.it.ID())
	}
	return out
}
