package reputation

import (
	"cmp"
	"slices"
)

// Voucher is one identity's part in another's global trust.
type Voucher[K comparable] struct {
	From K
	// Good and Bad are From's opinion of the subject, as given.
	Good, Bad float64
	// Weight is c_ij: the share of From's trust it passes to the subject
	// (0 when its opinion is not positive on balance).
	Weight float64
	// Contribution is (1−a)·t_From·Weight: how much of the subject's
	// global trust came through From in the last iteration.
	Contribution float64
}

// Explanation says where an identity's global trust comes from.
type Explanation[K comparable] struct {
	Subject K
	Trust   float64 // global trust (Of)
	Score   float64 // relative to the most trusted (Score)
	// PreTrusted reports whether the user trusts the subject directly;
	// Base is what it gets for that: a·p plus its part of the trust of
	// identities that vouch for no one.
	PreTrusted bool
	Base       float64
	// Vouchers are the identities with an opinion of the subject, largest
	// contribution first; those whose opinion is negative on balance have
	// Weight 0.
	Vouchers []Voucher[K]
}

// Explain says where k's trust comes from. It is computed from the final
// trust vector, so the parts add up to Trust within the convergence
// tolerance. It costs O(opinions of k), so explaining everyone is linear.
func (tr *Trust[K]) Explain(k K) Explanation[K] {
	ex := Explanation[K]{Subject: k, Trust: tr.Of(k), Score: tr.Score(k)}
	j, ok := tr.index[k]
	if !ok {
		return ex
	}
	a := tr.damping
	ex.PreTrusted = tr.p[j] > 0
	ex.Base = a*tr.p[j] + (1-a)*tr.lost*tr.p[j]
	for _, x := range tr.byTo[j] {
		o := tr.opinions[x]
		i := o.from
		v := Voucher[K]{From: tr.ids[i], Good: o.good, Bad: o.bad}
		if e, found := slices.BinarySearchFunc(tr.rows[i], j, func(e edge, to int) int { return cmp.Compare(e.to, to) }); found && !tr.dangling[i] {
			v.Weight = tr.rows[i][e].c
			v.Contribution = (1 - a) * tr.t[i] * v.Weight
		}
		ex.Vouchers = append(ex.Vouchers, v)
	}
	slices.SortFunc(ex.Vouchers, func(x, y Voucher[K]) int {
		if c := cmp.Compare(y.Contribution, x.Contribution); c != 0 {
			return c
		}
		return cmp.Compare(tr.index[x.From], tr.index[y.From])
	})
	return ex
}
