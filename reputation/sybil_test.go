package reputation

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// sybilWorld is the simulation of docs/reputation.md §4: honest analysts who
// are also sources, a malicious source, and Sybil identities that rate
// each other and the malicious source highly. It is deterministic.
type sybilWorld struct {
	honest, preTrusted []string
	malicious          string
	ops                []Opinion[string]
}

func newSybilWorld(honest, preTrusted, sybils int) *sybilWorld {
	w := &sybilWorld{malicious: "malicious"}
	for i := range honest {
		w.honest = append(w.honest, fmt.Sprintf("h%02d", i))
	}
	w.preTrusted = w.honest[:preTrusted]
	// Each analyst sights the next three analysts' indicators: mostly seen,
	// with the false positives every honest feed has (one in four).
	for i, h := range w.honest {
		for d := 1; d <= 3; d++ {
			w.ops = append(w.ops, Opinion[string]{From: h, To: w.honest[(i+d)%honest], Good: 3, Bad: 1})
		}
	}
	// Three analysts marked the malicious source's indicators as false
	// positives.
	for _, h := range w.honest[:3] {
		w.ops = append(w.ops, Opinion[string]{From: h, To: w.malicious, Bad: 2})
	}
	// The attack: Sybils rate each other and the malicious source highly,
	// and one analyst the user never vouched for was fooled by one Sybil.
	syb := func(k int) string { return fmt.Sprintf("s%05d", k%sybils) }
	for k := range sybils {
		w.ops = append(w.ops, Opinion[string]{From: syb(k), To: w.malicious, Good: 10})
		for d := 1; d <= 3; d++ {
			w.ops = append(w.ops, Opinion[string]{From: syb(k), To: syb(k + d), Good: 1})
		}
	}
	w.ops = append(w.ops, Opinion[string]{From: w.honest[honest-1], To: syb(0), Good: 3})
	return w
}

// averaged is plain averaging of ratings: the share of good among all the
// opinions anyone gave of k, whoever gave them.
func averaged(ops []Opinion[string]) map[string]float64 {
	good, all := map[string]float64{}, map[string]float64{}
	for _, o := range ops {
		good[o.To] += o.Good
		all[o.To] += o.Good + o.Bad
	}
	out := map[string]float64{}
	for k, a := range all {
		out[k] = good[k] / a
	}
	return out
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// TestSybilSimulation: 10 honest analysts, 5 of them pre-trusted, and 1,000
// Sybils that rate each other and one malicious source highly. Plain
// averaging ranks the malicious source above the honest median; EigenTrust
// keeps it below, and converges within 50 iterations.
func TestSybilSimulation(t *testing.T) {
	w := newSybilWorld(10, 5, 1000)
	tr, err := Compute(w.ops, Config[string]{PreTrusted: w.preTrusted})
	if err != nil {
		t.Fatal(err)
	}
	var et, av []float64
	avg := averaged(w.ops)
	for _, h := range w.honest {
		et, av = append(et, tr.Score(h)), append(av, avg[h])
	}
	t.Logf("malicious source: EigenTrust score %.4f (honest median %.4f); plain averaging %.4f (honest median %.4f); %d iterations, last L1 change %.2g",
		tr.Score(w.malicious), median(et), avg[w.malicious], median(av), tr.Iterations, tr.Delta)
	if got, med := tr.Score(w.malicious), median(et); got >= med {
		t.Errorf("EigenTrust: malicious source scores %.4f, not below the honest median %.4f", got, med)
	}
	if got, med := avg[w.malicious], median(av); got <= med {
		t.Errorf("the simulation is too easy: plain averaging already ranks the malicious source (%.4f) below the honest median (%.4f)", got, med)
	}
	if tr.Delta > DefaultEpsilon || tr.Iterations > DefaultMaxIterations {
		t.Errorf("did not converge: L1 change %.3g after %d iterations", tr.Delta, tr.Iterations)
	}
	for _, s := range []string{"s00000", "s00500"} {
		if tr.Score(s) >= median(et) {
			t.Errorf("Sybil %s scores %.4f, not below the honest median %.4f", s, tr.Score(s), median(et))
		}
	}
}

// TestConvergesOnAnyGraph: the bound DefaultDamping is chosen for (2·0.7^49
// < 1e-6) holds on random graphs of every density, with and without
// dangling identities.
func TestConvergesOnAnyGraph(t *testing.T) {
	for _, c := range []struct{ n, deg int }{{2, 1}, {50, 1}, {500, 3}, {2000, 20}} {
		ops := randomGraph(c.n, c.deg, uint64(c.n))
		tr, err := Compute(ops, Config[int]{PreTrusted: []int{0, 1}})
		if err != nil {
			t.Fatal(err)
		}
		if tr.Delta > DefaultEpsilon || tr.Iterations > DefaultMaxIterations {
			t.Errorf("n=%d deg=%d: L1 change %.3g after %d iterations", c.n, c.deg, tr.Delta, tr.Iterations)
		}
		sum := 0.0
		for _, k := range tr.Ranked() {
			sum += tr.Of(k)
		}
		if sum < 1-1e-9 || sum > 1+1e-9 {
			t.Errorf("n=%d deg=%d: trust sums to %v, want 1", c.n, c.deg, sum)
		}
	}
}

// randomGraph: n identities, each with deg opinions of others, a tenth of
// them negative on balance, and a fifth of the identities giving none.
func randomGraph(n, deg int, seed uint64) []Opinion[int] {
	r := rand.New(rand.NewPCG(seed, 1))
	var ops []Opinion[int]
	for i := range n {
		if i > 1 && r.IntN(5) == 0 {
			continue
		}
		for range deg {
			o := Opinion[int]{From: i, To: r.IntN(n), Good: float64(1 + r.IntN(5))}
			if r.IntN(10) == 0 {
				o.Bad = o.Good + 1
			}
			ops = append(ops, o)
		}
	}
	return ops
}
