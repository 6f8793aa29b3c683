package contacts

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/store"
)

func testID(t *testing.T, b byte) identity.ID {
	t.Helper()
	k, err := identity.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k.ID()
}

// TestPairedAndLAN: a pairing and a LAN address are kept with the contact,
// survive a rename, and need the contact to exist.
func TestPairedAndLAN(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "store"), bytes.Repeat([]byte{7}, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Unix(1_800_000_000, 0).UTC()
	b := New(db, testID(t, 1), func() time.Time { return now })
	bob := testID(t, 2)
	if err := b.MarkPaired(bob); fault.KindOf(err) != fault.UnknownPeer {
		t.Fatalf("MarkPaired of a stranger: %v, want unknown_peer", err)
	}
	if err := b.Add(bob, "bob"); err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort("10.77.0.2:7700")
	if err := b.MarkPaired(bob); err != nil {
		t.Fatal(err)
	}
	if err := b.SetLAN(bob, addr); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(bob, "robert"); err != nil { // a rename keeps both
		t.Fatal(err)
	}
	c, err := b.Get(bob)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "robert" || !c.Paired.Equal(now) || c.LAN != addr {
		t.Fatalf("contact %+v; want robert, paired at %v, at %v", c, now, addr)
	}
	if err := b.SetLAN(bob, netip.AddrPort{}); err != nil {
		t.Fatal(err)
	}
	if c, _ := b.Get(bob); c.LAN.IsValid() {
		t.Fatalf("SetLAN with no address kept %v", c.LAN)
	}
}
