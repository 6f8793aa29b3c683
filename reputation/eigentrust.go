package reputation

import (
	"cmp"
	"errors"
	"math"
	"slices"
)

// Implementation constants (docs/reputation.md §2).
const (
	// DefaultDamping is the weight a of the pre-trusted distribution in
	// t(k+1) = (1−a)·Cᵀ·t(k) + a·p. Each iteration shrinks the distance to
	// the fixed point by at least (1−a) in L1, and two distributions are at
	// most 2 apart, so after k iterations the change is at most 2·(1−a)ᵏ:
	// with a = 0.3 that is below 1e-7 by iteration 50 on any graph, which is
	// the convergence the node promises. A larger a also keeps more of the
	// trust with the identities the user chose and less for what they
	// vouch for transitively.
	DefaultDamping = 0.3
	// DefaultEpsilon is the L1 change between iterations at which the
	// computation stops.
	DefaultEpsilon = 1e-6
	// DefaultMaxIterations bounds the work whatever the graph.
	DefaultMaxIterations = 50
)

// Opinion is what one identity says of another: how many good and bad
// experiences From had of To, already weighted by the caller (a rating may
// count for several sightings). Opinions with the same From and To add up.
type Opinion[K comparable] struct {
	From, To  K
	Good, Bad float64
}

// Config is one computation's parameters. The zero value of each field
// means its default.
type Config[K comparable] struct {
	// PreTrusted is the set the user trusts without asking anyone: for the
	// node, itself and its contacts. Empty means every identity that
	// appears in an opinion, uniformly, which resists no Sybil attack at
	// all (docs/reputation.md §3).
	PreTrusted []K
	// Damping is a in (0, 1); zero means DefaultDamping.
	Damping float64
	// Epsilon is the L1 change that counts as converged; zero means
	// DefaultEpsilon.
	Epsilon float64
	// MaxIterations bounds the iterations; zero means DefaultMaxIterations.
	MaxIterations int
}

// ErrDamping: the damping factor is outside (0, 1).
var ErrDamping = errors.New("reputation: the damping factor must be between 0 and 1, exclusive")

// opinion is an Opinion by index, merged over duplicates.
type opinion struct {
	from, to  int
	good, bad float64
}

// edge is one entry of a sparse row: the normalised local trust c_ij.
type edge struct {
	to int
	c  float64
}

// Trust is the result of one computation. It is read-only and safe for
// concurrent use.
type Trust[K comparable] struct {
	ids      []K
	index    map[K]int
	t        []float64 // global trust, sums to 1
	p        []float64 // pre-trusted distribution
	rows     [][]edge  // rows[i]: c_ij > 0, j ascending
	dangling []bool    // no positive opinion: its trust is spread as p
	opinions []opinion // merged, sorted by (from, to)
	byTo     [][]int   // byTo[j]: indices into opinions of those about j
	damping  float64
	max      float64
	lost     float64 // the dangling identities' trust, in the final vector
	// Iterations is how many iterations ran; Delta the last L1 change.
	Iterations int
	Delta      float64
}

// Compute runs EigenTrust over the opinions. Its cost is
// O(iterations × (identities + opinions)) time and O(identities +
// opinions) memory: the matrix is kept as sparse rows.
func Compute[K comparable](ops []Opinion[K], cfg Config[K]) (*Trust[K], error) {
	a := cfg.Damping
	if a == 0 {
		a = DefaultDamping
	}
	if !(a > 0 && a < 1) {
		return nil, ErrDamping
	}
	eps := cfg.Epsilon
	if eps <= 0 {
		eps = DefaultEpsilon
	}
	maxIter := cfg.MaxIterations
	if maxIter <= 0 {
		maxIter = DefaultMaxIterations
	}
	tr := &Trust[K]{index: map[K]int{}, damping: a}
	for _, k := range cfg.PreTrusted {
		tr.add(k)
	}
	raw := make([]opinion, 0, len(ops))
	for _, o := range ops {
		if o.From == o.To {
			continue // nobody vouches for themselves
		}
		raw = append(raw, opinion{tr.add(o.From), tr.add(o.To), o.Good, o.Bad})
	}
	tr.merge(raw)
	n := len(tr.ids)
	if n == 0 {
		return tr, nil
	}
	tr.p = make([]float64, n)
	if len(cfg.PreTrusted) == 0 {
		for i := range tr.p {
			tr.p[i] = 1 / float64(n)
		}
	} else {
		seen := map[int]bool{}
		for _, k := range cfg.PreTrusted {
			seen[tr.index[k]] = true
		}
		for i := range seen {
			tr.p[i] = 1 / float64(len(seen))
		}
	}
	tr.buildRows(n)
	tr.iterate(eps, maxIter)
	return tr, nil
}

func (tr *Trust[K]) add(k K) int {
	if i, ok := tr.index[k]; ok {
		return i
	}
	tr.index[k] = len(tr.ids)
	tr.ids = append(tr.ids, k)
	return len(tr.ids) - 1
}

// merge sorts the opinions by (from, to) and adds up duplicates, in a
// fixed order: the order of additions must not change a bit of a sum.
func (tr *Trust[K]) merge(raw []opinion) {
	slices.SortStableFunc(raw, func(x, y opinion) int {
		return cmp.Or(cmp.Compare(x.from, y.from), cmp.Compare(x.to, y.to))
	})
	for _, o := range raw {
		if l := len(tr.opinions) - 1; l >= 0 && tr.opinions[l].from == o.from && tr.opinions[l].to == o.to {
			tr.opinions[l].good += o.good
			tr.opinions[l].bad += o.bad
			continue
		}
		tr.opinions = append(tr.opinions, o)
	}
	tr.byTo = make([][]int, len(tr.ids))
	for x, o := range tr.opinions {
		tr.byTo[o.to] = append(tr.byTo[o.to], x)
	}
}

// buildRows normalises local trust (Kamvar §4.1): s_ij = good − bad,
// c_ij = max(s_ij, 0) / Σ_j max(s_ij, 0). A row with no positive entry is
// dangling: its owner's trust goes where the pre-trusted set's does. The
// opinions are sorted by (from, to), so each row comes out sorted by j.
func (tr *Trust[K]) buildRows(n int) {
	tr.rows = make([][]edge, n)
	sums := make([]float64, n)
	for _, o := range tr.opinions {
		if v := o.good - o.bad; v > 0 {
			tr.rows[o.from] = append(tr.rows[o.from], edge{o.to, v})
			sums[o.from] += v
		}
	}
	tr.dangling = make([]bool, n)
	for i, row := range tr.rows {
		if len(row) == 0 {
			tr.dangling[i] = true
			continue
		}
		for e := range row {
			row[e].c /= sums[i]
		}
	}
}

// iterate is the power iteration t(k+1) = (1−a)·Cᵀ·t(k) + a·p from
// t(0) = p, stopping at an L1 change of eps.
func (tr *Trust[K]) iterate(eps float64, maxIter int) {
	n, a := len(tr.ids), tr.damping
	t, next := slices.Clone(tr.p), make([]float64, n)
	for k := 1; k <= maxIter; k++ {
		lost := 0.0 // the dangling rows' trust, spread as p
		for j := range next {
			next[j] = a * tr.p[j]
		}
		for i, row := range tr.rows {
			if tr.dangling[i] {
				lost += t[i]
				continue
			}
			w := (1 - a) * t[i]
			for _, e := range row {
				next[e.to] += w * e.c
			}
		}
		delta := 0.0
		for j := range next {
			next[j] += (1 - a) * lost * tr.p[j]
			delta += math.Abs(next[j] - t[j])
		}
		t, next = next, t
		tr.Iterations, tr.Delta = k, delta
		if delta <= eps {
			break
		}
	}
	tr.t = t
	for i, v := range t {
		tr.max = max(tr.max, v)
		if tr.dangling[i] {
			tr.lost += v
		}
	}
}

// Of returns k's global trust: its share of the whole, 0 for an identity
// the computation never saw. The shares sum to 1.
func (tr *Trust[K]) Of(k K) float64 {
	if i, ok := tr.index[k]; ok {
		return tr.t[i]
	}
	return 0
}

// Score returns k's global trust relative to the most trusted identity,
// in [0, 1]: what a user reads and filters on (--min-trust), since a share
// of the whole shrinks as the network grows while the ranking does not.
func (tr *Trust[K]) Score(k K) float64 {
	if tr.max == 0 {
		return 0
	}
	return tr.Of(k) / tr.max
}

// Len returns the number of identities the computation saw.
func (tr *Trust[K]) Len() int { return len(tr.ids) }

// Ranked returns every identity the computation saw, most trusted first
// (ties in the order they were first seen).
func (tr *Trust[K]) Ranked() []K {
	idx := make([]int, len(tr.ids))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(x, y int) int { return cmp.Compare(tr.t[y], tr.t[x]) })
	out := make([]K, len(idx))
	for r, i := range idx {
		out[r] = tr.ids[i]
	}
	return out
}
