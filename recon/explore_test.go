package recon

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// BenchmarkThirdRound measures how often a session needs a third round trip
// and the worst bytes per difference, over 60 seeded 100k-item sessions per
// difference size. It is a measurement, not a test: it prints figures.
//
//	go test ./recon/ -run '^$' -bench ThirdRound -benchtime 1x
func BenchmarkThirdRound(b *testing.B) {
	for range b.N {
		for _, d := range []int{1, 10, 100, 1000, 10000} {
			worst, third, worstB := 0, 0, 0
			const runs = 60
			for seed := uint64(0); seed < runs; seed++ {
				rng := rand.New(rand.NewPCG(seed, 7))
				sa := rng.IntN(d + 1)
				x, y := makeSets(rng, 100000-d, sa, d-sa)
				_, _, st := reconcile(b, NewMemSet(x), NewMemSet(y), Limits{})
				worst = max(worst, st.roundTrip)
				worstB = max(worstB, st.bytes)
				if st.roundTrip > 2 {
					third++
				}
			}
			b.Logf("d=%d: worst %d round trips, third round in %d/%d, worst %d bytes (%.1f B/diff)",
				d, worst, third, runs, worstB, float64(worstB)/float64(d))
		}
	}
}

// BenchmarkPeelOverhead measures how many coded symbols per difference
// peeling needs, and the spread of the sketch estimate: the figures behind
// the planning constants in recon.go.
//
//	go test ./recon/ -run '^$' -bench PeelOverhead -benchtime 1x
func BenchmarkPeelOverhead(b *testing.B) {
	for range b.N {
		for _, d := range []int{10, 100, 1000, 10000} {
			var need, est []float64
			for seed := uint64(0); seed < 40; seed++ {
				rng := rand.New(rand.NewPCG(seed, 9))
				ids, _ := makeSets(rng, 0, d, 0)
				syms := make([]Symbol, 4*d)
				computeSymbols(slices.Values(ids), syms, 0)
				lo, hi := 1, len(syms)
				for lo < hi {
					mid := (lo + hi) / 2
					if peel(slices.Clone(syms[:mid])).ok {
						hi = mid
					} else {
						lo = mid + 1
					}
				}
				need = append(need, float64(lo)/float64(d))
				sa := rng.IntN(d + 1)
				x, y := makeSets(rng, 20000, sa, d-sa)
				kx, ky := sketchOf(sorted(x)), sketchOf(sorted(y))
				e := estimate(sketchBytes(&kx, uint64(len(x))), sketchBytes(&ky, uint64(len(y))), uint64(len(x)), uint64(len(y)))
				est = append(est, float64(e)/float64(d))
			}
			slices.Sort(need)
			slices.Sort(est)
			b.Logf("d=%d: symbols/difference median %.3f max %.3f; estimate/true min %.3f median %.3f max %.3f",
				d, need[len(need)/2], need[len(need)-1], est[0], est[len(est)/2], est[len(est)-1])
		}
	}
}
