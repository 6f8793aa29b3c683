package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/node"
	"github.com/ghostwire/ghostwire/onion/testnet"
)

// connectedPair starts alice and bob on a private Tor network, attached
// to its two client tors (cl), paired and connected, alice holding bob's
// key.
func connectedPair(t testing.TB) (alice, bob *e2eNode, cl []testnet.Node) {
	nw := startNetwork(t, 2)
	cl = nw.Clients()
	alice = newE2ENode(t, "alice", "--tor-control", cl[0].ControlAddr(), "--tor-cookie", cl[0].CookieFile())
	bob = newE2ENode(t, "bob", "--tor-control", cl[1].ControlAddr(), "--tor-cookie", cl[1].CookieFile())
	for _, n := range []*e2eNode{alice, bob} {
		n.start(t)
	}
	for _, n := range []*e2eNode{alice, bob} {
		n.waitReachable(t)
	}
	pair(t, alice, bob)
	waitConnected(t, alice, bob)
	eventually(t, "alice has bob's key", e2eSyncLimit, func() (bool, string) {
		p := alice.peers(t)[bob.onion]
		return p.HasKey, fmt.Sprintf("%+v", p)
	})
	return alice, bob, cl
}

// burnOnce sends a burn-after-read message from alice to bob (through the
// CLI, --burn-after-read --ttl 10m), waits until bob has stored it (alice
// sees it delivered: listing it on bob would read it), has bob read it,
// and returns how long from bob's read until the message is gone from
// both: from bob when his listing returns, from alice once the receipt
// reached her (polled every 10 ms).
func burnOnce(t testing.TB, alice, bob *e2eNode, text string) time.Duration {
	t.Helper()
	var sent node.Message
	alice.cli(t, &sent, "msg", "send", "bob", text, "--burn-after-read", "--ttl", "10m")
	if sent.Burn == nil || !sent.Burn.AfterRead || sent.Burn.TTL != "10m" || sent.Burn.SetBy != alice.onion {
		t.Fatalf("alice's message shows burn %+v", sent.Burn)
	}
	alice.waitMessage(t, "bob", text, node.StateDelivered)
	t0 := time.Now()
	first, err := bob.messages("alice")
	if err != nil {
		t.Fatal(err)
	}
	m, ok := first[text]
	if !ok || m.Burn == nil || !m.Burn.AfterRead || m.Burn.SetBy != alice.onion {
		t.Fatalf("bob's listing shows %+v", m)
	}
	if again, _ := bob.messages("alice"); again[text].ID != "" {
		t.Fatalf("bob lists the message again after reading it")
	}
	deadline := t0.Add(e2eSyncLimit)
	for {
		ms, err := alice.messages("bob")
		if err == nil && ms[text].ID == "" {
			return time.Since(t0)
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice still holds the message %s after bob read it (%v)", e2eSyncLimit, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestE2EBurnAfterRead: over the private Tor network, a message sent with
// --burn-after-read is shown to bob once, with its timer and its setter,
// and then is destroyed on bob's node and, once his read receipt arrives,
// on alice's.
func TestE2EBurnAfterRead(t *testing.T) {
	parallelTor(t)
	alice, bob, _ := connectedPair(t)
	d := burnOnce(t, alice, bob, "burn after reading, over tor")
	t.Logf("read → destroyed on both sides: %s", d.Round(time.Millisecond))
	// Through the API, a ttl out of range is refused with the range, and
	// nothing is stored.
	for _, ttl := range []string{"30s", "366d", "soon"} {
		code, body := alice.raw(t, http.MethodPost, "/v1/messages", map[string]any{"peer": "bob", "text": "not sent", "ttl": ttl})
		if code != http.StatusBadRequest || !strings.Contains(string(body), "invalid") {
			t.Errorf("ttl %q: %d %s, want 400 invalid", ttl, code, body)
		}
	}
	if ms, _ := alice.messages("bob"); ms["not sent"].ID != "" {
		t.Fatal("a refused message was stored")
	}
	// Read through the CLI, the listing says how it burns and who set it,
	// once; then it is gone on both sides.
	var sent node.Message
	alice.cli(t, &sent, "msg", "send", "bob", "the cli reads this once", "--ttl", "1h", "--burn-after-read")
	alice.waitMessage(t, "bob", "the cli reads this once", node.StateDelivered)
	first := gw(t, "", "msg", "read", "alice", "--data", bob.data)
	first.expect(t, 0, "the cli reads this once  [burns after reading or at", "")
	if !strings.Contains(first.stdout, ", set by alice]") {
		t.Fatalf("bob's CLI does not say who set the timer:\n%s", first.stdout)
	}
	if out := gw(t, "", "msg", "read", "alice", "--data", bob.data); strings.Contains(out.stdout, "the cli reads this once") {
		t.Fatal("bob's CLI shows the message a second time")
	}
	eventually(t, "alice's copy burnt", e2eSyncLimit, func() (bool, string) {
		ms, err := alice.messages("bob")
		return err == nil && ms["the cli reads this once"].ID == "", fmt.Sprint(err)
	})
	alice.stop(t)
	bob.stop(t)
}

// BenchmarkBurnLatency: read (bob lists) → the message destroyed on both
// sides, over an open session on the private Tor network, beside one
// onion round trip between the same tors (the receipt crosses once).
func BenchmarkBurnLatency(b *testing.B) {
	const burns = 10
	for b.Loop() {
		alice, bob, cl := connectedPair(b)
		var lat []time.Duration
		for i := range burns {
			lat = append(lat, burnOnce(b, alice, bob, fmt.Sprintf("burn %d", i)))
		}
		alice.stop(b)
		bob.stop(b)
		slices.Sort(lat)
		med := lat[len(lat)/2]
		rtt := echoRoundTrip(b, cl[0], cl[1], burns)
		b.ReportMetric(float64(med.Microseconds())/1000, "ms-read-to-burnt-p50")
		b.ReportMetric(float64(lat[0].Microseconds())/1000, "ms-read-to-burnt-min")
		b.ReportMetric(float64(rtt.Microseconds())/1000, "ms-onion-round-trip-p50")
		b.Logf("read → destroyed on both sides over %d burns: min %s, median %s, max %s (polled every 10 ms); echo round trip over the same tors: %s",
			burns, lat[0].Round(time.Millisecond), med.Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond), rtt.Round(time.Millisecond))
	}
}
