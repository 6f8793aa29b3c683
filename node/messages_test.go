package node

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/ghostwire/ghostwire/dm"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/store"
)

// TestFollowOpensEachMessageOnce: a --follow stream lists again on every
// change; with its cache of opened bodies the second listing opens nothing
// (it lists every message even once our key can no longer open them), while
// a plain listing still opens each one.
func TestFollowOpensEachMessageOnce(t *testing.T) {
	a, b := messagingPair(t, 0x91, 0x92)
	const count = 20
	for i := range count {
		if _, err := a.dm.Send(b.ID(), fmt.Sprintf("message %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	opened := dm.NewCache()
	first, err := a.dm.List(nil, opened)
	if err != nil || len(first) != count || opened.Len() != count {
		t.Fatalf("first listing: %d messages, %d opened, %v; want %d", len(first), opened.Len(), err, count)
	}
	other, err := identity.NewKeyFromSeed(bytes.Repeat([]byte{0x93}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if a.rkey, err = recipient.Derive(other); err != nil {
		t.Fatal(err)
	}
	again, err := a.dm.List(nil, opened)
	if err != nil || len(again) != count {
		t.Fatalf("listing again with the cache: %d messages, %v; want all %d without opening any", len(again), err, count)
	}
	for i := range again {
		if again[i].Text != first[i].Text || again[i].ID != first[i].ID {
			t.Fatalf("message %d listed as %q, first as %q", i, again[i].Text, first[i].Text)
		}
	}
	if plain, _ := a.dm.List(nil, nil); len(plain) != 0 {
		t.Fatalf("a plain listing with the wrong key opened %d messages: the cache leaked into it", len(plain))
	}
}

// messagingPair returns two nodes (not running) of the identity seeds
// given, a having b as a peer whose recipient key it knows, so a can send
// b messages.
func messagingPair(t *testing.T, seedA, seedB byte) (a, b *Node) {
	t.Helper()
	a, _ = bareNode(t, seedA, nil)
	b, bdb := bareNode(t, seedB, nil)
	if _, err := a.AddPeer(b.ID(), "b"); err != nil {
		t.Fatal(err)
	}
	// What a sync does when b's certificate arrives.
	cert := ownCert(t, bdb)
	if _, err := a.db.PutItems([]store.Entry{{Item: cert}}); err != nil {
		t.Fatal(err)
	}
	if err := a.rememberPeerKey(b.ID(), cert); err != nil {
		t.Fatal(err)
	}
	return a, b
}
