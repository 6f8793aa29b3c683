package node

import (
	"testing"

	"github.com/ghostwire/ghostwire/collection"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/store"
)

// TestRestrictedReachesRecipientInAnyCollection: an AMBER indicator dropped
// into a collection only its author holds reaches its recipient in the
// next session, with nothing asked of the recipient, and is listed there
// under the collection's name; a third peer gets nothing of it. Before
// restricted scopes spanned every collection the recipient never offered
// the collection's scopes and held nothing until it wrote into the
// collection itself (issue 19).
func TestRestrictedReachesRecipientInAnyCollection(t *testing.T) {
	a, b, c := newHNode(t, 0x61), newHNode(t, 0x62), newHNode(t, 0x63)
	pairUp(t, a, b)
	pairUp(t, a, c)
	mustSync(t, a, b) // recipient keys
	mustSync(t, a, c)
	const coll = "ops-2026"
	var ids []item.ID
	for _, v := range []string{"one.example", "two.example", "three.example"} {
		x, err := a.coll.Drop(collection.DropRequest{Collection: coll, Type: "domain", Value: v, TLP: "amber", To: []string{b.ID().String()}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, storedItem(t, a, x.ID).ID())
	}
	if got := b.coll.Names(); len(got) != 1 {
		t.Fatalf("before the session b holds collections %v, want only the default", got)
	}
	mustSync(t, b, a) // b dials: its own next session, as after a restart
	res := mustSync(t, a, c)
	for _, id := range ids {
		if !holds(b, id) {
			t.Errorf("b does not hold AMBER item %s addressed to it in %q", id.String()[:8], coll)
		}
		if holds(c, id) || gotID(res.gotB, id) {
			t.Errorf("c received AMBER item %s addressed to b only", id.String()[:8])
		}
	}
	xs, err := b.coll.List(IOCFilter{Collection: coll, IncludeExpired: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(xs) != len(ids) {
		t.Errorf("b lists %d indicators in %q, want %d", len(xs), coll, len(ids))
	}
	for _, x := range xs {
		if x.TLP != "amber" || x.Collection != coll {
			t.Errorf("b lists %s in %q at tlp:%s, want %q at amber", x.Value, x.Collection, x.TLP, coll)
		}
	}
}

// TestUpgradeRestrictedScopes: a restricted indicator stored under the
// per-collection scope of before (as a node stored it until issue 19) is
// indexed into its restricted scope when the upgrade runs, so it is
// offered again.
func TestUpgradeRestrictedScopes(t *testing.T) {
	a, b, c := newHNode(t, 0x64), newHNode(t, 0x65), newHNode(t, 0x66)
	pairUp(t, a, b)
	mustSync(t, a, b)
	amber := dropIOC(t, a, "old-scope.example", "amber", b.ID().String())
	old := item.ScopeOf(item.CollectionSpace(collection.Default), "direct:"+a.ID().Hex()+":"+b.ID().Hex())
	plant(t, c, amber, old)
	restricted := item.RestrictedScope(a.ID(), b.ID())
	inScope := func() bool {
		found := false
		c.db.ScopeIDs(restricted, func(id item.ID) error { found = found || id == amber.ID(); return nil })
		return found
	}
	if inScope() {
		t.Fatal("planted under the old scope, the item is already in the restricted scope")
	}
	// The upgrade ran when c opened, on nothing; run it again as a node
	// opening an old store would.
	if err := c.db.Update(func(tx *store.Tx) error { return tx.Delete("collection-upgrade", []byte("restricted-scopes-v1")) }); err != nil {
		t.Fatal(err)
	}
	if err := c.coll.UpgradeRestricted(); err != nil {
		t.Fatal(err)
	}
	if !inScope() {
		t.Error("after the upgrade the item is not in its restricted scope")
	}
}
