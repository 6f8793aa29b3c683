package quota

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/store"
)

func testIDs(t *testing.T, seeds ...byte) []identity.ID {
	t.Helper()
	var out []identity.ID
	for _, s := range seeds {
		k, err := identity.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{s}, 64)))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, k.ID())
	}
	return out
}

func testDB(t *testing.T) (*store.DB, string) {
	t.Helper()
	s, err := identity.GenerateSecrets(bytes.NewReader(bytes.Repeat([]byte{1}, 128)))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "store")
	db, err := store.Open(dir, s.StoreKey[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	return db, dir
}

// TestQuota walks the limits' edges: an unverified author is admitted up to
// its item quota and not one more, in one batch or across batches, a
// verified one gets VerifiedFactor times as much, our own items count
// against nothing, the byte quota bites on its own, an undone or cancelled
// admission gives its room back, and the counts survive a reopened store.
func TestQuota(t *testing.T) {
	ids := testIDs(t, 2, 3, 4, 5)
	me, flood, friend, peer := ids[0], ids[1], ids[2], ids[3]
	verified := func(id identity.ID) bool { return id == friend }
	cfg := Config{Author: Limits{Items: 5, Bytes: 1000}, Peer: Limits{Items: 100, Bytes: 1 << 20}, VerifiedFactor: 3}
	db, _ := testDB(t)
	defer db.Close()
	l := New(db, cfg, verified, nil)

	admitN := func(b *Batch, author identity.ID, n, size int) (admitted int, err error) {
		for range n {
			if err = b.Admit(me, author, peer, size); err != nil {
				return admitted, err
			}
			admitted++
		}
		return admitted, nil
	}
	b := l.Batch()
	got, err := admitN(b, flood, 4, 10) // max-1
	if err != nil || got != 4 {
		t.Fatalf("4 items under a quota of 5: %d admitted, %v", got, err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	b = l.Batch()
	got, err = admitN(b, flood, 3, 10) // max, then max+1
	var over *OverError
	if got != 1 || !errors.As(err, &over) || !errors.Is(err, ErrOver) || over.Who != Author || over.ID != flood {
		t.Fatalf("3 more: %d admitted, %v; want 1 and an OverError naming the author", got, err)
	}
	b.Undo(me, flood, peer, 10) // the store held it already: room again
	if err := b.Admit(me, flood, peer, 10); err != nil {
		t.Fatalf("after an undo: %v", err)
	}
	b.Cancel() // nothing of this batch was stored
	if u, _ := l.Usage(Author, flood); u.Items != 4 || u.Bytes != 40 {
		t.Fatalf("after a cancelled batch: %+v; want the 4 committed", u)
	}

	b = l.Batch()
	if got, err := admitN(b, friend, 20, 10); got != 15 || !errors.As(err, &over) || over.Limit.Items != 15 {
		t.Fatalf("a verified author: %d admitted, %v; want 15 (3×5)", got, err)
	}
	if got, err := admitN(b, me, 50, 10); got != 50 || err != nil {
		t.Fatalf("our own items: %d admitted, %v; want all", got, err)
	}
	if !l.Reached(peer) || New(db, cfg, verified, nil).Reached(peer) {
		t.Fatal("Reached: want true once an author was refused, false on a ledger that refused nothing")
	}
	before, _ := l.Usage(Author, friend)
	if err := b.Over(me, friend, peer, 10); !errors.As(err, &over) {
		t.Fatalf("Over for an author at its quota: %v", err)
	}
	if err := b.Over(me, me, peer, 10); err != nil {
		t.Fatalf("Over for our own item: %v", err)
	}
	if after, _ := l.Usage(Author, friend); after != before {
		t.Fatalf("Over counted: %+v → %+v", before, after)
	}
	if err := b.Admit(me, ids[2], peer, 5000); !errors.As(err, &over) {
		t.Fatalf("an item past the verified byte quota (3000): %v", err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	hits := l.Hits()
	if len(hits) != 2 || hits[0].Refused == 0 || hits[0].Limit.Items == 0 {
		t.Fatalf("hits %+v; want the flood author and the friend, each with a refusal", hits)
	}
	if u, _ := l.Usage(Peer, peer); u.Items != 4+15 {
		t.Fatalf("the peer's count: %+v; want 19 (ours are not counted)", u)
	}

	// A new ledger over the same store reads the counts back.
	l2 := New(db, cfg, verified, nil)
	b = l2.Batch()
	if got, err := admitN(b, flood, 2, 10); got != 1 || !errors.As(err, &over) {
		t.Fatalf("after a restart: %d more admitted, %v; want the one left of 5", got, err)
	}
}
