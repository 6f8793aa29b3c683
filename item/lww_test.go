package item

import (
	"bytes"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestVersionOrder(t *testing.T) {
	a := Version{Created: 10, ID: ID{1}}
	b := Version{Created: 10, ID: ID{2}}
	c := Version{Created: 11, ID: ID{0}}
	for _, tc := range []struct {
		name string
		x, y Version
		want int
	}{
		{"later wins", c, b, 1},
		{"earlier loses", a, c, -1},
		{"tie broken by larger id", b, a, 1},
		{"tie smaller id loses", a, b, -1},
		{"same version", a, a, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.x.Compare(tc.y); got != tc.want {
				t.Fatalf("Compare = %d, want %d", got, tc.want)
			}
			if tc.x.Newer(tc.y) != (tc.want > 0) {
				t.Fatal("Newer disagrees with Compare")
			}
		})
	}
}

func TestResolver(t *testing.T) {
	var r Resolver
	k := Key{Kind: 3, Name: "x"}
	v1 := Version{Created: 1, ID: ID{9}}
	v2 := Version{Created: 2, ID: ID{1}}
	if !r.Add(k, v1) || !r.Add(k, v2) || r.Add(k, v1) {
		t.Fatal("Add winner reports wrong")
	}
	if w, _ := r.Winner(k); w != v2 {
		t.Fatalf("winner %v", w)
	}
	if !r.Remove(k, v2.ID) || r.Remove(k, v2.ID) {
		t.Fatal("Remove reports wrong")
	}
	if w, _ := r.Winner(k); w != v1 {
		t.Fatal("deleting the winner did not promote the previous version")
	}
	r.Remove(k, v1.ID)
	if _, ok := r.Winner(k); ok {
		t.Fatal("empty key has a winner")
	}
}

// peer is an in-memory model of the store rules in docs/protocol.md §5.5 and
// §5.7: it holds verified live items and tombstones, refuses items a held
// tombstone deletes, and resolves LWW over live items.
type peer struct {
	items map[ID]*Item // live items and tombstones: the set it reconciles
	tombs map[ID][]*Item
	lww   Resolver
}

func newPeer() *peer { return &peer{items: map[ID]*Item{}, tombs: map[ID][]*Item{}} }

func keyOf(it *Item) Key {
	return Key{Author: it.Author(), Kind: it.Kind(), Space: it.Space(), Name: string(it.payload[:1])}
}

// receive applies one item and reports whether it was stored.
func (p *peer) receive(t *testing.T, it *Item, now time.Time) bool {
	t.Helper()
	it, err := Decode(it.Bytes()) // as if off the wire
	if err != nil {
		t.Fatal(err)
	}
	if err := it.Verify(now); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.items[it.ID()]; ok {
		return false
	}
	if it.Kind() == KindTombstone {
		target, _ := TombstoneTarget(it)
		p.tombs[target] = append(p.tombs[target], it)
		p.items[it.ID()] = it
		if old, ok := p.items[target]; ok && Deletes(it, old) {
			delete(p.items, target)
			p.lww.Remove(keyOf(old), target)
		}
		return true
	}
	for _, tb := range p.tombs[it.ID()] {
		if Deletes(tb, it) {
			return false // deleted for good: never stored again
		}
	}
	p.items[it.ID()] = it
	p.lww.Add(keyOf(it), VersionOf(it))
	return true
}

// syncFrom gives p every item q holds that p lacks, in a random order.
func (p *peer) syncFrom(t *testing.T, q *peer, rng *rand.Rand, now time.Time) {
	ids := slices.Collect(maps.Keys(q.items))
	slices.SortFunc(ids, ID.Compare)
	rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	for _, id := range ids {
		p.receive(t, q.items[id], now)
	}
}

func (p *peer) liveIDs() []ID {
	ids := slices.Collect(maps.Keys(p.items))
	slices.SortFunc(ids, ID.Compare)
	return ids
}

// TestThreePeers plays LWW ties and tombstone resurrection across three
// peers: A sees everything, B misses the deletion and keeps offering the
// deleted item, C learns the tombstone before it ever sees the item.
func TestThreePeers(t *testing.T) {
	author := testKey(t, 1)
	mallory := testKey(t, 2)
	sp := space(1)
	now := t0.Add(time.Hour)

	// Two versions of key "a" with the same timestamp: the larger ID wins.
	a1 := mustNew(t, author, 5, sp, t0, "a-one")
	a2 := mustNew(t, author, 5, sp, t0, "a-two")
	tieWinner := a1
	if a2.ID().Compare(a1.ID()) > 0 {
		tieWinner = a2
	}
	// Key "b": an item, a later update, and a deletion of the update.
	b1 := mustNew(t, author, 5, sp, t0, "b-one")
	b2 := mustNew(t, author, 5, sp, t0.Add(time.Minute), "b-two")
	delB2, err := NewTombstone(author, b2, t0.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	// Key "c": an item, deleted; and a tombstone from someone else, which
	// must not delete it.
	c1 := mustNew(t, author, 5, sp, t0, "c-one")
	delC1, err := NewTombstone(author, c1, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewTombstone(mallory, a1, t0); err == nil {
		t.Fatal("NewTombstone signed a deletion of someone else's item")
	}
	forgedDel := forgeTombstone(t, mallory, a1)

	for seed := uint64(0); seed < 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		A, B, C := newPeer(), newPeer(), newPeer()
		for _, it := range []*Item{a1, a2, b1, b2, c1, delB2, delC1, forgedDel} {
			A.receive(t, it, now)
		}
		for _, it := range []*Item{a2, b1, b2, c1} { // missed every deletion
			B.receive(t, it, now)
		}
		for _, it := range []*Item{delB2, delC1, a1} { // tombstones first
			C.receive(t, it, now)
		}
		if C.receive(t, c1, now) || C.receive(t, b2, now) {
			t.Fatal("C stored an item it holds a tombstone for")
		}
		// Gossip in random pairwise order until a fixed number of rounds.
		peers := []*peer{A, B, C}
		for range 6 {
			i, j := rng.IntN(3), rng.IntN(3)
			peers[i].syncFrom(t, peers[j], rng, now)
		}
		for _, p := range peers {
			for _, q := range peers {
				p.syncFrom(t, q, rng, now)
			}
		}
		want := A.liveIDs()
		for name, p := range map[string]*peer{"B": B, "C": C} {
			if !slices.Equal(p.liveIDs(), want) {
				t.Fatalf("seed %d: %s did not converge with A", seed, name)
			}
		}
		for name, p := range map[string]*peer{"A": A, "B": B, "C": C} {
			if _, ok := p.items[b2.ID()]; ok {
				t.Fatalf("seed %d: %s resurrected b2", seed, name)
			}
			if _, ok := p.items[c1.ID()]; ok {
				t.Fatalf("seed %d: %s resurrected c1", seed, name)
			}
			if _, ok := p.items[a1.ID()]; !ok {
				t.Fatalf("seed %d: %s let another author delete a1", seed, name)
			}
			if w, _ := p.lww.Winner(keyOf(a1)); w.ID != tieWinner.ID() {
				t.Fatalf("seed %d: %s picked the wrong tie winner", seed, name)
			}
			if w, _ := p.lww.Winner(keyOf(b1)); w.ID != b1.ID() {
				t.Fatalf("seed %d: %s: deleting b2 did not bring b1 back as the value", seed, name)
			}
			if _, ok := p.lww.Winner(keyOf(c1)); ok {
				t.Fatalf("seed %d: %s: fully deleted key still has a value", seed, name)
			}
		}
		// B, which missed the delete, offers b2 again: everyone refuses it.
		for _, p := range peers {
			if p.receive(t, b2, now) {
				t.Fatal("resurrected b2 after convergence")
			}
		}
	}
}

// forgeTombstone makes a valid tombstone signed by k naming someone else's item.
func forgeTombstone(t *testing.T, k interface {
	Signer
}, target *Item) *Item {
	t.Helper()
	id := target.ID()
	payload := append([]byte{0xa1, 0x01, 0x58, 0x20}, id[:]...)
	tb, err := New(k, KindTombstone, target.Space(), target.Created(), payload)
	if err != nil {
		t.Fatal(err)
	}
	if Deletes(tb, target) {
		t.Fatal("a tombstone by another author deletes the target")
	}
	return tb
}

func TestTombstoneRules(t *testing.T) {
	k := testKey(t, 1)
	it := mustNew(t, k, 5, space(1), t0, "x")
	tb, err := NewTombstone(k, it, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := TombstoneTarget(tb); err != nil || got != it.ID() {
		t.Fatalf("target %v %v", got, err)
	}
	if !Deletes(tb, it) {
		t.Fatal("tombstone does not delete its target")
	}
	if _, err := NewTombstone(k, tb, t0); err == nil {
		t.Fatal("tombstone of a tombstone accepted")
	}
	otherSpace := mustNew(t, k, 5, space(2), t0, "x")
	if Deletes(tb, otherSpace) {
		t.Fatal("deletes an item in another space")
	}
	if _, err := TombstoneTarget(it); err == nil {
		t.Fatal("non-tombstone has a target")
	}
	// A tombstone with a malformed payload fails Verify.
	bad, err := New(k, KindTombstone, space(1), t0, bytes.Repeat([]byte{0xff}, 3))
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Verify(t0); err == nil {
		t.Fatal("malformed tombstone verified")
	}
}
