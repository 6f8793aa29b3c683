//go:build linux

package lan

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestLANPairingAdvert: in the lab, a pairing advert carries exactly
// v=1 and the nameplate; the joiner finds it by nameplate at the
// advertiser's address, finds nothing for another nameplate, and refuses
// to choose when two devices show the same one (as a device imitating
// another's attempt would).
func TestLANPairingAdvert(t *testing.T) {
	l := newLab(t, 3)
	a := l.start(l.nodes[0], helperConfig{Role: "node", Seed: alice})
	b := l.start(l.nodes[1], helperConfig{Role: "node", Seed: bob})
	c := l.start(l.nodes[2], helperConfig{Role: "node", Seed: carol})
	for _, h := range []*helper{a, b, c} {
		h.next("listening", 10*time.Second)
	}
	a.send("pairadv 47")
	if e := a.next("pairadv", 5*time.Second); e.Err != "" {
		t.Fatal(e.Err)
	}

	seen := b.browse(PairingServiceType, 2)
	if len(seen) != 1 || !slices.Equal(seen[0].Text, []string{"v=1", "n=47"}) || !strings.HasPrefix(seen[0].Peers[0], "10.77.0.1:") {
		t.Fatalf("pairing adverts seen from bob: %+v; want one, TXT [v=1 n=47], at 10.77.0.1", seen)
	}

	b.send("findpair 47 5")
	if e := b.next("foundpair", 10*time.Second); e.Err != "" || !strings.HasPrefix(e.Addr, "10.77.0.1:") {
		t.Fatalf("finding nameplate 47: %q at %s, want alice's address", e.Err, e.Addr)
	}
	b.send("findpair 12 2")
	if e := b.next("foundpair", 10*time.Second); !strings.Contains(e.Err, "no device on the link shows") {
		t.Fatalf("finding nameplate 12, which nobody shows: %q at %s", e.Err, e.Addr)
	}

	c.send("pairadv 47")
	if e := c.next("pairadv", 5*time.Second); e.Err != "" {
		t.Fatal(e.Err)
	}
	b.send("findpair 47 5")
	if e := b.next("foundpair", 10*time.Second); !strings.Contains(e.Err, "two devices on the link show") {
		t.Fatalf("two devices show nameplate 47, yet bob chose %s (%q)", e.Addr, e.Err)
	}
}
