//go:build linux

package lan

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestLANAdvertRotates: when the hour turns, a node withdraws its advert
// and publishes one with a new instance name, host label and tokens, and
// its peer still recognises it (the neighbouring window is accepted).
func TestLANAdvertRotates(t *testing.T) {
	l := newLab(t, 2)
	a := l.start(l.nodes[0], helperConfig{Role: "node", Seed: alice, Peers: []byte{bob}, RefreshMs: 200})
	b := l.start(l.nodes[1], helperConfig{Role: "node", Seed: bob, Peers: []byte{alice}})
	a.next("listening", 10*time.Second)
	b.next("listening", 10*time.Second)

	// aliceAdverts browses from bob's namespace for 2 s and returns the
	// adverts at alice's address.
	aliceAdverts := func() []helperEvent {
		var out []helperEvent
		for _, e := range b.browse(ServiceType, 2) {
			if len(e.Peers) > 0 && strings.HasPrefix(e.Peers[0], "10.77.0.1:") {
				out = append(out, e)
			}
		}
		return out
	}
	before := aliceAdverts()
	if len(before) != 1 {
		t.Fatalf("before the hour turns, alice has %d adverts on the link, want 1: %+v", len(before), before)
	}
	a.send("jump 3600")
	a.next("jumped", 5*time.Second)
	time.Sleep(time.Second) // a few refresh periods: the new advert is up, the old withdrawn
	after := aliceAdverts()
	if len(after) != 1 {
		t.Fatalf("after the hour turns, alice has %d adverts on the link, want 1 (the old one withdrawn): %+v", len(after), after)
	}
	if after[0].Instance == before[0].Instance {
		t.Errorf("the instance name %s did not change with the hour", before[0].Instance)
	}
	for _, tok := range before[0].Text[1:] {
		if slices.Contains(after[0].Text, tok) {
			t.Errorf("token %s survived the rotation", tok)
		}
	}
	b.send("dial 1")
	if d := b.next("dialed", 30*time.Second); d.Err != "" {
		t.Errorf("bob no longer finds alice after her advert rotated: %s", d.Err)
	}
}
