package node

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/keys"
	"github.com/ghostwire/ghostwire/room"
	"github.com/ghostwire/ghostwire/vault"
)

// The room key tests' three nodes: the owner and two members.
var roomKeySeeds = [3]byte{0xa7, 0xb7, 0xc7}

// roomKeyNodes opens the three nodes in dirs, with key vaults, on clock c.
// Each has a burn vault too, which setting a room's timer asks for; the
// test never posts a timed message, so the handles a restart leaves open
// are closed at the end.
func roomKeyNodes(t *testing.T, dirs [3]string, c *encClock, erase bool) [3]*burnNode {
	t.Helper()
	var out [3]*burnNode
	for i, d := range dirs {
		bv, err := vault.Open(filepath.Join(d, "vault"), encSecrets(roomKeySeeds[i]).StoreKey[:], rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { bv.Close() })
		out[i] = openEncNode(t, d, roomKeySeeds[i], c, erase, func(cfg *Config) { cfg.Vault = bv })
	}
	return out
}

// roomKeyRound has every node post one message with a fresh marker,
// syncs, and checks that every node reads every marker posted so far in
// epoch (after a restart, so the keys come from disk, not memory).
func roomKeyRound(t *testing.T, nodes [3]*burnNode, sp item.Space, epoch uint64, tag string, markers *[]string) {
	t.Helper()
	for i, n := range nodes {
		m := fmt.Sprintf("ROOMKEY-%s-e%d-%d-%d", tag, epoch, len(*markers), i)
		if _, err := n.room.Send(sp, m, room.Timer{}); err != nil {
			t.Fatalf("node %d cannot send under epoch %d: %v", i, epoch, err)
		}
		*markers = append(*markers, m)
	}
	roomSync(t, nodes[:]...)
	for i, n := range nodes {
		got := roomTexts(t, n, sp, epoch)
		for _, m := range *markers {
			if !got[m] {
				t.Fatalf("node %d does not read %q of epoch %d", i, m, epoch)
			}
		}
	}
}

// roomTexts is what n reads of the room's epoch.
func roomTexts(t *testing.T, n *burnNode, sp item.Space, epoch uint64) map[string]bool {
	t.Helper()
	msgs, err := n.room.Messages(sp)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range msgs {
		if m.Epoch == epoch && !m.Sealed {
			out[m.Text] = true
		}
	}
	return out
}

// restartAll closes the nodes and opens them again from their data
// directories. The control (erase false) keeps them running: a start
// sweeps the key vault of the slots no live record names, before a test
// can switch erasure off, which would destroy what the control keeps.
func restartAll(t *testing.T, nodes *[3]*burnNode, dirs [3]string, c *encClock, erase bool) {
	t.Helper()
	if !erase {
		return
	}
	for _, n := range nodes {
		n.close()
	}
	*nodes = roomKeyNodes(t, dirs, c, erase)
}

// heldSlotKey returns the key of the key vault slot that keeps epoch's
// key of sp in the key vault at path, if there is one.
func heldSlotKey(t *testing.T, path string, seed byte, sp item.Space, epoch uint64) (vault.Key, bool) {
	t.Helper()
	v, err := vault.Open(path, encSecrets(seed).StoreKey[:], rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	var k vault.Key
	found := false
	want := room.HeldRef(sp, epoch)
	v.Slots(func(slot uint32, ref vault.Ref, err error) {
		if err == nil && ref == want {
			k, _ = v.Key(slot, ref)
			found = true
		}
	})
	return k, found
}

// TestRoomKeysSurviveRotation is docs/protocol.md §13.4 "Keeping epoch
// keys": a room whose membership does not change while every member's
// encryption subkey rotates three times and the first ones are destroyed
// (node restarts between) is read and written by every member; after a
// rekey and the grace, the old epoch's messages no longer open on any
// member, and a forensic search of each data directory with the passphrase
// (every file, every badger version, the key vault, every recipient key
// found: TestEncryptionForensic's search) opens none of them. With
// erasure off the same search opens them, so it can fail.
func TestRoomKeysSurviveRotation(t *testing.T) {
	for _, erase := range []bool{true, false} {
		t.Run(fmt.Sprintf("erase=%v", erase), func(t *testing.T) { roomKeysRun(t, erase) })
	}
}

func roomKeysRun(t *testing.T, erase bool) {
	c := newEncClock(time.Now().Truncate(time.Millisecond))
	dirs := [3]string{t.TempDir(), t.TempDir(), t.TempDir()}
	nodes := roomKeyNodes(t, dirs, c, erase)
	open := true // the nodes; closed before the forensic search
	defer func() {
		for _, n := range nodes {
			if open {
				n.close()
			}
		}
	}()
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				if _, err := a.AddPeer(b.id, fmt.Sprintf("%x", b.id.Bytes()[:2])); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	owner := func() *burnNode { return nodes[0] }
	certsToOwner := func() {
		deliver(t, nodes[1], owner())
		deliver(t, nodes[2], owner())
	}
	certsToOwner()
	r, err := owner().room.Create("rotating", 0)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := owner().room.Find(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := owner().room.Invite(sp, nodes[1].id, nodes[2].id); err != nil {
		t.Fatal(err)
	}
	roomSync(t, nodes[:]...)
	for _, n := range nodes[1:] {
		if _, err := n.room.Join(sp); err != nil {
			t.Fatal(err)
		}
	}
	roomSync(t, nodes[:]...)
	first, err := owner().room.List()
	if err != nil || len(first) != 1 {
		t.Fatalf("the owner lists %d rooms (%v)", len(first), err)
	}
	epoch := first[0].Epoch
	tag := fmt.Sprintf("%x", nodes[0].id.Bytes()[:3])
	var old []string
	roomKeyRound(t, nodes, sp, epoch, tag, &old)
	// The subkeys every member's wrap of this epoch was sealed to.
	var sealedTo [3][]vault.Key
	for i, d := range dirs {
		held := map[vault.Key]bool{}
		for e := range epoch + 1 { // the owner's genesis epoch too
			if k, ok := heldSlotKey(t, keyVaultPath(d), roomKeySeeds[i], sp, e); ok {
				held[k] = true
			} else if e == epoch {
				t.Fatalf("node %d does not keep the epoch key it opened", i)
			}
		}
		for _, k := range vaultKeysAt(t, keyVaultPath(d), roomKeySeeds[i]) {
			if !held[k] {
				sealedTo[i] = append(sealedTo[i], k)
			}
		}
		if len(sealedTo[i]) != 1 {
			t.Fatalf("node %d's key vault holds %d keys besides the epoch key; want its one subkey", i, len(sealedTo[i]))
		}
	}

	// Three rotations of every member's subkey, then the grace: the
	// subkeys the epoch key was sealed to are destroyed.
	for range 3 {
		c.add(keys.DefaultEncryptionPeriod + time.Minute)
		for _, n := range nodes {
			if err := n.TickKeys(); err != nil {
				t.Fatal(err)
			}
		}
		restartAll(t, &nodes, dirs, c, erase)
		roomKeyRound(t, nodes, sp, epoch, tag, &old)
	}
	c.add(keys.DefaultEncryptionGrace + time.Minute)
	for _, n := range nodes {
		if err := n.TickKeys(); err != nil {
			t.Fatal(err)
		}
		if erase && vaultHasAny(t, n.dir, n.seed(), sealedTo[n.index()]) {
			t.Fatal("a subkey the epoch key was sealed to is still in the key vault after three rotations and the grace")
		}
	}
	restartAll(t, &nodes, dirs, c, erase)
	roomKeyRound(t, nodes, sp, epoch, tag, &old)

	// Rekeys with the same members (setting the room's timer, and
	// clearing it): sealed to each member's newest subkey, since every
	// older one is gone.
	certsToOwner()
	if _, err := owner().room.SetTimer(sp, time.Hour); err != nil {
		t.Fatal(err)
	}
	after, err := owner().room.SetTimer(sp, 0)
	if err != nil {
		t.Fatal(err)
	}
	next := after.Epoch
	roomSync(t, nodes[:]...)
	for _, n := range nodes {
		if err := n.TickKeys(); err != nil { // marks the old epoch superseded
			t.Fatal(err)
		}
	}
	var fresh []string
	roomKeyRound(t, nodes, sp, next, tag, &fresh)
	for i, n := range nodes {
		if got := roomTexts(t, n, sp, epoch); len(got) != len(old) {
			t.Fatalf("node %d reads %d of %d old-epoch messages within the grace after the rekey", i, len(got), len(old))
		}
	}
	var heldKeys []vault.Key // what opened the old epoch on each node until now
	for i, d := range dirs {
		k, ok := heldSlotKey(t, keyVaultPath(d), roomKeySeeds[i], sp, epoch)
		if !ok {
			t.Fatalf("node %d keeps no key for the old epoch in its key vault", i)
		}
		heldKeys = append(heldKeys, k)
	}

	c.add(keys.DefaultEncryptionGrace + time.Minute)
	for _, n := range nodes {
		if err := n.TickKeys(); err != nil {
			t.Fatal(err)
		}
	}
	restartAll(t, &nodes, dirs, c, erase)
	for i, n := range nodes {
		if got := roomTexts(t, n, sp, epoch); len(got) != 0 {
			t.Fatalf("node %d still reads %d old-epoch messages after the grace past the rekey", i, len(got))
		}
	}
	roomKeyRound(t, nodes, sp, next, tag, &fresh) // the current epoch still works
	for _, n := range nodes {
		n.close()
	}
	open = false

	opened, usable := 0, 0
	for i, d := range dirs {
		o, u := roomKeyForensic(t, d, roomKeySeeds[i], old, append(sealedTo[i], heldKeys[i]))
		opened, usable = opened+o, usable+u
	}
	if erase && (opened != 0 || usable != 0) {
		t.Fatalf("a forensic search opens %d old-epoch messages and finds %d keys that open them; want 0", opened, usable)
	}
	if !erase && opened != 3*len(old) {
		t.Fatalf("control (erasure off): the search opens %d of %d old-epoch messages; want all, or it cannot fail", opened, 3*len(old))
	}
}

func (b *burnNode) index() int {
	for i, s := range roomKeySeeds {
		if s == b.seed() {
			return i
		}
	}
	return -1
}

func (b *burnNode) seed() byte {
	for _, s := range roomKeySeeds {
		if encSecrets(s).Key.ID() == b.id {
			return s
		}
	}
	return 0
}

func vaultHasAny(t *testing.T, dir string, seed byte, ks []vault.Key) bool {
	for _, k := range vaultKeysAt(t, keyVaultPath(dir), seed) {
		for _, w := range ks {
			if k == w {
				return true
			}
		}
	}
	return false
}

// roomKeyForensic searches a copy of the data directory dir as a thief
// holding the passphrase would, for the room messages whose texts are
// markers: every item version badger holds, opened with every recipient
// key the copy yields (encCandidates: the derived key, the key vault's
// keys, earlier subkey secrets found anywhere) through room.Recover; and
// for the keys that opened them before (secrets: the subkeys the epoch
// was sealed to, the slot that kept the epoch key), in the key vault and
// in every file and badger version. It returns the messages opened and
// the keys found.
func roomKeyForensic(t *testing.T, dir string, seed byte, markers []string, secrets []vault.Key) (opened, usable int) {
	t.Helper()
	cp := t.TempDir()
	if err := os.CopyFS(cp, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	disk := readEncDisk(t, cp, seed)
	var items []*item.Item
	for _, b := range disk {
		if it, err := item.Decode(b); err == nil {
			items = append(items, it)
		}
	}
	id := encSecrets(seed).Key.ID()
	seen := map[string]bool{}
	for _, k := range encCandidates(t, cp, seed, secrets, disk) {
		for _, text := range room.Recover(items, id, k.WithOlder()) {
			seen[text] = true
		}
	}
	for _, m := range markers {
		if seen[m] || disk.has([]byte(m)) {
			opened++
		}
	}
	in := vaultKeysAt(t, keyVaultPath(cp), seed)
	for _, k := range secrets {
		for _, v := range in {
			if v == k {
				usable++
			}
		}
		if disk.has(k[:]) {
			usable++
		}
	}
	return opened, usable
}

// TestRoomRekeyWaitsForExpiredKey: the owner never seals an epoch key to
// a member's certificate that has ended (its subkey may be destroyed);
// the rekey is refused with what to do, and goes through once a sync
// brings the member's next certificate — as a direct message waits.
func TestRoomRekeyWaitsForExpiredKey(t *testing.T) {
	c := newEncClock(time.Now().Truncate(time.Millisecond))
	dirs := [3]string{t.TempDir(), t.TempDir(), t.TempDir()}
	nodes := roomKeyNodes(t, dirs, c, true)
	defer func() {
		for _, n := range nodes {
			n.close()
		}
	}()
	owner, member := nodes[0], nodes[1]
	pairBurnNodes(t, owner, member)
	r, err := owner.room.Create("waiting", 0)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := owner.room.Find(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := owner.room.Invite(sp, member.id); err != nil {
		t.Fatal(err)
	}
	// The member's certificate ends (period plus grace) without a sync
	// bringing its next one.
	c.add(keys.DefaultEncryptionPeriod + keys.DefaultEncryptionGrace + time.Minute)
	if err := owner.TickKeys(); err != nil {
		t.Fatal(err)
	}
	_, err = owner.room.SetTimer(sp, time.Hour)
	if err == nil || !strings.Contains(err.Error(), "ended") {
		t.Fatalf("a rekey sealed to an ended certificate: %v; want it refused, saying the key ended", err)
	}
	if err := member.TickKeys(); err != nil {
		t.Fatal(err)
	}
	deliver(t, member, owner)
	if _, err := owner.room.SetTimer(sp, time.Hour); err != nil {
		t.Fatalf("the rekey after the member's next certificate arrived: %v", err)
	}
}

// TestRoomLeftKeysDestroyed: a member that left a room keeps its epoch
// keys for the grace, then destroys them, as if a later epoch had come.
func TestRoomLeftKeysDestroyed(t *testing.T) {
	c := newEncClock(time.Now().Truncate(time.Millisecond))
	dirs := [3]string{t.TempDir(), t.TempDir(), t.TempDir()}
	nodes := roomKeyNodes(t, dirs, c, true)
	defer func() {
		for _, n := range nodes {
			n.close()
		}
	}()
	owner, member := nodes[0], nodes[1]
	pairBurnNodes(t, owner, member)
	r, err := owner.room.Create("leaving", 0)
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := owner.room.Find(r.ID)
	if _, err := owner.room.Invite(sp, member.id); err != nil {
		t.Fatal(err)
	}
	roomSync(t, owner, member)
	if _, err := member.room.Join(sp); err != nil {
		t.Fatal(err)
	}
	roomSync(t, owner, member)
	joined, err := member.room.Send(sp, "before leaving", room.Timer{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := heldSlotKey(t, keyVaultPath(dirs[1]), roomKeySeeds[1], sp, joined.Epoch); !ok {
		t.Fatal("the member keeps no key for the epoch it wrote in")
	}
	if _, err := member.room.Leave(sp); err != nil {
		t.Fatal(err)
	}
	if err := member.TickKeys(); err != nil { // marks it superseded
		t.Fatal(err)
	}
	c.add(keys.DefaultEncryptionGrace + time.Minute)
	if err := member.TickKeys(); err != nil {
		t.Fatal(err)
	}
	if _, ok := heldSlotKey(t, keyVaultPath(dirs[1]), roomKeySeeds[1], sp, joined.Epoch); ok {
		t.Fatal("the member still keeps the epoch key of a room it left, past the grace")
	}
}
