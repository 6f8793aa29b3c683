package recon

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestTargets asserts the byte and round-trip targets on a
// deterministic 100k-item case (the 1M case is BenchmarkReconcile), with the
// default message limit and with a 64 KiB limit: a smaller frame cap adds
// messages, never round trips.
func TestTargets(t *testing.T) {
	const n = 100_000
	for _, tc := range []struct {
		d        int
		maxRT    int
		maxBytes int
	}{
		{0, 1, 128},
		{1000, 2, 128 << 10},
		{10000, 2, 1280 << 10},
	} {
		rng := rand.New(rand.NewPCG(42, uint64(tc.d)))
		a, b := makeSets(rng, n-tc.d, tc.d/2, tc.d-tc.d/2)
		sa, sb := NewMemSet(a), NewMemSet(b)
		for _, maxMsg := range []int{DefaultMaxMessage, 64 << 10} {
			t.Run(fmt.Sprintf("d=%d/max=%d", tc.d, maxMsg), func(t *testing.T) {
				ra, rb, st := reconcile(t, sa, sb, Limits{MaxMessage: maxMsg})
				checkResult(t, ra, rb, a, b)
				t.Logf("%d round trips, %d messages, %d bytes (floor %d, manifest %d)",
					st.roundTrip, st.messages, st.bytes, 32*tc.d, 40*(len(a)+len(b)))
				if st.roundTrip > tc.maxRT {
					t.Errorf("%d round trips, target %d", st.roundTrip, tc.maxRT)
				}
				if st.bytes > tc.maxBytes {
					t.Errorf("%d bytes, target %d", st.bytes, tc.maxBytes)
				}
			})
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func peakRSS() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Maxrss << 10 // KiB on Linux
}

// BenchmarkReconcile reconciles two 1M-item sets at 0, 0.1 % and 1 %
// difference (split between the sides). Sets are built and their caches
// (digest, sketch, symbol prefix) warmed outside the timer, as a store keeps
// them; the prep cost is printed separately. CPU is both sides, one session.
//
//	go test ./recon/ -run '^$' -bench Reconcile -benchtime 3x
func BenchmarkReconcile(b *testing.B) {
	const n = 1_000_000
	for _, d := range []int{0, 1000, 10000} {
		b.Run(fmt.Sprintf("d=%d", d), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, uint64(d)))
			x, y := makeSets(rng, n-d, d/2, d-d/2)
			prep := cpuTime()
			sa, sb := NewMemSet(x), NewMemSet(y)
			want := int(float64(d)*1.75) + 4096
			sa.Warm(want)
			sb.Warm(want)
			prep = cpuTime() - prep
			runtime.GC()
			var st stats
			b.ResetTimer()
			c0 := cpuTime()
			for range b.N {
				ra, rb, s := reconcile(b, sa, sb, Limits{})
				if len(ra.Have)+len(rb.Have) != d {
					b.Fatalf("wrong difference: %d+%d, want %d", len(ra.Have), len(rb.Have), d)
				}
				st = s
			}
			cpu := (cpuTime() - c0) / time.Duration(b.N)
			b.StopTimer()
			b.ReportMetric(float64(st.bytes), "bytes/op")
			b.ReportMetric(float64(st.roundTrip), "RT/op")
			b.ReportMetric(float64(cpu.Microseconds())/1000, "cpu-ms/op")
			b.ReportMetric(float64(peakRSS())/(1<<20), "peakRSS-MiB")
			b.Logf("1M items, %d differences: %d bytes in %d round trips (%d messages), CPU %v both sides; "+
				"floor 32 B x d = %d B, full manifest 40 B x items = %d B; cache warm-up %v per 2 sets, peak RSS %d MiB",
				d, st.bytes, st.roundTrip, st.messages, cpu.Round(time.Microsecond), 32*d, 40*2*n, prep.Round(time.Millisecond), peakRSS()>>20)
		})
	}
}

// TestSizeGap: when one set is much smaller (a fresh peer, or one that
// holds part of the other's), the smaller side's IDs are all that cross,
// plus a bitmap: never the larger side's IDs, which follow as items anyway.
func TestSizeGap(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	all, _ := makeSets(rng, 0, 20000, 0)
	for _, tc := range []struct{ i, r []ID }{
		{all, nil}, {nil, all},
		{all, all[:5000]}, {all[:5000], all},
		{all[:300], all}, {all, all[:300]},
	} {
		t.Run(fmt.Sprintf("%d/%d", len(tc.i), len(tc.r)), func(t *testing.T) {
			ra, rb, st := reconcile(t, NewMemSet(tc.i), NewMemSet(tc.r), Limits{})
			if len(ra.Have) != max(0, len(tc.i)-len(tc.r)) || len(rb.Have) != max(0, len(tc.r)-len(tc.i)) {
				t.Fatalf("have %d/%d", len(ra.Have), len(rb.Have))
			}
			small := min(len(tc.i), len(tc.r))
			bound := IDSize*small + small/8 + 1024
			t.Logf("%d round trips, %d bytes (bound %d)", st.roundTrip, st.bytes, bound)
			if st.bytes > bound || st.roundTrip > 2 {
				t.Fatalf("%d bytes in %d round trips; want at most %d bytes in 2", st.bytes, st.roundTrip, bound)
			}
		})
	}
}
