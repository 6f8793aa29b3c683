package node

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/room"
	"github.com/ghostwire/ghostwire/vault"
)

// The room burn tests' three nodes: the owner, a member, and the member
// who writes the timed messages.
var roomBurnSeeds = [3]byte{0xa2, 0xb2, 0xc2}

// roomSync moves, between every two of nodes, each room item one holds in
// a room or invite scope both offer, the way sessions do
// (syncStore.Accept), until nothing moves.
func roomSync(t *testing.T, nodes ...*burnNode) {
	t.Helper()
	for range 4 {
		moved := 0
		for _, from := range nodes {
			for _, to := range nodes {
				if from != to {
					moved += roomPush(t, from, to)
				}
			}
		}
		if moved == 0 {
			return
		}
	}
}

func roomPush(t *testing.T, from, to *burnNode) int {
	t.Helper()
	theirs := to.room.Scopes(from.id)
	moved := 0
	for _, sc := range from.room.Scopes(to.id) {
		if !slices.Contains(theirs, sc) {
			continue
		}
		var raws [][]byte
		from.db.ScopeIDs(sc, func(id item.ID) error {
			if _, _, err := to.db.GetItem(id); err == nil {
				return nil
			}
			if raw, err := from.db.ScopeItem(sc, id); err == nil {
				raws = append(raws, raw)
			}
			return nil
		})
		if len(raws) == 0 {
			continue
		}
		refused, err := syncStore{to.Node}.Accept(from.id, sc, raws)
		if err != nil {
			t.Fatal(err)
		}
		moved += len(raws) - len(refused)
	}
	return moved
}

// openRoomBurnNodes opens the three nodes in dirs at now.
func openRoomBurnNodes(t *testing.T, dirs [3]string, now time.Time, erase bool) [3]*burnNode {
	t.Helper()
	var out [3]*burnNode
	for i, dir := range dirs {
		n, err := openBurnNode(dir, roomBurnSeeds[i], func() time.Time { return now }, erase)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = n
	}
	return out
}

func closeAll(nodes [3]*burnNode) {
	for _, n := range nodes {
		n.close()
	}
}

// roomBurnSetup makes a room of the three nodes in dirs (the first owns
// it), has the third post burnCount messages with unique markers and
// timer, syncs them to the others, closes all three and returns the
// markers and the room.
func roomBurnSetup(t *testing.T, dirs [3]string, timer room.Timer, erase bool) ([]string, item.Space) {
	t.Helper()
	nodes := openRoomBurnNodes(t, dirs, burnT0, erase)
	defer closeAll(nodes)
	owner, member, writer := nodes[0], nodes[1], nodes[2]
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				if _, err := a.AddPeer(b.id, fmt.Sprintf("%x", b.id.Bytes()[:2])); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	deliver(t, member, owner) // the recipient-key certificates
	deliver(t, writer, owner)
	r, err := owner.room.Create("burn", 0)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := owner.room.Find(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := owner.room.Invite(sp, member.id, writer.id); err != nil {
		t.Fatal(err)
	}
	roomSync(t, nodes[:]...)
	for _, n := range []*burnNode{member, writer} {
		if _, err := n.room.Join(sp); err != nil {
			t.Fatal(err)
		}
	}
	roomSync(t, nodes[:]...)
	markers := newMarkers("ROOMMARK")
	for _, m := range markers {
		if _, err := writer.room.Send(sp, "burn this: "+m, timer); err != nil {
			t.Fatal(err)
		}
	}
	roomSync(t, nodes[:]...)
	return markers, sp
}

// TestRoomBurnForensic is TestBurnForensic for rooms (docs/protocol.md
// §13.6, docs/storage.md §4): 100 room messages with unique markers and a
// timer, held by three members; after the timer (each node opened afresh
// past the deadline, which burns on start) and after reading (each
// reader's copy at once, the author's at the deadline), every version
// badger holds, opened with the member's recipient key and the epoch keys
// it unwraps, every vault slot and every file's raw bytes show none of the
// markers and none of the message keys. With erasure off the same check
// finds every marker on every node, so it can fail.
func TestRoomBurnForensic(t *testing.T) {
	check := func(t *testing.T, dirs [3]string, which []int, markers []string, keys []vault.Key, want int) {
		t.Helper()
		for _, i := range which {
			found, usable := forensic(t, dirs[i], roomBurnSeeds[i], markers, keys)
			if found != want || (want == 0 && usable != 0) {
				t.Errorf("node %x: %d of %d markers and %d message keys recoverable, want %d markers", roomBurnSeeds[i], found, burnCount, usable, want)
			}
		}
	}
	newDirs := func(t *testing.T) [3]string { return [3]string{t.TempDir(), t.TempDir(), t.TempDir()} }
	keysOf := func(t *testing.T, dirs [3]string) []vault.Key {
		var keys []vault.Key
		for i, d := range dirs {
			keys = append(keys, vaultKeys(t, d, roomBurnSeeds[i])...)
		}
		if len(keys) != 3*burnCount {
			t.Fatalf("the vaults hold %d keys before the burn, want %d: the timed messages were not all sealed", len(keys), 3*burnCount)
		}
		return keys
	}

	t.Run("ttl", func(t *testing.T) {
		dirs := newDirs(t)
		markers, _ := roomBurnSetup(t, dirs, room.Timer{TTL: burnTTL}, true)
		keys := keysOf(t, dirs)
		check(t, dirs, []int{0, 1, 2}, markers, nil, burnCount) // the check sees them before
		// Opened past the deadline: node.New burns before anything serves.
		closeAll(openRoomBurnNodes(t, dirs, burnT0.Add(burnTTL+time.Second), true))
		check(t, dirs, []int{0, 1, 2}, markers, keys, 0)
	})

	t.Run("after-read", func(t *testing.T) {
		dirs := newDirs(t)
		markers, sp := roomBurnSetup(t, dirs, room.Timer{AfterRead: true, TTL: burnTTL}, true)
		keys := keysOf(t, dirs)
		nodes := openRoomBurnNodes(t, dirs, burnT0.Add(time.Minute), true)
		for _, n := range nodes {
			msgs, err := n.room.Messages(sp)
			if err != nil || len(msgs) != burnCount {
				t.Fatalf("node %x reads %d messages (%v), want %d", n.id.Bytes()[:2], len(msgs), err, burnCount)
			}
		}
		for _, n := range nodes[:2] {
			if msgs, _ := n.room.Messages(sp); len(msgs) != 0 {
				t.Fatalf("a reader lists %d messages after reading them once", len(msgs))
			}
		}
		// The readers' copies are gone; a reader offered them again by the
		// author drops them.
		roomSync(t, nodes[:]...)
		closeAll(nodes)
		check(t, dirs, []int{0, 1}, markers, keys[:2*burnCount], 0)
		check(t, dirs, []int{2}, markers, nil, burnCount) // the author's, until the deadline
		closeAll(openRoomBurnNodes(t, dirs, burnT0.Add(burnTTL+time.Second), true))
		check(t, dirs, []int{0, 1, 2}, markers, keys, 0)
	})

	t.Run("control", func(t *testing.T) {
		dirs := newDirs(t)
		markers, sp := roomBurnSetup(t, dirs, room.Timer{TTL: burnTTL}, false)
		nodes := openRoomBurnNodes(t, dirs, burnT0.Add(burnTTL+time.Second), false)
		for _, n := range nodes {
			if msgs, _ := n.room.Messages(sp); len(msgs) != 0 {
				t.Fatalf("node %x still lists %d messages past the timer: the control did not burn", n.id.Bytes()[:2], len(msgs))
			}
		}
		closeAll(nodes)
		check(t, dirs, []int{0, 1, 2}, markers, nil, burnCount)
	})
}
