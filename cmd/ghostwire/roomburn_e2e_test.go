package main

import (
	"slices"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/localapi/apitype"
)

// TestE2ERoomBurn runs a room timer over the private Tor network with
// three nodes (docs/protocol.md §13.6): alice makes a room whose timer is
// one minute (the shortest), bob writes in it without a timer of his own,
// and every member is told that the room's timer, set by alice, applies.
// carol reads it and stops before the deadline; after it the message is
// gone from alice's and bob's nodes, and from carol's as soon as she
// starts again (before her node serves anything, and before it syncs);
// syncing with the others does not bring it back.
func TestE2ERoomBurn(t *testing.T) {
	parallelTor(t)
	nodes := startRoomTrio(t)
	alice, bob, carol := nodes[0], nodes[1], nodes[2]

	var room apitype.Room
	alice.cli(t, &room, "room", "create", "timed", "--ttl", "1m")
	if room.Timer != "1m" {
		t.Fatalf("room create --ttl 1m answered %+v", room)
	}
	id := room.ID
	for _, n := range []*e2eNode{bob, carol} {
		alice.cli(t, &room, "room", "invite", "timed", n.name)
		n.waitRoomStatus(t, id, apitype.RoomPending)
		n.cli(t, &room, "room", "join", id[:12])
	}
	// bob waits for the rekey that lets carol in, so his message is under
	// an epoch both others hold.
	eventually(t, "bob holds the room's last rekey", e2eSyncLimit, func() (bool, string) {
		var m apitype.RoomMembers
		if err := bob.get("/v1/rooms/"+id+"/members", &m); err != nil {
			return false, err.Error()
		}
		return len(m.Members) == 3 && m.Room.Timer == "1m", ""
	})

	const text = "burns in a minute"
	var sent apitype.RoomMessage
	bob.cli(t, &sent, "room", "send", "timed", text)
	if b := sent.Burn; b == nil || b.TTL != "1m" || b.Source != apitype.TimerRoom || b.SetBy != alice.onion {
		t.Fatalf("bob's message shows burn %+v, want the room's 1m set by alice", sent.Burn)
	}
	deadline := sent.Burn.Deadline
	for _, n := range []*e2eNode{alice, carol} {
		n.waitRoomText(t, id, text)
		var ms []apitype.RoomMessage
		if err := n.get("/v1/rooms/"+id+"/messages", &ms); err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Text == text && (m.Burn == nil || m.Burn.Source != apitype.TimerRoom || m.Burn.SetBy != alice.onion || !m.Burn.Deadline.Equal(deadline)) {
				t.Fatalf("%s shows burn %+v", n.name, m.Burn)
			}
		}
	}
	carol.stop(t)
	if time.Now().After(deadline) {
		t.Fatalf("the message's deadline passed before carol stopped: the test needs a faster network")
	}
	for _, n := range []*e2eNode{alice, bob} {
		eventually(t, n.name+" burns the message at its deadline", time.Until(deadline)+e2eSyncLimit, func() (bool, string) {
			got, err := n.roomTexts(id)
			if err != nil {
				return false, err.Error()
			}
			return !slices.Contains(got, text), ""
		})
	}
	carol.start(t)
	// Her node's first answer: it burnt on start, before serving.
	var first []string
	eventually(t, "carol's node answers", e2eSyncLimit, func() (bool, string) {
		got, err := carol.roomTexts(id)
		if err != nil {
			return false, err.Error()
		}
		first = got
		return true, ""
	})
	if slices.Contains(first, text) {
		t.Fatalf("carol, started after the deadline, lists %q", first)
	}
	carol.waitReachable(t)
	bob.cli(t, &sent, "room", "send", "timed", "after the burn")
	carol.waitRoomText(t, id, "after the burn")
	if got, _ := carol.roomTexts(id); slices.Contains(got, text) {
		t.Fatalf("carol got the burnt message back by syncing: %q", got)
	}
	for _, n := range nodes {
		n.stop(t)
	}
}
