//go:build linux

package lan

import (
	"strings"
	"testing"
	"time"
)

// TestLANFollowsAddress: when alice's interface moves to a new address (a
// DHCP renewal), her transport closes the listener, she listens again at
// the new address with a new advert, and bob finds and syncs with her
// there.
func TestLANFollowsAddress(t *testing.T) {
	l := newLab(t, 2)
	a := l.start(l.nodes[0], helperConfig{Role: "node", Seed: alice, Peers: []byte{bob}, RefreshMs: 200})
	b := l.start(l.nodes[1], helperConfig{Role: "node", Seed: bob, Peers: []byte{alice}})
	if e := a.next("listening", 10*time.Second); !strings.HasPrefix(e.Addr, "10.77.0.1:") {
		t.Fatalf("alice listens at %s, want 10.77.0.1", e.Addr)
	}
	b.next("listening", 10*time.Second)

	// The new address joins as a secondary; deleting the primary would
	// take its secondaries with it unless they are promoted, as a DHCP
	// client's swap leaves the new one.
	l.Run(l.nodes[0], "sysctl", "-qw", "net.ipv4.conf.gw0.promote_secondaries=1")
	l.Run(l.nodes[0], "ip", "addr", "add", "10.77.0.21/24", "dev", "gw0")
	l.Run(l.nodes[0], "ip", "addr", "del", "10.77.0.1/24", "dev", "gw0")
	if e := a.next("relistened", 10*time.Second); !strings.HasPrefix(e.Addr, "10.77.0.21:") {
		t.Fatalf("after the address moved alice listens at %s, want 10.77.0.21", e.Addr)
	}
	// bob's browser sees the new advert; the old one said goodbye.
	for deadline := time.Now().Add(15 * time.Second); ; {
		found := false
		for _, e := range b.browse(ServiceType, 2) {
			if len(e.Peers) > 0 && strings.HasPrefix(e.Peers[0], "10.77.0.21:") {
				found = true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bob never saw an advert at alice's new address")
		}
	}
	b.send("dial 1")
	d := b.next("dialed", 30*time.Second)
	if d.Err != "" || !strings.HasPrefix(d.Addr, "10.77.0.21:") {
		t.Fatalf("bob's dial after alice's address moved: %q at %s, want a sync at 10.77.0.21", d.Err, d.Addr)
	}
}
