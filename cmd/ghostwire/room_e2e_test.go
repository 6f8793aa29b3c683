package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ghostwire/ghostwire/localapi/apitype"
)

// roomTexts lists what n reads in room, "<sealed>" for what it cannot open.
func (n *e2eNode) roomTexts(room string) ([]string, error) {
	var ms []apitype.RoomMessage
	if err := n.get("/v1/rooms/"+room+"/messages", &ms); err != nil {
		return nil, err
	}
	var out []string
	for _, m := range ms {
		if m.Sealed {
			out = append(out, "<sealed>")
		} else {
			out = append(out, m.Text)
		}
	}
	return out, nil
}

// waitRoomText waits until n reads text in room.
func (n *e2eNode) waitRoomText(t testing.TB, room, text string) {
	t.Helper()
	eventually(t, fmt.Sprintf("%s reads %q in the room", n.name, text), e2eSyncLimit, func() (bool, string) {
		got, err := n.roomTexts(room)
		if err != nil {
			return false, err.Error()
		}
		return slices.Contains(got, text), fmt.Sprintf("%q", got)
	})
}

// waitRoomStatus waits until n lists room with status.
func (n *e2eNode) waitRoomStatus(t testing.TB, room, status string) {
	t.Helper()
	eventually(t, fmt.Sprintf("%s sees the room %s", n.name, status), e2eSyncLimit, func() (bool, string) {
		var rs []apitype.Room
		if err := n.get("/v1/rooms", &rs); err != nil {
			return false, err.Error()
		}
		for _, r := range rs {
			if r.ID == room {
				return r.Status == status, r.Status
			}
		}
		return false, "absent"
	})
}

// startRoomTrio starts alice, bob and carol on a private Tor network,
// paired, alice holding the others' recipient keys and they hers (a
// message to each: the first sync brings them), as a room's owner needs.
func startRoomTrio(t *testing.T) []*e2eNode {
	t.Helper()
	checkBaseline(t)
	nw := startNetwork(t, 0)
	var nodes []*e2eNode
	for _, name := range []string{"alice", "bob", "carol"} {
		n := newE2ENode(t, name, "--testnet", nw.Dir)
		n.start(t)
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		n.waitReachable(t)
	}
	pair(t, nodes...)
	alice := nodes[0]
	for _, n := range nodes[1:] {
		var sent struct{ ID string }
		alice.cli(t, &sent, "msg", "send", n.name, "hello "+n.name)
		n.waitMessage(t, "alice", "hello "+n.name, "received", "read")
	}
	return nodes
}

// TestE2ERoom runs a room over the private Tor network with three nodes:
// alice creates it and invites bob and carol; messages go both ways; carol,
// offline while alice writes, gets the message from bob with alice stopped;
// alice removes carol, whose node then reads nothing new; bob leaves and
// alice's node rekeys without him; carol rejoins on a new invitation.
func TestE2ERoom(t *testing.T) {
	parallelTor(t)
	nodes := startRoomTrio(t)
	alice, bob, carol := nodes[0], nodes[1], nodes[2]

	var room apitype.Room
	alice.cli(t, &room, "room", "create", "ops")
	if room.Status != apitype.RoomJoined || room.Members != 1 || room.Epoch != 0 {
		t.Fatalf("room create answered %+v", room)
	}
	id := room.ID
	for _, n := range []*e2eNode{bob, carol} {
		alice.cli(t, &room, "room", "invite", "ops", n.name)
		n.waitRoomStatus(t, id, apitype.RoomPending)
		var pending []apitype.Room
		n.cli(t, &pending, "room", "join")
		if len(pending) != 1 || pending[0].ID != id || pending[0].InvitedBy != alice.onion {
			t.Fatalf("%s's pending invitations: %+v", n.name, pending)
		}
		n.cli(t, &room, "room", "join", id[:12])
		if room.Status != apitype.RoomJoined {
			t.Fatalf("%s joined: %+v", n.name, room)
		}
	}

	var sent apitype.RoomMessage
	alice.cli(t, &sent, "room", "send", "ops", "from alice")
	bob.waitRoomText(t, id, "from alice")
	carol.waitRoomText(t, id, "from alice")
	bob.cli(t, &sent, "room", "send", "ops", "from bob")
	alice.waitRoomText(t, id, "from bob")
	carol.waitRoomText(t, id, "from bob")

	// carol is away while alice writes; then alice is away and carol gets
	// it from bob.
	carol.stop(t)
	alice.cli(t, &sent, "room", "send", "ops", "while carol was out")
	bob.waitRoomText(t, id, "while carol was out")
	alice.stop(t)
	carol.start(t)
	carol.waitReachable(t)
	carol.waitRoomText(t, id, "while carol was out")
	alice.start(t)
	alice.waitReachable(t)

	// alice removes carol: what is posted from then on never reaches her.
	alice.cli(t, &room, "room", "remove", "ops", "carol")
	if room.Members != 2 {
		t.Fatalf("after the removal: %+v", room)
	}
	carol.waitRoomStatus(t, id, apitype.RoomRemoved)
	bob.waitRoomStatus(t, id, apitype.RoomJoined)
	eventually(t, "bob holds the rekey", e2eSyncLimit, func() (bool, string) {
		var m apitype.RoomMembers
		if err := bob.get("/v1/rooms/"+id+"/members", &m); err != nil {
			return false, err.Error()
		}
		return len(m.Members) == 2 && m.Room.Epoch == room.Epoch, fmt.Sprintf("%d members, epoch %d", len(m.Members), m.Room.Epoch)
	})
	bob.cli(t, &sent, "room", "send", "ops", "after carol")
	alice.waitRoomText(t, id, "after carol")
	if got, _ := carol.roomTexts(id); slices.Contains(got, "after carol") {
		t.Fatalf("carol, removed, reads %q", got)
	}
	if code, body := carol.raw(t, "POST", "/v1/rooms/"+id+"/messages", map[string]string{"text": "still here?"}); code < 400 || !strings.Contains(string(body), "removed") {
		t.Fatalf("carol's send after her removal: %d %s", code, body)
	}

	// bob leaves; alice's node answers with a rekey without him.
	bob.cli(t, &room, "room", "leave", "ops")
	if room.Status != apitype.RoomLeft {
		t.Fatalf("room leave answered %+v", room)
	}
	eventually(t, "alice rekeys without bob", e2eSyncLimit, func() (bool, string) {
		var m apitype.RoomMembers
		if err := alice.get("/v1/rooms/"+id+"/members", &m); err != nil {
			return false, err.Error()
		}
		return len(m.Members) == 1, fmt.Sprintf("%d members, epoch %d", len(m.Members), m.Room.Epoch)
	})

	// carol rejoins on a new invitation and reads what comes next.
	alice.cli(t, &room, "room", "invite", "ops", "carol")
	carol.waitRoomStatus(t, id, apitype.RoomPending)
	carol.cli(t, &room, "room", "join", "ops")
	alice.cli(t, &sent, "room", "send", "ops", "welcome back")
	carol.waitRoomText(t, id, "welcome back")
	if got, _ := carol.roomTexts(id); slices.Contains(got, "after carol") {
		t.Fatalf("carol, back, reads what was posted while she was out: %q", got)
	}
	for _, n := range nodes {
		n.stop(t)
	}
}
