package store

import (
	"bytes"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/item"
)

// TestPutItemsAcrossTransactions stores one batch several times larger than
// a write transaction (PutItems splits it), with tombstones on both sides of
// the split: one arriving in the first transaction for an item in the last
// (it must stay out), one in the last for an item in the first (it must be
// removed). The scope then holds every live ID once and no deleted one, and a second delivery of the
// whole batch adds nothing.
func TestPutItemsAcrossTransactions(t *testing.T) {
	db := openTemp(t)
	alice := author(t, 1)
	var sp item.Space
	sc := item.Scope{5}
	const n = 6000 // ~340 B each: about 4 transactions
	var items []*item.Item
	for i := range n {
		it, err := item.New(alice, 7, sp, t0.Add(time.Duration(i)*time.Millisecond), bytes.Repeat([]byte{byte(i)}, 200))
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	early, late := items[0], items[n-1]
	tombLate, err := item.NewTombstone(alice, late, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tombEarly, err := item.NewTombstone(alice, early, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	batch := append([]*item.Item{tombLate}, items...)
	batch = append(batch, tombEarly)
	if total := len(batch) * (batch[1].Size() + 4*96); total < 3*maxTxnBytes {
		t.Fatalf("batch of ~%d bytes does not span several transactions", total)
	}
	entries := make([]Entry, len(batch))
	for i, it := range batch {
		entries[i] = Entry{Item: it, Scopes: []item.Scope{sc}}
	}
	added, err := db.PutItems(entries)
	if err != nil {
		t.Fatal(err)
	}
	// Everything but the target of the tombstone that came first.
	if want := len(batch) - 1; added != want {
		t.Errorf("added %d, want %d", added, want)
	}
	for _, target := range []*item.Item{early, late} {
		if _, dead, err := db.GetItem(target.ID()); err != nil || !dead {
			t.Errorf("item %d of the batch: dead=%v, %v; want deleted", target.Created().Sub(t0).Milliseconds(), dead, err)
		}
	}
	ids := scopeSet(t, db, sc)
	seen := map[item.ID]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("scope lists %x twice", id[:4])
		}
		seen[id] = true
	}
	if len(ids) != len(batch)-2 || seen[early.ID()] || seen[late.ID()] { // the live items and two tombstones
		t.Errorf("scope holds %d IDs (deleted ones: %v, %v), want %d without the deleted", len(ids), seen[early.ID()], seen[late.ID()], len(batch)-2)
	}
	if again, err := db.PutItems(entries); err != nil || again != 0 {
		t.Errorf("second delivery added %d (%v), want 0", again, err)
	}
}
