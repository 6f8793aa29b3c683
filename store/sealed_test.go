package store

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/item"
)

// xorSealer seals items of kind 9 by XOR with a per-item pad it keeps in
// memory: enough to tell the store's paths apart (only Open gets the bytes
// back, and only until the pad is dropped).
type xorSealer struct{ pads map[item.ID][]byte }

func (x *xorSealer) Seal(it *item.Item) ([]byte, time.Time, bool, error) {
	if it.Kind() != 9 {
		return nil, time.Time{}, false, nil
	}
	raw := it.Bytes()
	pad := bytes.Repeat([]byte{0x5a}, len(raw))
	x.pads[it.ID()] = pad
	for i := range raw {
		raw[i] ^= pad[i]
	}
	return raw, it.Created().Add(time.Hour), true, nil
}

func (x *xorSealer) Open(id item.ID, stored []byte) ([]byte, error) {
	pad, ok := x.pads[id]
	if !ok {
		return nil, errors.New("key destroyed")
	}
	out := bytes.Clone(stored)
	for i := range out {
		out[i] ^= pad[i]
	}
	return out, nil
}

// TestSealedItems: a sealed item is served, listed and fetched like any
// other while its key lives, never stored as its own bytes, and after Burn
// leaves its space and scopes, is not stored again when offered, and the
// store's record still agrees with it on reopen.
func TestSealedItems(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, testKey(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	x := &xorSealer{pads: map[item.ID][]byte{}}
	db.AddSealer(9, x)
	alice := author(t, 1)
	sp, sc := item.Space{3}, item.Scope{4}
	plain := mk(t, alice, sp, 1)
	sealedIt, err := item.New(alice, 9, sp, t0.Add(2*time.Second), []byte("burn me"))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := db.PutItems([]Entry{{Item: plain, Scopes: []item.Scope{sc}}, {Item: sealedIt, Scopes: []item.Scope{sc}}}); err != nil || n != 2 {
		t.Fatalf("put: %d, %v", n, err)
	}
	if raw, err := db.ScopeItem(sc, sealedIt.ID()); err != nil || !bytes.Equal(raw, sealedIt.Bytes()) {
		t.Fatalf("sealed item not served in its scope: %v", err)
	}
	if got, _, err := db.GetItem(sealedIt.ID()); err != nil || got.ID() != sealedIt.ID() {
		t.Fatalf("GetItem of a sealed item: %v", err)
	}
	var listed int
	db.SpaceItems(sp, func(*item.Item) error { listed++; return nil })
	if listed != 2 {
		t.Fatalf("space lists %d items, want 2", listed)
	}
	var due []item.ID
	next, err := db.SealedDue(t0, func(id item.ID) { due = append(due, id) })
	if err != nil || len(due) != 0 || !next.Equal(sealedIt.Created().Add(time.Hour)) {
		t.Fatalf("due at t0: %d, next %v, %v", len(due), next, err)
	}
	db.SealedDue(t0.Add(2*time.Hour), func(id item.ID) { due = append(due, id) })
	if len(due) != 1 || due[0] != sealedIt.ID() {
		t.Fatalf("due two hours later: %v", due)
	}

	delete(x.pads, sealedIt.ID())
	if err := db.Burn([]item.ID{sealedIt.ID()}, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ids := scopeSet(t, db, sc); len(ids) != 1 || ids[0] != plain.ID() {
		t.Fatalf("scope after burn: %v", ids)
	}
	listed = 0
	db.SpaceItems(sp, func(*item.Item) error { listed++; return nil })
	if listed != 1 {
		t.Fatalf("space lists %d items after burn, want 1", listed)
	}
	if n, err := db.PutItems([]Entry{{Item: sealedIt, Scopes: []item.Scope{sc}}}); err != nil || n != 0 {
		t.Fatalf("a burnt item offered again: stored %d, %v", n, err)
	}
	if !db.Burned(sealedIt.ID()) {
		t.Fatal("burnt ID not remembered")
	}
	db.ForgetBurned(t0.Add(2 * time.Hour))
	if db.Burned(sealedIt.ID()) {
		t.Fatal("burnt ID remembered past its time")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(dir, testKey(1), nil)
	if err != nil {
		t.Fatalf("reopen after sealing and burning: %v", err)
	}
	db.Close()
	found := false
	err = ScanAllVersions(dir, testKey(1), func(k, v []byte, _ bool) error {
		if bytes.Contains(v, []byte("payload 1")) {
			found = true
		}
		if bytes.Contains(v, []byte("burn me")) {
			t.Error("the sealed item's own bytes reached badger")
		}
		return nil
	})
	if err != nil || !found {
		t.Fatalf("ScanAllVersions did not find the plain item: %v", err)
	}
}
