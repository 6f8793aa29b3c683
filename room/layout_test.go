package room

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
)

// TestStanzaSize: stanzaSize, on which the layout of §13.4 rests, is what
// one more recipient adds to a sealed payload.
func TestStanzaSize(t *testing.T) {
	var pubs []*recipient.PublicKey
	for range 2 {
		k, _ := identity.GenerateKey(rand.Reader)
		rk, _ := recipient.Derive(k)
		pubs = append(pubs, rk.Public())
	}
	one, err := recipient.Seal(rand.Reader, make([]byte, KeySize), nil, pubs[:1])
	if err != nil {
		t.Fatal(err)
	}
	two, err := recipient.Seal(rand.Reader, make([]byte, KeySize), nil, pubs)
	if err != nil {
		t.Fatal(err)
	}
	if d := len(two) - len(one); d != stanzaSize {
		t.Fatalf("a recipient adds %d bytes, stanzaSize is %d", d, stanzaSize)
	}
}

// TestLayoutEdges: at the limits (1,000 members, the longest name, the
// most removal notices) every item of a rekey fits within item.MaxSize,
// and 1,001 members are refused.
func TestLayoutEdges(t *testing.T) {
	k, _ := identity.GenerateKey(rand.Reader)
	rk, _ := recipient.Derive(k)
	name := strings.Repeat("n", MaxName)
	nonce := make([]byte, NonceSize)
	r := &record{space: Space(k.ID(), nonce), owner: k.ID(), nonce: nonce, name: name}
	// A pool of members with their own recipient keys: a sealed payload
	// wraps once per distinct recipient.
	pool, pubPool := make([]identity.ID, MaxMembers), make([]*recipient.PublicKey, MaxMembers)
	for i := range pool {
		o, _ := identity.GenerateKey(rand.Reader)
		ork, _ := recipient.Derive(o)
		pool[i], pubPool[i] = o.ID(), ork.Public()
	}
	pool[0], pubPool[0] = k.ID(), rk.Public()
	for _, c := range []struct{ members, removed int }{{1, 999}, {64, 0}, {65, 0}, {500, 500}, {999, 1}, {1000, 0}} {
		members, pubs := pool[:c.members], pubPool[:c.members]
		removed := pool[MaxMembers-c.removed:]
		st, parts, _, err := makeState(k, rand.Reader, r, 1, members, pubs, removed, 0, time.Now())
		if err != nil {
			t.Fatalf("%d members, %d removed: %v", c.members, c.removed, err)
		}
		if got, want := uint64(1+len(parts)), partsFor(name, c.members, c.removed); got != want {
			t.Errorf("%d members: %d items, the layout says %d", c.members, got, want)
		}
		if _, err := decodeState(st); err != nil {
			t.Errorf("%d members, %d removed: %v", c.members, c.removed, err)
		}
		for _, it := range append(parts, st) {
			if it.Size() > item.MaxSize {
				t.Errorf("%d members: a %s of %d bytes", c.members, it.Kind(), it.Size())
			}
		}
	}
}
