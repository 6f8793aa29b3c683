package node

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/cloak"
	"github.com/ghostwire/ghostwire/collection"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/ioc"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recon"
	"github.com/ghostwire/ghostwire/scopeset"
	"github.com/ghostwire/ghostwire/store"
)

// TestScopeSetCache follows one scope's cached set through what a node
// lives through: a first read of the store, sessions that find nothing new
// (the same set, no store read), items arriving (merged into a new set while
// the old one stays as sessions saw it), IOCs expiring (left out from then
// on) and an IOC that arrives already expired (never offered). After every
// step the set must equal one computed independently from the store.
func TestScopeSetCache(t *testing.T) {
	clock := time.Now()
	n, db := bareNode(t, 0x51, func() time.Time { return clock })
	bob, err := identity.NewKeyFromSeed(bytes.Repeat([]byte{0x52}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.AddPeer(bob.ID(), "bob"); err != nil {
		t.Fatal(err)
	}
	sp := item.CollectionSpace(collection.Default)
	sc := collection.ClassScope(sp, ioc.Class{Level: ioc.ClassPublic})
	st := syncStore{n}
	serial := 0
	// receive has bob send count IOCs valid until the given times (zero:
	// no expiry), cycling through them.
	receive := func(count int, until ...time.Time) {
		t.Helper()
		var raw [][]byte
		for i := range count {
			serial++
			rec, err := ioc.NewRecord(ioc.TypeDomain, fmt.Sprintf("c%d.example", serial), ioc.TLPClear)
			if err != nil {
				t.Fatal(err)
			}
			if len(until) > 0 {
				rec.ValidUntil = until[i%len(until)]
			}
			if err := rec.Normalize(); err != nil {
				t.Fatal(err)
			}
			it, err := ioc.NewItem(bob, sp, clock.Add(-time.Minute), &rec)
			if err != nil {
				t.Fatal(err)
			}
			raw = append(raw, it.Bytes())
		}
		if refused, err := st.Accept(bob.ID(), sc, raw); err != nil || len(refused) > 0 {
			t.Fatalf("accept: %d refused, %v", len(refused), err)
		}
	}
	// want computes the set from the store alone: every ID in the scope
	// whose IOC has not expired at the clock.
	want := func() []recon.ID {
		t.Helper()
		var ids []recon.ID
		err := db.ScopeIDs(sc, func(id item.ID) error {
			it, _, err := db.GetItem(id)
			if err != nil {
				return err
			}
			r, err := ioc.FromItem(it)
			if err != nil {
				return err
			}
			if r.ValidUntil.IsZero() || r.ValidUntil.After(clock) {
				ids = append(ids, recon.ID(id))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	get := func(step string) recon.Set {
		t.Helper()
		set, err := st.Set(sc)
		if err != nil {
			t.Fatal(err)
		}
		w := want()
		if got := slices.Collect(set.All()); !slices.Equal(got, w) || set.Digest() != recon.NewMemSet(w).Digest() {
			t.Fatalf("%s: the cached set holds %d IDs, the store says %d", step, set.Len(), len(w))
		}
		return set
	}

	receive(100)
	first := get("first read")
	if again := get("nothing new"); again != first {
		t.Fatal("a session that found nothing new got a new set")
	}
	soon := clock.Add(time.Hour)
	receive(50, time.Time{}, time.Time{}, soon) // 16 of them expire soon
	grown := get("after 50 arrived")
	if grown.Len() != 150 || first.Len() != 100 || len(slices.Collect(first.All())) != 100 {
		t.Fatalf("grown %d, first now %d: want 150 and the first set untouched at 100", grown.Len(), first.Len())
	}
	clock = clock.Add(2 * time.Hour)
	if s := get("after expiry"); s.Len() != 134 {
		t.Fatalf("after 16 expired: %d offered, want 134", s.Len())
	}
	receive(1, clock.Add(-time.Minute)) // already expired when it arrives
	if s := get("expired arrival"); s.Len() != 134 {
		t.Fatalf("an IOC that arrived expired is offered: %d, want 134", s.Len())
	}
	receive(3)
	get("after 3 more")
}

// BenchmarkScopeSet measures what a sync session pays to get one scope's
// set (Set, then the digest its first message carries) over a scope of
// 100,000 items (SCOPESET_BENCH_N sets another size): the first time (a read of the store), when nothing changed
// since the last session (the cached set), and after 1,000 new items
// arrived (one merge, the digest recomputed).
//
//	go test -run '^$' -bench ScopeSet -benchtime 1x ./node
func BenchmarkScopeSet(b *testing.B) {
	size, arrivals := 100_000, 1_000
	if v, err := strconv.Atoi(os.Getenv("SCOPESET_BENCH_N")); err == nil && v > 0 {
		size = v
	}
	n, db := bareNode(b, 0x61, nil)
	author, err := identity.NewKeyFromSeed(bytes.Repeat([]byte{0x62}, 32))
	if err != nil {
		b.Fatal(err)
	}
	sp := item.CollectionSpace(collection.Default)
	sc := collection.ClassScope(sp, ioc.Class{Level: ioc.ClassPublic})
	put := func(from, count int) {
		entries := make([]store.Entry, 0, count)
		for i := from; i < from+count; i++ {
			it, err := item.New(author, 200, sp, time.Now(), fmt.Appendf(nil, "item %d", i))
			if err != nil {
				b.Fatal(err)
			}
			entries = append(entries, store.Entry{Item: it, Scopes: []item.Scope{sc}})
		}
		if _, err := db.PutItems(entries); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < size; i += 10_000 {
		put(i, min(10_000, size-i))
	}
	st := syncStore{n}
	next := size // the serial of the next item put
	// Wall time of the call a session makes, best of a few: the store's
	// compactions still run on the other core after the writes.
	session := func() (time.Duration, int) {
		t0 := time.Now()
		set, err := st.Set(sc)
		if err != nil {
			b.Fatal(err)
		}
		set.Digest()
		return time.Since(t0), set.Len()
	}
	b.ResetTimer()
	for range b.N {
		n.sets = scopeset.New(db, n.cfg.Now, n.cfg.ScopeLimit) // a cold cache
		cold, l0 := session()
		warm, merged := time.Hour, time.Hour
		for range 5 {
			d, l := session()
			if l != l0 {
				b.Fatalf("unchanged set: %d IDs, then %d", l0, l)
			}
			warm = min(warm, d)
		}
		for range 3 {
			put(next, arrivals)
			next += arrivals
			d, l := session()
			if l != l0+arrivals {
				b.Fatalf("after %d more: %d IDs, want %d", arrivals, l, l0+arrivals)
			}
			merged, l0 = min(merged, d), l
		}
		b.ReportMetric(float64(cold.Microseconds())/1e3, "first-ms")
		b.ReportMetric(float64(warm.Microseconds())/1e3, "unchanged-ms")
		b.ReportMetric(float64(merged.Microseconds())/1e3, "after-1000-new-ms")
		fmt.Printf("scope set of %d items, per session: first (store read) %.1f ms, unchanged %.3f ms, after %d new %.1f ms\n",
			size, float64(cold.Microseconds())/1e3, float64(warm.Microseconds())/1e3, arrivals, float64(merged.Microseconds())/1e3)
	}
}

// bareNode returns a node over a fresh store (closed at cleanup) that runs
// no transport: for tests that drive its sync side directly. now may be nil.
func bareNode(t testing.TB, seed byte, now func() time.Time, tune ...func(*Config)) (*Node, *store.DB) {
	t.Helper()
	n, db, err := openBareNode(t.TempDir(), seed, now, tune...)
	if db != nil {
		t.Cleanup(func() { db.Close() })
	}
	if err != nil {
		t.Fatal(err)
	}
	return n, db
}

// openBareNode is bareNode with its store in dir, for a process that is not
// a test (the listener tests' child); the caller closes the store.
func openBareNode(dir string, seed byte, now func() time.Time, tune ...func(*Config)) (*Node, *store.DB, error) {
	secrets, err := identity.GenerateSecrets(bytes.NewReader(bytes.Repeat([]byte{seed}, 128)))
	if err != nil {
		return nil, nil, err
	}
	db, err := store.Open(filepath.Join(dir, "store"), secrets.StoreKey[:], nil)
	if err != nil {
		return nil, nil, err
	}
	cfg := Config{Secrets: secrets, Store: db, Mode: cloak.ModeTor, Transport: unusedTransport{}, Now: now}
	for _, f := range tune {
		f(&cfg)
	}
	n, err := New(cfg)
	return n, db, err
}
