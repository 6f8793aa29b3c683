package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
)

var t0 = time.Unix(1_800_000_000, 0)

func author(t testing.TB, b byte) *identity.PrivateKey {
	k, err := identity.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{b}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mk(t testing.TB, k *identity.PrivateKey, sp item.Space, n int) *item.Item {
	it, err := item.New(k, 7, sp, t0.Add(time.Duration(n)*time.Second), []byte(fmt.Sprint("payload ", n)))
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func scopeSet(t testing.TB, db *DB, s item.Scope) []item.ID {
	var ids []item.ID
	if err := db.ScopeIDs(s, func(id item.ID) error { ids = append(ids, id); return nil }); err != nil {
		t.Fatal(err)
	}
	return ids
}

func openTemp(t testing.TB) *DB {
	db, err := Open(t.TempDir(), testKey(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestItemsStoreAndList(t *testing.T) {
	db := openTemp(t)
	alice := author(t, 1)
	var sp item.Space
	sp[0] = 1
	sc := item.Scope{9}
	var entries []Entry
	for i := 5; i > 0; i-- {
		entries = append(entries, Entry{Item: mk(t, alice, sp, i), Scopes: []item.Scope{sc}})
	}
	n, err := db.PutItems(entries)
	if err != nil || n != 5 {
		t.Fatalf("added %d, %v", n, err)
	}
	if n, _ := db.PutItems(entries); n != 0 {
		t.Fatalf("re-put added %d", n)
	}
	var created []int64
	db.SpaceItems(sp, func(it *item.Item) error { created = append(created, it.Created().Unix()); return nil })
	for i := 1; i < len(created); i++ {
		if created[i] < created[i-1] {
			t.Fatalf("not oldest first: %v", created)
		}
	}
	ids := scopeSet(t, db, sc)
	if len(ids) != 5 {
		t.Fatalf("scope has %d", len(ids))
	}
	for i := 1; i < len(ids); i++ {
		if ids[i-1].Compare(ids[i]) >= 0 {
			t.Fatal("scope not sorted")
		}
	}
	got, dead, err := db.GetItem(entries[0].Item.ID())
	if err != nil || dead || !bytes.Equal(got.Bytes(), entries[0].Item.Bytes()) {
		t.Fatalf("get: %v %v", dead, err)
	}
	if _, _, err := db.GetItem(item.ID{1}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
}

// TestTombstonesConverge delivers a target and its tombstone to three
// stores in every order, plus a forged tombstone, and checks that all end
// with the same scope set, the target deleted, and no resurrection.
func TestTombstonesConverge(t *testing.T) {
	alice := author(t, 1)
	var sp item.Space
	sc := item.Scope{3}
	target := mk(t, alice, sp, 1)
	other := mk(t, alice, sp, 2)
	tomb, err := item.NewTombstone(alice, target, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	orders := [][]*item.Item{
		{target, other, tomb},
		{tomb, target, other},
		{other, tomb, target},
	}
	var sets [][]item.ID
	for i, order := range orders {
		db := openTemp(t)
		for _, it := range order {
			if _, err := db.PutItems([]Entry{{Item: it, Scopes: []item.Scope{sc}}}); err != nil {
				t.Fatal(err)
			}
		}
		// The target offered again (a peer that missed the delete) stays deleted.
		if n, _ := db.PutItems([]Entry{{Item: target, Scopes: []item.Scope{sc}}}); n != 0 {
			t.Fatalf("order %d: target resurrected", i)
		}
		got, dead, err := db.GetItem(target.ID())
		if err != nil || !dead || got.ID() != tomb.ID() {
			t.Fatalf("order %d: get target = %v dead=%v %v", i, got, dead, err)
		}
		n := 0
		db.SpaceItems(sp, func(it *item.Item) error {
			if it.ID() == target.ID() {
				t.Fatalf("order %d: deleted item still listed", i)
			}
			n++
			return nil
		})
		if n != 2 { // other + tombstone
			t.Fatalf("order %d: %d live items", i, n)
		}
		sets = append(sets, scopeSet(t, db, sc))
	}
	for i := 1; i < len(sets); i++ {
		if fmt.Sprint(sets[i]) != fmt.Sprint(sets[0]) {
			t.Fatalf("scope sets differ between delivery orders:\n%v\n%v", sets[0], sets[i])
		}
	}
}

// TestForgedTombstoneDeletesNothing: a tombstone by another author that
// names alice's item, arriving before or after it, leaves it alive.
func TestForgedTombstoneDeletesNothing(t *testing.T) {
	alice, mallory := author(t, 1), author(t, 2)
	var sp item.Space
	target := mk(t, alice, sp, 1)
	// item.NewTombstone refuses to sign for another author's item, so
	// mallory builds hers with item.New and the canonical payload.
	payload := tombPayload(t, alice, target)
	forged, err := item.New(mallory, item.KindTombstone, sp, t0.Add(time.Hour), payload)
	if err != nil {
		t.Fatal(err)
	}
	for _, order := range [][]*item.Item{{forged, target}, {target, forged}} {
		db := openTemp(t)
		for _, it := range order {
			if _, err := db.PutItems([]Entry{{Item: it, Scopes: []item.Scope{{1}}}}); err != nil {
				t.Fatal(err)
			}
		}
		got, dead, err := db.GetItem(target.ID())
		if err != nil || dead || got.ID() != target.ID() {
			t.Fatalf("forged tombstone deleted the item (dead=%v, %v)", dead, err)
		}
	}
	// Alone, the forged tombstone puts no ID but its own into a scope.
	db := openTemp(t)
	if _, err := db.PutItems([]Entry{{Item: forged, Scopes: []item.Scope{{1}}}}); err != nil {
		t.Fatal(err)
	}
	if got := scopeSet(t, db, item.Scope{1}); !slices.Equal(got, []item.ID{forged.ID()}) {
		t.Fatalf("scope holds %x, want only the forged tombstone", got)
	}
}

// tombPayload returns the canonical tombstone payload naming target, taken
// from a genuine tombstone by target's author.
func tombPayload(t *testing.T, k *identity.PrivateKey, target *item.Item) []byte {
	real, err := item.NewTombstone(k, target, t0)
	if err != nil {
		t.Fatal(err)
	}
	return real.Payload()
}

// BenchmarkPutItems stores 150,000 fresh 300-byte items as a sync session
// delivers them (1 MiB frames, one PutItems each) into a new store and
// reports the CPU each item costs, background work (flushes,
// compaction) included: the store's share of ingest (issue 6).
//
//	go test -run '^$' -bench PutItems -benchtime 1x ./store
func BenchmarkPutItems(b *testing.B) {
	const total, perFrame = 150_000, 3_000
	var keys []*identity.PrivateKey
	for a := range 16 {
		keys = append(keys, author(b, byte(0x40+a)))
	}
	var sp item.Space
	sp[0] = 1
	sc := item.Scope{7}
	items := make([]*item.Item, total)
	payload := bytes.Repeat([]byte{'x'}, 220)
	for i := range items {
		it, err := item.New(keys[i%len(keys)], 16, sp, t0.Add(time.Duration(i)*time.Millisecond), append(fmt.Appendf(nil, "%08d", i), payload...))
		if err != nil {
			b.Fatal(err)
		}
		items[i] = it
	}
	b.ResetTimer()
	for range b.N {
		db, err := Open(b.TempDir(), testKey(1), nil)
		if err != nil {
			b.Fatal(err)
		}
		c0, t0 := cpuTime(), time.Now()
		for f := 0; f < total; f += perFrame {
			entries := make([]Entry, 0, perFrame)
			for _, it := range items[f : f+perFrame] {
				entries = append(entries, Entry{Item: it, Scopes: []item.Scope{sc}})
			}
			if n, err := db.PutItems(entries); err != nil || n != perFrame {
				b.Fatalf("stored %d of %d: %v", n, perFrame, err)
			}
		}
		wall := time.Since(t0)
		if err := db.Close(); err != nil { // flushes: its work counts
			b.Fatal(err)
		}
		cpu := cpuTime() - c0
		b.ReportMetric(cpu.Seconds()*1e6/total, "cpu-µs/item")
		b.ReportMetric(wall.Seconds()*1e6/total, "wall-µs/item")
		// Opening checks the store (guard.go): it counts every item
		// against the record, a cost that grows with the store.
		o0 := time.Now()
		if db, err = Open(db.dir, testKey(1), nil); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(o0).Milliseconds()), "open-ms")
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// heardIndex records what a store's IndexWatcher is told.
type heardIndex struct{ joined, left map[item.Scope][]item.ID }

func (h *heardIndex) Indexed(s item.Scope, ids []item.ID) {
	h.joined[s] = append(h.joined[s], ids...)
}
func (h *heardIndex) Unindexed(s item.Scope, ids []item.ID) { h.left[s] = append(h.left[s], ids...) }

// TestOnIndexed: the watcher hears of exactly the IDs that joined a scope
// in committed writes: new items, IndexItem, an item stored before that
// arrives in a new scope; not items stored before in the same scopes, and
// not the target of a tombstone, held or not. A tombstone that deletes an
// item takes it out of its scopes, and joins them.
func TestOnIndexed(t *testing.T) {
	db := openTemp(t)
	h := &heardIndex{joined: map[item.Scope][]item.ID{}, left: map[item.Scope][]item.ID{}}
	db.OnIndexed(h)
	heard := h.joined
	alice := author(t, 1)
	var sp item.Space
	a, b := item.Scope{1}, item.Scope{2}
	x, y := mk(t, alice, sp, 1), mk(t, alice, sp, 2)
	tomb, err := item.NewTombstone(alice, mk(t, alice, sp, 3), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	target, err := item.TombstoneTarget(tomb)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutItems([]Entry{{Item: x, Scopes: []item.Scope{a, b}}, {Item: tomb, Scopes: []item.Scope{a}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutItems([]Entry{{Item: x, Scopes: []item.Scope{a}}, {Item: y}}); err != nil { // x again: nothing new
		t.Fatal(err)
	}
	if err := db.IndexItem(y.ID(), b); err != nil {
		t.Fatal(err)
	}
	sorted := func(ids ...item.ID) []item.ID {
		slices.SortFunc(ids, func(p, q item.ID) int { return bytes.Compare(p[:], q[:]) })
		return ids
	}
	if got, want := sorted(heard[a]...), sorted(x.ID(), tomb.ID()); !slices.Equal(got, want) {
		t.Errorf("scope a: heard %x, want %x", got, want)
	}
	if got, want := sorted(heard[b]...), sorted(x.ID(), y.ID()); !slices.Equal(got, want) {
		t.Errorf("scope b: heard %x, want %x", got, want)
	}
	for s, ids := range heard {
		if got, want := sorted(ids...), scopeSet(t, db, s); !slices.Equal(got, want) {
			t.Errorf("scope %x: heard %d IDs, the store holds %d", s[:1], len(got), len(want))
		}
		if slices.Contains(ids, item.ID(target)) {
			t.Errorf("scope %x: the ID of a tombstone's target that was never held joined it", s[:1])
		}
	}

	// A tombstone arriving in scope c deletes x: x leaves a and b, the
	// tombstone joins c, a and b.
	c := item.Scope{3}
	kill, err := item.NewTombstone(alice, x, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	clear(h.joined)
	if _, err := db.PutItems([]Entry{{Item: kill, Scopes: []item.Scope{c}}}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []item.Scope{a, b} {
		if got := h.left[s]; !slices.Equal(got, []item.ID{x.ID()}) {
			t.Errorf("scope %x: heard %x leave, want x", s[:1], got)
		}
	}
	for _, s := range []item.Scope{a, b, c} {
		if got := h.joined[s]; !slices.Equal(got, []item.ID{kill.ID()}) {
			t.Errorf("scope %x: heard %x join, want the tombstone", s[:1], got)
		}
		if slices.Contains(scopeSet(t, db, s), x.ID()) {
			t.Errorf("scope %x still holds the deleted item", s[:1])
		}
	}
	if _, err := db.ScopeItem(a, x.ID()); !errors.Is(err, ErrNotFound) {
		t.Errorf("ScopeItem serves a deleted item: %v", err)
	}
	if raw, err := db.ScopeItem(a, kill.ID()); err != nil || !bytes.Equal(raw, kill.Bytes()) {
		t.Errorf("ScopeItem does not serve the tombstone in its target's scope: %v", err)
	}
	if _, err := db.ScopeItem(item.Scope{9}, y.ID()); !errors.Is(err, ErrNotFound) {
		t.Errorf("ScopeItem serves an item in a scope it is not in: %v", err)
	}
}

// TestUpgradeFormat1: a store written before scopes were indexed by item,
// with a tombstone's never-held target kept in its scope as a marker, is
// brought up to date when opened: the marker leaves the scope, and a
// tombstone stored afterwards takes its target out of every scope it was in.
func TestUpgradeFormat1(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, testKey(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	alice := author(t, 1)
	var sp item.Space
	a, b := item.Scope{1}, item.Scope{2}
	x := mk(t, alice, sp, 1)
	if _, err := db.PutItems([]Entry{{Item: x, Scopes: []item.Scope{a, b}}}); err != nil {
		t.Fatal(err)
	}
	marker := item.ID{0xee}
	err = db.Update(func(tx *Tx) error { // what format 1 wrote
		for _, s := range []item.Scope{a, b} {
			if err := tx.Delete(bucketItemScope, append(idBytes(x.ID()), s[:]...)); err != nil {
				return err
			}
		}
		if err := tx.Put(bucketScope, append(a[:], marker[:]...), nil); err != nil {
			return err
		}
		return tx.Delete(bucketFormat, []byte("items"))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, err = Open(dir, testKey(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := scopeSet(t, db, a); !slices.Equal(got, []item.ID{x.ID()}) {
		t.Fatalf("scope a holds %x after the upgrade, want only x", got)
	}
	kill, err := item.NewTombstone(alice, x, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutItems([]Entry{{Item: kill, Scopes: []item.Scope{a}}}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []item.Scope{a, b} {
		if got := scopeSet(t, db, s); !slices.Equal(got, []item.ID{kill.ID()}) {
			t.Errorf("scope %x holds %x after the deletion, want only the tombstone", s[:1], got)
		}
	}
}

func idBytes(id item.ID) []byte { return id[:] }

// TestEntryWith: writes an entry carries (With) commit with its item or not
// at all: a failing With leaves neither, a successful one both.
func TestEntryWith(t *testing.T) {
	db := openTemp(t)
	k := author(t, 1)
	sp, sc := item.Space{9}, item.Scope{9}
	refuse := errors.New("refused")
	bad := mk(t, k, sp, 1)
	_, err := db.PutItems([]Entry{{Item: bad, Scopes: []item.Scope{sc}, With: func(tx *Tx) error {
		if err := tx.Put("outbox", []byte("a"), []byte("x")); err != nil {
			return err
		}
		return refuse
	}}})
	if !errors.Is(err, refuse) {
		t.Fatalf("PutItems with a failing With: %v", err)
	}
	if _, _, err := db.GetItem(bad.ID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the item of a failed With was stored: %v", err)
	}
	good := mk(t, k, sp, 2)
	if _, err := db.PutItems([]Entry{{Item: good, Scopes: []item.Scope{sc}, With: func(tx *Tx) error {
		return tx.Put("outbox", []byte("b"), []byte("y"))
	}}}); err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *Tx) error {
		if _, err := tx.Get("outbox", []byte("a")); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("the failed With's write is there: %v", err)
		}
		_, err := tx.Get("outbox", []byte("b"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := scopeSet(t, db, sc); !slices.Equal(got, []item.ID{good.ID()}) {
		t.Fatalf("scope holds %v, want only the committed item", got)
	}
}
