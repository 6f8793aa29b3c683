package node

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/rating"
	"github.com/ghostwire/ghostwire/recon"
)

// valuesAbove lists, by value, the IOCs n lists with --min-trust min.
func valuesAbove(t *testing.T, n *hnode, min float64) map[string]float64 {
	t.Helper()
	score, err := n.SourceTrust()
	if err != nil {
		t.Fatal(err)
	}
	xs, err := n.coll.List(IOCFilter{SourceTrust: score, MinTrust: min})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, x := range xs {
		out[x.Value] = *x.SourceTrust
	}
	return out
}

// TestReputationEndToEnd: three nodes with real stores sync over real
// sessions, A–B–C in a line. C is a source A never added. B rates C good,
// and A, which trusts B, lists C's indicator above --min-trust 0.5; then B
// marks C's indicator a false positive and rates C bad, and after one sync
// A's --min-trust 0.5 leaves it out, while it still lists B's own.
func TestReputationEndToEnd(t *testing.T) {
	a, b, c := newHNode(t, 41), newHNode(t, 42), newHNode(t, 43)
	pairUp(t, a, b)
	pairUp(t, b, c)
	// A's pre-trusted set is its verified contacts: A verifies B.
	if _, err := a.VerifyPeer(b.ID(), identity.SafetyNumber(a.ID(), b.ID())); err != nil {
		t.Fatal(err)
	}
	if _, err := c.coll.Drop(DropRequest{Type: "domain", Value: "evil.example", TLP: "clear"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.coll.Drop(DropRequest{Type: "domain", Value: "good.example", TLP: "clear"}); err != nil {
		t.Fatal(err)
	}
	mustSync(t, b, c)
	if _, err := b.rate.Rate(c.ID(), rating.Good); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a, b)
	got := valuesAbove(t, a, 0.5)
	t.Logf("A after B rated C good: %v", got)
	if got["good.example"] != 1 || got["evil.example"] < 0.5 {
		t.Fatalf("A lists %v above 0.5; want B's indicator at 1 (a contact with no opinions against it) and C's vouched for by B", got)
	}

	xs, err := b.coll.List(IOCFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var evil string
	for _, x := range xs {
		if x.Value == "evil.example" {
			evil = x.ID
		}
	}
	s, err := b.rate.Sight(evil[:16], rating.FalsePositive)
	if err != nil {
		t.Fatal(err)
	}
	if s.Source != c.ID().String() || s.Verdict != "false-positive" {
		t.Fatalf("sighting %+v; want C's statement as a false positive", s)
	}
	if _, err := b.rate.Rate(c.ID(), rating.Bad); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a, b)
	got = valuesAbove(t, a, 0.5)
	t.Logf("A after B's false positive and bad rating: %v", got)
	if _, listed := got["evil.example"]; listed || got["good.example"] != 1 {
		t.Fatalf("A lists %v above 0.5; want only B's indicator", got)
	}
	all := valuesAbove(t, a, 0)
	if v, ok := all["evil.example"]; !ok || v != 0 {
		t.Fatalf("A lists %v with no minimum; want C's indicator too, at trust 0", all)
	}
	rep, err := a.TrustReport(&c.id)
	if err != nil {
		t.Fatal(err)
	}
	// B's bad rating replaced its good one (last writer wins, §5.10).
	if sc := rep.Scores[0]; len(sc.Vouchers) != 1 || sc.Vouchers[0].Peer != b.ID().String() || sc.Vouchers[0].Good != 0 ||
		sc.Vouchers[0].Bad != rating.RatingWeight+1 || sc.Vouchers[0].Weight != 0 {
		t.Fatalf("A explains C as %+v; want one voucher, B, with only the bad rating and the false positive, passing nothing", sc)
	}
}

// TestReputationBadInput: a forged sighting is refused by the receiving
// node, a sighting naming another source than its target's author is
// refused, and sighting an unknown or an amber IOC, or rating oneself, is
// an error that says what to do.
func TestReputationBadInput(t *testing.T) {
	a, b := newHNode(t, 51), newHNode(t, 52)
	pairUp(t, a, b)
	x, err := b.coll.Drop(DropRequest{Type: "ipv4", Value: "192.0.2.7", TLP: "clear"})
	if err != nil {
		t.Fatal(err)
	}
	mustSync(t, a, b)

	var target item.ID
	copy(target[:], mustHexID(t, x.ID))
	sighting, err := rating.NewSighting(b.key, rating.Sighting{Target: target, Source: b.ID(), Verdict: rating.Seen}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	forged := sighting.Bytes()
	forged[len(forged)-1] ^= 1 // the signature is the last field
	wrongSource, err := rating.NewSighting(b.key, rating.Sighting{Target: target, Source: a.ID(), Verdict: rating.FalsePositive}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	refused, err := syncStore{a.Node}.Accept(b.ID(), rating.Scope(), [][]byte{forged, wrongSource.Bytes(), sighting.Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	forgedIt, _ := item.Decode(forged)
	want := []recon.ID{recon.ID(forgedIt.ID()), recon.ID(wrongSource.ID())}
	if len(refused) != 2 || refused[0] != want[0] || refused[1] != want[1] {
		t.Fatalf("refused %x; want the forged sighting and the one naming the wrong source", refused)
	}
	ops, err := a.rate.Opinions()
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 1 || ops[0].From != b.ID() || ops[0].To != b.ID() || ops[0].Good != 1 {
		t.Fatalf("A holds opinions %+v; want only B's genuine sighting", ops)
	}

	// A sighting of an indicator its author has retracted is still
	// admitted: the target cannot be checked, and the experience stands.
	late, err := rating.NewSighting(a.key, rating.Sighting{Target: target, Source: b.ID(), Verdict: rating.FalsePositive}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.coll.Retract(x.ID); err != nil {
		t.Fatal(err)
	}
	if refused, err := (syncStore{b.Node}).Accept(a.ID(), rating.Scope(), [][]byte{late.Bytes()}); err != nil || len(refused) != 0 {
		t.Fatalf("a sighting of a retracted IOC: refused %d (%v); want it admitted", len(refused), err)
	}

	amber, err := a.coll.Drop(DropRequest{Type: "ipv4", Value: "192.0.2.8", TLP: "amber", To: []string{b.ID().String()}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.rate.Sight(amber.ID, rating.Seen)
	if f := fault.As(err); f == nil || f.Kind != fault.Invalid || !strings.Contains(f.Msg, "sealed") {
		t.Fatalf("sighting an amber IOC: %v; want an invalid error saying it would reveal the IOC", err)
	}
	_, err = a.rate.Sight("0123456789abcdef", rating.Seen)
	if f := fault.As(err); f == nil || f.Kind != fault.UnknownIOC {
		t.Fatalf("sighting an unknown IOC: %v; want an unknown_ioc error", err)
	}
	_, err = a.rate.Rate(a.ID(), rating.Good)
	if f := fault.As(err); f == nil || f.Kind != fault.Invalid || !strings.Contains(f.Msg, "yourself") || f.Hint == "" {
		t.Fatalf("rating oneself: %v; want an invalid error that says so, with a hint", err)
	}
	self, err := item.New(a.key, item.KindRating, item.ReputationSpace(), time.Now(), mustRatingPayload(t, a.ID()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rating.RatingOf(self); !errors.Is(err, rating.ErrSelf) {
		t.Fatalf("a received rating of its own author: %v; want ErrSelf", err)
	}
	if refused, _ := (syncStore{b.Node}).Accept(a.ID(), rating.Scope(), [][]byte{self.Bytes()}); len(refused) != 1 {
		t.Fatalf("B stored A's rating of itself (refused %d)", len(refused))
	}
}

func mustHexID(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != item.IDSize {
		t.Fatalf("bad item ID %q", s)
	}
	return b
}

// mustRatingPayload is §5.10's rating payload {1: subject, 2: 1 (good)},
// written out so that the test can sign what NewRating refuses to.
func mustRatingPayload(t *testing.T, subject identity.ID) []byte {
	t.Helper()
	b, err := hex.DecodeString("a2015820" + subject.Hex() + "0201")
	if err != nil {
		t.Fatal(err)
	}
	return b
}
