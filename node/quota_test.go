package node

import (
	"flag"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/collection"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/ioc"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/quota"
	"github.com/ghostwire/ghostwire/store"
)

// floodItems signs count distinct CLEAR indicators by key, dated a minute
// ago, for the default collection's public scope.
func floodItems(tb testing.TB, key *identity.PrivateKey, from, count int) []*item.Item {
	tb.Helper()
	sp := item.CollectionSpace(collection.Default)
	out := make([]*item.Item, 0, count)
	for i := from; i < from+count; i++ {
		rec, err := ioc.NewRecord(ioc.TypeDomain, fmt.Sprintf("f%d.flood.example", i), ioc.TLPClear)
		if err != nil {
			tb.Fatal(err)
		}
		if err := rec.Normalize(); err != nil {
			tb.Fatal(err)
		}
		it, err := ioc.NewItem(key, sp, time.Now().Add(-time.Minute), &rec)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, it)
	}
	return out
}

// byAuthor counts the items of scope sc at h authored by a.
func byAuthor(t *testing.T, h *hnode, a identity.ID) int {
	t.Helper()
	n := 0
	err := h.db.ScopeIDs(publicScope(), func(id item.ID) error {
		it, _, err := h.db.GetItem(id)
		if err == nil && it.Author() == a {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// usage is what the victim counts of an author.
func usage(t *testing.T, h *hnode, a identity.ID) int64 {
	t.Helper()
	u, err := h.quota.Usage(quota.Author, a)
	if err != nil {
		t.Fatal(err)
	}
	return u.Items
}

// TestQuotaFlood: an unverified peer floods its own indicators through real
// sessions. The victim stores exactly its author quota, refuses the rest
// (the sessions still complete), says so in status, and an honest peer's
// message still arrives. Verifying the flooder raises its quota tenfold;
// with a smaller peer quota it is the peer's that bites.
func TestQuotaFlood(t *testing.T) {
	const authorQuota, flood = 150, 600
	v := newHNode(t, 0xE1, func(c *Config) {
		c.Quota = quota.Config{Author: quota.Limits{Items: authorQuota, Bytes: 1 << 30}, Peer: quota.Limits{Items: 1000, Bytes: 1 << 30}, VerifiedFactor: 2}
	})
	h, g := newHNode(t, 0xE2), newHNode(t, 0xE3)
	pairUp(t, v, h)
	pairUp(t, v, g)
	var entries []store.Entry
	for _, it := range floodItems(t, h.key, 0, flood) {
		entries = append(entries, store.Entry{Item: it, Scopes: []item.Scope{publicScope()}})
	}
	if _, err := h.db.PutItems(entries); err != nil {
		t.Fatal(err)
	}
	// The flooder's recipient-key certificate (in the pair scope) is one
	// of its items too: the quota holds it and 149 indicators.
	mustSync(t, h, v)
	if got, use := byAuthor(t, v, h.ID()), usage(t, v, h.ID()); got != authorQuota-1 || use != authorQuota {
		t.Fatalf("after the flood the victim holds %d of the flooder's indicators (%d items counted); want its quota, %d, less its certificate", got, use, authorQuota)
	}
	mustSync(t, h, v) // again: nothing more gets in
	if got := byAuthor(t, v, h.ID()); got != authorQuota-1 {
		t.Fatalf("after a second session: %d; want still %d", got, authorQuota-1)
	}
	st, _ := v.Status()
	if len(st.Quota) != 1 || st.Quota[0].Who != "author" || st.Quota[0].ID != h.ID().String() ||
		st.Quota[0].MaxItems != authorQuota || st.Quota[0].Refused < flood-authorQuota || st.Quota[0].Verified {
		t.Fatalf("status quota %+v; want the unverified author, limit %d, at least %d refused", st.Quota, authorQuota, flood-authorQuota)
	}

	// An honest peer's message still arrives.
	mustSync(t, g, v) // keys
	mustSync(t, v, g)
	if _, err := g.dm.Send(v.ID(), "still here"); err != nil {
		t.Fatal(err)
	}
	mustSync(t, g, v)
	if !hasMessage(messages(t, v, g.ID()), "in", "still here") {
		t.Fatal("an honest message did not arrive after the flood")
	}

	// Verified: twice the quota (VerifiedFactor 2 here).
	if _, err := v.VerifyPeer(h.ID(), ""); err != nil {
		t.Fatal(err)
	}
	mustSync(t, h, v)
	if got := byAuthor(t, v, h.ID()); got != 2*authorQuota-1 {
		t.Fatalf("once verified: %d; want %d", got, 2*authorQuota-1)
	}
}

// TestQuotaPerPeer: a peer relays its items under a peer quota smaller than
// the author's: the peer's bites, and status names the peer.
func TestQuotaPerPeer(t *testing.T) {
	v := newHNode(t, 0xE5, func(c *Config) {
		c.Quota = quota.Config{Author: quota.Limits{Items: 1000, Bytes: 1 << 30}, Peer: quota.Limits{Items: 40, Bytes: 1 << 30}}
	})
	h := newHNode(t, 0xE6)
	pairUp(t, v, h)
	for _, it := range floodItems(t, h.key, 0, 100) {
		plant(t, h, it, publicScope())
	}
	mustSync(t, h, v)
	// The pair scope's recipient-key certificate counts too: 40 in all.
	if got := byAuthor(t, v, h.ID()); got > 40 || got < 39 {
		t.Fatalf("the victim holds %d of the peer's indicators; want its quota of 40 items less what else it sent", got)
	}
	st, _ := v.Status()
	if len(st.Quota) != 1 || st.Quota[0].Who != "peer" || st.Quota[0].MaxItems != 40 {
		t.Fatalf("status quota %+v; want the peer at 40", st.Quota)
	}
}

var quotaFlood = flag.Int("quota.flood", 1_000_000, "items BenchmarkQuotaFlood's unverified author sends")

// BenchmarkQuotaFlood: an unverified author sends -quota.flood small items
// (1M by default) in frames of 256 straight into the node's sync store, as
// a session would hand them over; the node's default quota applies. It
// reports what was stored, the heap in use after the flood, and how long an
// honest peer's item then takes to be accepted. Run with -benchtime=1x.
func BenchmarkQuotaFlood(b *testing.B) {
	for range b.N {
		v, _ := bareNode(b, 0xF1, nil)
		flooder := testKeyTB(b, 0xF2)
		honest := testKeyTB(b, 0xF3)
		for _, k := range []*identity.PrivateKey{flooder, honest} {
			if _, err := v.AddPeer(k.ID(), ""); err != nil {
				b.Fatal(err)
			}
		}
		st := syncStore{v}
		const frame = 256
		var refused int
		var elapsed time.Duration // in Accept only: signing the flood is the attacker's cost
		b.ResetTimer()
		for sent := 0; sent < *quotaFlood; sent += frame {
			b.StopTimer()
			raw := make([][]byte, 0, frame)
			for _, it := range floodItems(b, flooder, sent, min(frame, *quotaFlood-sent)) {
				raw = append(raw, it.Bytes())
			}
			b.StartTimer()
			t0 := time.Now()
			r, err := st.Accept(flooder.ID(), publicScope(), raw)
			elapsed += time.Since(t0)
			if err != nil {
				b.Fatal(err)
			}
			refused += len(r)
		}
		honestItem := floodItems(b, honest, 0, 1)[0]
		t0 := time.Now()
		if r, err := st.Accept(honest.ID(), publicScope(), [][]byte{honestItem.Bytes()}); err != nil || len(r) != 0 {
			b.Fatalf("the honest item after the flood: %d refused, %v", len(r), err)
		}
		honestTook := time.Since(t0)
		b.StopTimer()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		use, _ := v.quota.Usage(quota.Author, flooder.ID())
		b.ReportMetric(float64(use.Items), "stored")
		b.ReportMetric(float64(refused), "refused")
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(honestTook.Microseconds()), "honest-µs")
		b.Logf("flood of %d: %d stored (quota %d), %d refused, accept time %v (%.0f items/s, signing excluded), heap in use %.1f MiB, honest item accepted in %v",
			*quotaFlood, use.Items, quota.Default.Author.Items, refused, elapsed.Round(time.Millisecond),
			float64(*quotaFlood)/elapsed.Seconds(), float64(ms.HeapInuse)/(1<<20), honestTook)
	}
}

func testKeyTB(tb testing.TB, seed byte) *identity.PrivateKey {
	tb.Helper()
	s, err := identity.GenerateSecrets(constReader(seed))
	if err != nil {
		tb.Fatal(err)
	}
	return s.Key
}
