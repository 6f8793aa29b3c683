package reputation

import (
	"fmt"
	"testing"
)

// BenchmarkSybil is the full-size figure of docs/reputation.md §4: 10 honest
// analysts (5 pre-trusted), a malicious source and Sybils up to 10,000
// identities in all. It reports the malicious source's score beside the
// honest median, for EigenTrust and for plain averaging, and the time one
// computation takes (ns/op) beside plain averaging's.
func BenchmarkSybil(b *testing.B) {
	for _, sybils := range []int{1000, 9989} {
		w := newSybilWorld(10, 5, sybils)
		b.Run(fmt.Sprintf("eigentrust/identities=%d", sybils+11), func(b *testing.B) {
			var tr *Trust[string]
			for b.Loop() {
				tr, _ = Compute(w.ops, Config[string]{PreTrusted: w.preTrusted})
			}
			var et []float64
			for _, h := range w.honest {
				et = append(et, tr.Score(h))
			}
			b.ReportMetric(tr.Score(w.malicious), "malicious-score")
			b.ReportMetric(median(et), "honest-median")
			b.ReportMetric(float64(tr.Iterations), "iterations")
		})
		b.Run(fmt.Sprintf("averaging/identities=%d", sybils+11), func(b *testing.B) {
			var avg map[string]float64
			for b.Loop() {
				avg = averaged(w.ops)
			}
			var av []float64
			for _, h := range w.honest {
				av = append(av, avg[h])
			}
			b.ReportMetric(avg[w.malicious], "malicious-score")
			b.ReportMetric(median(av), "honest-median")
		})
	}
}

// BenchmarkRandom10k: 10,000 identities with 10 opinions each, the size
// the node is asked to rank quickly.
func BenchmarkRandom10k(b *testing.B) {
	ops := randomGraph(10000, 10, 10)
	var tr *Trust[int]
	for b.Loop() {
		tr, _ = Compute(ops, Config[int]{PreTrusted: []int{0, 1, 2, 3, 4}})
	}
	b.ReportMetric(float64(tr.Iterations), "iterations")
}
