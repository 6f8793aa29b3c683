package store

import (
	"slices"
	"testing"

	"github.com/ghostwire/ghostwire/item"
)

// TestReleaseMapped: releasing the store's mapped pages finds the store's
// mappings (badger maps its value log and write-ahead logs from the start)
// and changes nothing anyone reads: every item stored before and after is
// read back the same, and the store takes writes after it.
func TestReleaseMapped(t *testing.T) {
	db := openTemp(t)
	alice := author(t, 1)
	var sp item.Space
	sp[0] = 2
	sc := item.Scope{7}
	var entries []Entry
	for i := range 200 {
		entries = append(entries, Entry{Item: mk(t, alice, sp, i), Scopes: []item.Scope{sc}})
	}
	if _, err := db.PutItems(entries[:100]); err != nil {
		t.Fatal(err)
	}
	before := scopeSet(t, db, sc)
	n, err := db.ReleaseMapped()
	if err != nil || n == 0 {
		t.Fatalf("ReleaseMapped released %d bytes: %v; want the store's mappings", n, err)
	}
	if got := scopeSet(t, db, sc); !slices.Equal(got, before) {
		t.Fatalf("after the release the scope lists %d items, before %d", len(got), len(before))
	}
	if _, err := db.PutItems(entries[100:]); err != nil {
		t.Fatal(err)
	}
	db.ReleaseMapped()
	for _, e := range entries {
		it, dead, err := db.GetItem(e.Item.ID())
		if err != nil || dead || it.ID() != e.Item.ID() {
			t.Fatalf("item %d not read back after releases: %v", e.Item.ID(), err)
		}
	}
}
