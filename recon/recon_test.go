package recon

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// frameHeader is the per-message framing cost counted in bytes (§6.7).
const frameHeader = 4

type stats struct {
	bytes     int // every message, encoded, plus a frame header each
	roundTrip int // initiator rounds
	messages  int
}

// transfer encodes and decodes a round as the channel would carry it.
func transfer(t testing.TB, in []Message, st *stats, maxMsg int) []Message {
	t.Helper()
	out := make([]Message, 0, len(in))
	for _, m := range in {
		b := m.Encode()
		if len(b) > maxMsg {
			t.Fatalf("message of %d bytes exceeds the limit %d", len(b), maxMsg)
		}
		st.bytes += frameHeader + len(b)
		st.messages++
		d, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// reconcile runs a whole session between a and b (initiator a).
func reconcile(t testing.TB, a, b Set, lim Limits) (Result, Result, stats) {
	t.Helper()
	if lim.MaxMessage == 0 {
		lim.MaxMessage = DefaultMaxMessage
	}
	ini, err := NewInitiator(a, lim)
	if err != nil {
		t.Fatal(err)
	}
	res, err := NewResponder(b, lim)
	if err != nil {
		t.Fatal(err)
	}
	var st stats
	out, iDone, err := ini.Next(nil)
	if err != nil {
		t.Fatal(err)
	}
	rDone := false
	for step := 0; !(iDone && rDone); step++ {
		if step > 64 {
			t.Fatal("no progress after 64 rounds")
		}
		if len(out) == 0 {
			t.Fatalf("initiator silent but responder not done")
		}
		st.roundTrip++
		var back []Message
		back, rDone, err = res.Next(transfer(t, out, &st, lim.MaxMessage))
		if err != nil {
			t.Fatal(err)
		}
		if len(back) == 0 {
			if !iDone {
				t.Fatal("responder silent but initiator not done")
			}
			break
		}
		out, iDone, err = ini.Next(transfer(t, back, &st, lim.MaxMessage))
		if err != nil {
			t.Fatal(err)
		}
		if iDone && len(out) > 0 {
			// The initiator's last half round (a manifest result).
			st.roundTrip++
			if _, rDone, err = res.Next(transfer(t, out, &st, lim.MaxMessage)); err != nil || !rDone {
				t.Fatalf("responder after last round: done=%v err=%v", rDone, err)
			}
		}
	}
	return ini.Result(), res.Result(), st
}

func randomID(rng *rand.Rand) ID {
	var id ID
	for i := 0; i < IDSize; i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			id[i+j] = byte(v >> (8 * j))
		}
	}
	return id
}

// makeSets builds two sets with n common IDs, onlyA and onlyB exclusive.
func makeSets(rng *rand.Rand, common, onlyA, onlyB int) (a, b []ID) {
	for range common {
		id := randomID(rng)
		a, b = append(a, id), append(b, id)
	}
	for range onlyA {
		a = append(a, randomID(rng))
	}
	for range onlyB {
		b = append(b, randomID(rng))
	}
	return a, b
}

func sorted(l []ID) []ID {
	l = slices.Clone(l)
	slices.SortFunc(l, ID.Compare)
	return l
}

func checkResult(t testing.TB, ra, rb Result, a, b []ID) {
	t.Helper()
	wantAOnly, wantBOnly := sorted(a[len(a)-countOnly(a, b):]), sorted(b[len(b)-countOnly(b, a):])
	eq := func(name string, got, want []ID) {
		if !slices.Equal(sorted(got), want) {
			t.Fatalf("%s: got %d IDs, want %d", name, len(got), len(want))
		}
	}
	// Each side sends its Have; together they are the whole difference.
	eq("initiator Have", ra.Have, wantAOnly)
	eq("responder Have", rb.Have, wantBOnly)
}

// countOnly counts IDs of x not in y; makeSets puts them at the end of x.
func countOnly(x, y []ID) int {
	ys := NewMemSet(y)
	n := 0
	for _, id := range x {
		if !ys.Contains(id) {
			n++
		}
	}
	return n
}

// manifestBound is the full-manifest reference of §6.6.
func manifestBound(nA, nB int) int { return 40*(nA+nB) + 128 }

func TestReconcileRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, 2, 10, 100, 511, 512, 600, 1000, 5000, 20000, 100000}
	fracs := []float64{0, 0.001, 0.01, 0.1, 0.5, 1}
	cases := 0
	for _, n := range sizes {
		for _, f := range fracs {
			if testing.Short() && n > 20000 {
				continue
			}
			d := int(float64(n) * f)
			splitA := rng.IntN(d + 1)
			a, b := makeSets(rng, n-d, splitA, d-splitA)
			ra, rb, st := reconcile(t, NewMemSet(a), NewMemSet(b), Limits{})
			checkResult(t, ra, rb, a, b)
			if st.bytes > manifestBound(len(a), len(b)) {
				t.Fatalf("n=%d d=%d: %d bytes exceed the manifest bound %d", n, d, st.bytes, manifestBound(len(a), len(b)))
			}
			cases++
		}
	}
	// One side empty, both ways, and both empty.
	for _, n := range []int{0, 1, 300, 5000} {
		a, _ := makeSets(rng, 0, n, 0)
		for _, swap := range []bool{false, true} {
			x, y := a, []ID(nil)
			if swap {
				x, y = y, x
			}
			ra, rb, st := reconcile(t, NewMemSet(x), NewMemSet(y), Limits{})
			checkResult(t, ra, rb, x, y)
			if st.bytes > manifestBound(len(x), len(y)) {
				t.Fatalf("empty side n=%d: %d bytes", n, st.bytes)
			}
			cases++
		}
	}
	t.Logf("%d cases", cases)
}

// TestMemSetWith: a set grown with With equals the set built from scratch
// (length, membership, digest, sketch, cached and uncached symbols), and the
// set it grew from is unchanged.
func TestMemSetWith(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct{ base, add, overlap int }{
		{0, 0, 0}, {0, 10, 0}, {10, 0, 0}, {1000, 1, 0}, {1000, 100, 50}, {5000, 3000, 3000}, {3000, 5000, 100},
	} {
		base, add := makeSets(r, 0, tc.base, tc.add-tc.overlap)
		add = append(add, base[:tc.overlap]...)
		add = append(add, add...) // duplicates within the batch
		s := NewMemSet(base)
		s.Warm(4096)
		before, beforeSyms := s.Digest(), make([]Symbol, 4096)
		s.Symbols(beforeSyms, 0)

		got := s.With(add)
		want := NewMemSet(append(slices.Clone(base), add...))
		if got.Len() != want.Len() || got.Digest() != want.Digest() || got.Sketch() != want.Sketch() {
			t.Fatalf("%+v: grown set differs from the one built from scratch", tc)
		}
		for _, n := range []int{4096, MaxCachedSymbols + 10} {
			g, w := make([]Symbol, n), make([]Symbol, n)
			got.Symbols(g, 0)
			want.Symbols(w, 0)
			if !slices.Equal(g, w) {
				t.Fatalf("%+v: %d symbols differ", tc, n)
			}
		}
		for _, id := range add {
			if !got.Contains(id) {
				t.Fatalf("%+v: added ID missing", tc)
			}
		}
		afterSyms := make([]Symbol, 4096)
		s.Symbols(afterSyms, 0)
		if s.Len() != len(base) || s.Digest() != before || !slices.Equal(afterSyms, beforeSyms) {
			t.Fatalf("%+v: With changed the original set", tc)
		}
		if tc.add == tc.overlap && got != s {
			t.Fatalf("%+v: adding nothing new made a new set", tc)
		}
	}
}

// TestMemSetWithout: removing IDs (some held, some not) gives the set built
// from scratch without them, leaves the original as it was, and undoes With.
func TestMemSetWithout(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	base, strangers := makeSets(r, 0, 5000, 50)
	s := NewMemSet(base)
	s.Warm(4096)
	before := s.Digest()
	gone := append(slices.Clone(base[:1000]), strangers...)
	got := s.Without(gone)
	want := NewMemSet(base[1000:])
	g, w := make([]Symbol, 4096), make([]Symbol, 4096)
	got.Symbols(g, 0)
	want.Symbols(w, 0)
	if got.Len() != want.Len() || got.Digest() != want.Digest() || got.Sketch() != want.Sketch() || !slices.Equal(g, w) {
		t.Fatal("the set without 1,000 IDs differs from the one built from scratch")
	}
	if s.Len() != len(base) || s.Digest() != before {
		t.Fatal("Without changed the original set")
	}
	if s.Without(strangers) != s {
		t.Fatal("removing only IDs it does not hold made a new set")
	}
	back := got.With(base[:1000])
	b := make([]Symbol, 4096)
	back.Symbols(b, 0)
	s.Symbols(w, 0)
	if back.Digest() != before || back.Sketch() != s.Sketch() || !slices.Equal(b, w) {
		t.Fatal("With does not undo Without")
	}
}
