package node

import (
	"crypto/rand"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/keys"
	"github.com/ghostwire/ghostwire/rating"
)

// cpuNow is the process's CPU time so far (user + system): every node of
// these benchmarks runs in this process, and on a loaded machine CPU time
// is steadier than the wall clock.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// chainRound syncs each neighbour pair of the chain once, from the head
// down: one sync round, as the issue counts them.
func chainRound(tb testing.TB, chain []*hnode) {
	for i := 0; i+1 < len(chain); i++ {
		mustSync(tb, chain[i], chain[i+1])
	}
}

// BenchmarkRevocation is the revocation figure: in a chain of N
// in-process nodes (real stores, real sessions over 127.0.0.1), the head
// revokes a subkey (key revoke); sync rounds run down the chain until
// every node refuses an item that subkey signs after the revocation
// (keys.ErrRevoked, the test the node applies on receipt). It reports the
// rounds that took and its CPU and wall time, beside one plain sync round
// of the same chain carrying one ordinary item instead:
//
//	go test -run '^$' -bench Revocation ./node
func BenchmarkRevocation(b *testing.B) {
	for _, n := range []int{3, 6} {
		b.Run(fmt.Sprintf("chain=%d", n), func(b *testing.B) {
			chain := make([]*hnode, n)
			for i := range chain {
				chain[i] = newHNode(b, byte(0x70+i))
			}
			for i := 0; i+1 < n; i++ {
				pairUp(b, chain[i], chain[i+1])
			}
			// A background the size of a small live network: 50 ratings
			// by the head, synced everywhere, so rounds reconcile
			// something.
			for j := range 50 {
				publishRating(b, chain[0], chain[0].key, testKeyTB(b, byte(j)).ID(), time.Now().Add(-time.Duration(j)*time.Second))
			}
			chainRound(b, chain)
			head := chain[0]
			var rounds, revCPU, revWall, plainCPU, plainWall time.Duration
			b.ResetTimer()
			for i := range b.N {
				sk := freshSubkey(b, head)
				c0, w0 := cpuNow(), time.Now()
				rev, err := head.keys.Revoke(sk.Cert().Key, "benchmark")
				if err != nil {
					b.Fatal(err)
				}
				// What a thief with the subkey signs after the revocation.
				after, err := rating.NewRating(sk, rating.Rating{Subject: chain[n-1].ID(), Verdict: rating.Good}, time.Now().Add(time.Millisecond))
				if err != nil {
					b.Fatal(err)
				}
				r := 0
				for !allRefuse(chain, after) {
					if r++; r > n {
						b.Fatalf("subkey %s still admitted somewhere after %d rounds", rev.Subject.Short(), r-1)
					}
					chainRound(b, chain)
				}
				rounds += time.Duration(r)
				revCPU += cpuNow() - c0
				revWall += time.Since(w0)

				// The reference: one plain round carrying one ordinary item.
				c0, w0 = cpuNow(), time.Now()
				publishRating(b, head, head.key, testKeyTB(b, byte(i)).ID(), time.Now())
				chainRound(b, chain)
				plainCPU += cpuNow() - c0
				plainWall += time.Since(w0)
			}
			per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
			b.ReportMetric(float64(rounds)/float64(b.N), "rounds")
			b.ReportMetric(per(revCPU), "cpu-ms/revocation")
			b.ReportMetric(per(plainCPU), "cpu-ms/plain-round")
			b.Logf("chain of %d: revocation refused everywhere after %.1f round(s), %.1f ms CPU (%.1f ms wall); one plain round: %.1f ms CPU (%.1f ms wall)",
				n, float64(rounds)/float64(b.N), per(revCPU), per(revWall), per(plainCPU), per(plainWall))
		})
	}
}

// freshSubkey certifies a new random signing subkey for h's identity.
func freshSubkey(tb testing.TB, h *hnode) *item.Subkey {
	tb.Helper()
	sub, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return certifiedSubkey(tb, h, sub)
}

// allRefuse reports whether every node of the chain refuses it as signed
// by a revoked key.
func allRefuse(chain []*hnode, it *item.Item) bool {
	for _, h := range chain {
		if !errors.Is(h.keys.Admit(it), keys.ErrRevoked) {
			return false
		}
	}
	return true
}
