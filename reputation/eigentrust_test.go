package reputation

import (
	"errors"
	"math"
	"testing"
)

// TestTrustFlowsFromPreTrusted: on a small graph worked by hand, an
// identity only strangers vouch for gets nothing, and a vouched-for one
// gets what its voucher passes on.
func TestTrustFlowsFromPreTrusted(t *testing.T) {
	ops := []Opinion[string]{
		{From: "me", To: "alice", Good: 1},
		{From: "alice", To: "bob", Good: 2, Bad: 1},
		{From: "mallory", To: "eve", Good: 100},
		{From: "eve", To: "mallory", Good: 100},
		{From: "bob", To: "alice", Bad: 3}, // negative: passes nothing
	}
	tr, err := Compute(ops, Config[string]{PreTrusted: []string{"me"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"mallory", "eve"} {
		if got := tr.Of(k); got != 0 {
			t.Errorf("%s: trust %v, want 0 (only strangers vouch)", k, got)
		}
	}
	if !(tr.Of("me") > tr.Of("alice") && tr.Of("alice") > tr.Of("bob") && tr.Of("bob") > 0) {
		t.Errorf("trust me %.4f alice %.4f bob %.4f; want decreasing along the chain and bob > 0",
			tr.Of("me"), tr.Of("alice"), tr.Of("bob"))
	}
	if got := tr.Score("me"); got != 1 {
		t.Errorf("the most trusted identity scores %v, want 1", got)
	}
	if got := tr.Of("nobody"); got != 0 {
		t.Errorf("an identity never seen has trust %v, want 0", got)
	}
	// The fixed point by hand, p = me: bob is the only dangling identity
	// (his one opinion is negative; eve and mallory vouch for each other
	// and receive nothing), so me = a + (1−a)·bob, alice = (1−a)·me and
	// bob = (1−a)·alice, hence me = a / (1 − (1−a)³).
	a := DefaultDamping
	me := a / (1 - (1-a)*(1-a)*(1-a))
	if math.Abs(tr.Of("me")-me) > 1e-6 {
		t.Errorf("me: %.8f, want %.8f", tr.Of("me"), me)
	}
}

func TestSelfOpinionIgnored(t *testing.T) {
	tr, err := Compute([]Opinion[string]{{From: "x", To: "x", Good: 9}, {From: "me", To: "y", Good: 1}},
		Config[string]{PreTrusted: []string{"me"}})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() != 2 || tr.Of("x") != 0 {
		t.Errorf("a self-opinion counted: %d identities, x has %v", tr.Len(), tr.Of("x"))
	}
}

func TestDampingRange(t *testing.T) {
	for _, a := range []float64{-0.1, 1, 1.5, math.NaN()} {
		if _, err := Compute[int](nil, Config[int]{Damping: a}); !errors.Is(err, ErrDamping) {
			t.Errorf("damping %v: %v, want ErrDamping", a, err)
		}
	}
}

// TestNoPreTrustedIsUniform: without a pre-trusted set the teleport is
// uniform, as the paper's fallback; the doc says this resists nothing.
func TestNoPreTrustedIsUniform(t *testing.T) {
	tr, err := Compute([]Opinion[int]{{From: 1, To: 2, Good: 1}, {From: 2, To: 1, Good: 1}}, Config[int]{})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(tr.Of(1)-0.5) > 1e-9 || math.Abs(tr.Of(2)-0.5) > 1e-9 {
		t.Errorf("trust %v %v, want 0.5 each", tr.Of(1), tr.Of(2))
	}
	empty, err := Compute[int](nil, Config[int]{})
	if err != nil || empty.Len() != 0 || empty.Score(1) != 0 {
		t.Errorf("empty: %v, %d identities, score %v", err, empty.Len(), empty.Score(1))
	}
}

// TestExplainAddsUp: the base and the vouchers' contributions make up the
// identity's trust, and a negative voucher is listed with weight 0.
func TestExplainAddsUp(t *testing.T) {
	ops := randomGraph(300, 4, 7)
	ops = append(ops, Opinion[int]{From: 0, To: 5, Bad: 4})
	tr, err := Compute(ops, Config[int]{PreTrusted: []int{0, 1, 5}})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []int{0, 5, 17, 299} {
		ex := tr.Explain(k)
		sum := ex.Base
		for _, v := range ex.Vouchers {
			sum += v.Contribution
		}
		if math.Abs(sum-ex.Trust) > 1e-5 {
			t.Errorf("%d: base and vouchers add to %.8f, trust is %.8f", k, sum, ex.Trust)
		}
	}
	ex := tr.Explain(5)
	found := false
	for _, v := range ex.Vouchers {
		if v.From == 0 {
			found = v.Weight == 0 && v.Bad == 4
		}
	}
	if !found || !ex.PreTrusted {
		t.Errorf("explain 5: pre-trusted %v, the negative voucher 0 listed with weight 0: %v", ex.PreTrusted, found)
	}
}

// TestDeterministic: the same opinions give the same bits every time
// (no map order leaks into a sum), and the same opinions in another order
// give the same trust up to rounding.
func TestDeterministic(t *testing.T) {
	ops := randomGraph(1000, 5, 3)
	a, _ := Compute(ops, Config[int]{PreTrusted: []int{0}})
	again, _ := Compute(ops, Config[int]{PreTrusted: []int{0}})
	rev := make([]Opinion[int], len(ops))
	for i, o := range ops {
		rev[len(ops)-1-i] = o
	}
	b, _ := Compute(rev, Config[int]{PreTrusted: []int{0}})
	for k := range 1000 {
		if a.Of(k) != again.Of(k) {
			t.Fatalf("identity %d: %v then %v from the same input", k, a.Of(k), again.Of(k))
		}
		if math.Abs(a.Of(k)-b.Of(k)) > 1e-12 {
			t.Fatalf("identity %d: %v, reversed input %v", k, a.Of(k), b.Of(k))
		}
	}
}
