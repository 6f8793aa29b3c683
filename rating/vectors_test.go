package rating

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors_v1.json")

// vector is one entry of testdata/vectors_v1.json (docs/protocol.md §5.10,
// §8.4): a name, the hex bytes and what a decoder must make of them.
type vector struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"` // space, scope, sighting item, rating item, sighting payload, rating payload
	Hex    string `json:"hex"`
	ID     string `json:"id,omitempty"`     // an item's ID
	Expect string `json:"expect,omitempty"` // ok, invalid, self
}

func seedKey(t testing.TB, b byte) *identity.PrivateKey {
	t.Helper()
	k, err := identity.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// vectors builds the vectors from fixed keys (seeds 32×0x01, author, and
// 32×0x02, source) and a fixed time.
func vectors(t *testing.T) []vector {
	a, b := seedKey(t, 1), seedKey(t, 2)
	created := time.UnixMilli(1_790_000_000_000)
	target := item.ID(bytes.Repeat([]byte{0xab}, 32))
	sp, sc := item.ReputationSpace(), Scope()
	out := []vector{
		{Name: "reputation space", Kind: "space", Hex: hex.EncodeToString(sp[:])},
		{Name: "reputation scope (class trusted)", Kind: "scope", Hex: hex.EncodeToString(sc[:])},
	}
	items := []struct {
		name string
		make func() (*item.Item, error)
	}{
		{"a sights b's statement ab…ab: seen", func() (*item.Item, error) {
			return NewSighting(a, Sighting{Target: target, Source: b.ID(), Verdict: Seen}, created)
		}},
		{"a sights b's statement ab…ab: false positive", func() (*item.Item, error) {
			return NewSighting(a, Sighting{Target: target, Source: b.ID(), Verdict: FalsePositive}, created)
		}},
		{"a rates b good", func() (*item.Item, error) { return NewRating(a, Rating{Subject: b.ID(), Verdict: Good}, created) }},
		{"a rates b bad", func() (*item.Item, error) { return NewRating(a, Rating{Subject: b.ID(), Verdict: Bad}, created) }},
	}
	for _, c := range items {
		it, err := c.make()
		if err != nil {
			t.Fatal(err)
		}
		kind := "sighting item"
		if it.Kind() == item.KindRating {
			kind = "rating item"
		}
		id := it.ID()
		out = append(out, vector{Name: c.name, Kind: kind, Hex: hex.EncodeToString(it.Bytes()), ID: hex.EncodeToString(id[:]), Expect: "ok"})
		p := it.Payload()
		out = append(out, vector{Name: c.name + " (payload)", Kind: kind[:len(kind)-5] + " payload", Hex: hex.EncodeToString(p), Expect: "ok"})
	}
	bad := []struct{ name, kind, hex string }{
		// {1: h'ab…' (31 bytes), 2: b, 3: 1}
		{"sighting target of 31 bytes", "sighting payload", "a301581f" + hexRepeat("ab", 31) + "025820" + hex.EncodeToString(b.ID().Bytes()) + "0301"},
		{"sighting verdict 3 (MISP expiration)", "sighting payload", "a3015820" + hexRepeat("ab", 32) + "025820" + hex.EncodeToString(b.ID().Bytes()) + "0303"},
		{"sighting verdict 0", "sighting payload", "a3015820" + hexRepeat("ab", 32) + "025820" + hex.EncodeToString(b.ID().Bytes()) + "0300"},
		{"sighting without a source", "sighting payload", "a2015820" + hexRepeat("ab", 32) + "0301"},
		{"sighting with an unknown key 4", "sighting payload", "a4015820" + hexRepeat("ab", 32) + "025820" + hex.EncodeToString(b.ID().Bytes()) + "03010401"},
		{"sighting source of a small-order point", "sighting payload", "a3015820" + hexRepeat("ab", 32) + "025820" + "01" + hexRepeat("00", 31) + "0301"},
		{"rating verdict 3", "rating payload", "a2015820" + hex.EncodeToString(b.ID().Bytes()) + "0203"},
		{"rating with keys out of order", "rating payload", "a20201015820" + hex.EncodeToString(b.ID().Bytes())},
		{"rating with the verdict as a non-minimal integer", "rating payload", "a2015820" + hex.EncodeToString(b.ID().Bytes()) + "021801"},
	}
	for _, c := range bad {
		out = append(out, vector{Name: c.name, Kind: c.kind, Hex: c.hex, Expect: "invalid"})
	}
	// A rating item of a by a: a valid payload whose subject is its author.
	self, err := item.New(a, item.KindRating, sp, created, mustHex(t, "a2015820"+hex.EncodeToString(a.ID().Bytes())+"0201"))
	if err != nil {
		t.Fatal(err)
	}
	id := self.ID()
	out = append(out, vector{Name: "a rates a good", Kind: "rating item", Hex: hex.EncodeToString(self.Bytes()), ID: hex.EncodeToString(id[:]), Expect: "self"})
	return out
}

func hexRepeat(s string, n int) string { return string(bytes.Repeat([]byte(s), n)) }

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// check runs one vector through the decoders and says what they made of
// it, in the vector file's words.
func check(t *testing.T, v vector) string {
	b := mustHex(t, v.Hex)
	verdict := func(err error) string {
		switch {
		case err == nil:
			return "ok"
		case errors.Is(err, ErrSelf):
			return "self"
		case errors.Is(err, ErrInvalid):
			return "invalid"
		}
		return "error: " + err.Error()
	}
	switch v.Kind {
	case "sighting payload":
		_, err := decodeSighting(b)
		return verdict(err)
	case "rating payload":
		_, err := decodeRating(b)
		return verdict(err)
	case "sighting item", "rating item":
		it, err := item.Decode(b)
		if err != nil {
			return "malformed item: " + err.Error()
		}
		if err := it.Verify(time.UnixMilli(1_790_000_000_000)); err != nil {
			return "unverified item: " + err.Error()
		}
		id := it.ID()
		if hex.EncodeToString(id[:]) != v.ID {
			return "item ID " + hex.EncodeToString(id[:])
		}
		if v.Kind == "sighting item" {
			_, err = SightingOf(it)
		} else {
			_, err = RatingOf(it)
		}
		return verdict(err)
	}
	return ""
}

// TestVectors: the vectors of docs/protocol.md §5.10 are what this code
// makes from fixed keys, and each decodes to its recorded outcome.
func TestVectors(t *testing.T) {
	got := vectors(t)
	const path = "testdata/vectors_v1.json"
	if *update {
		out, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(path, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := readVectors(t)
	if len(want) != len(got) {
		t.Fatalf("%s holds %d vectors, this code makes %d", path, len(want), len(got))
	}
	for i, w := range want {
		if got[i] != w {
			t.Errorf("%s: made %+v, recorded %+v", w.Name, got[i], w)
		}
		if v := check(t, w); v != w.Expect && w.Expect != "" {
			t.Errorf("%s: decodes as %s, want %s", w.Name, v, w.Expect)
		}
	}
}

// FuzzDecodeSighting: no input panics, whatever decodes re-encodes to the
// same bytes (a canonical encoding has one form), and no strict prefix of
// it decodes.
func FuzzDecodeSighting(f *testing.F) {
	fuzzCanonical(f, "sighting payload", func(b []byte) ([]byte, error) {
		s, err := decodeSighting(b)
		if err != nil {
			return nil, err
		}
		it, err := NewSighting(unsigned{fuzzKey}, s, time.UnixMilli(0))
		if err != nil {
			return nil, fmt.Errorf("decoded %+v but cannot encode it: %v", s, err)
		}
		return it.Payload(), nil
	})
}

// FuzzDecodeRating: as FuzzDecodeSighting, for ratings.
func FuzzDecodeRating(f *testing.F) {
	fuzzCanonical(f, "rating payload", func(b []byte) ([]byte, error) {
		r, err := decodeRating(b)
		if err != nil {
			return nil, err
		}
		key := fuzzKey
		if r.Subject == key.ID() {
			key = fuzzKey2 // NewRating refuses a rating of its signer
		}
		it, err := NewRating(unsigned{key}, r, time.UnixMilli(0))
		if err != nil {
			return nil, fmt.Errorf("decoded %+v but cannot encode it: %v", r, err)
		}
		return it.Payload(), nil
	})
}

// unsigned signs for k with a fixed signature in the fuzzers' round trips:
// the payload is what is fuzzed, and a real Ed25519 signature per input
// and per prefix was most of each input's cost.
type unsigned struct{ k *identity.PrivateKey }

func (u unsigned) ID() identity.ID  { return u.k.ID() }
func (unsigned) Sign([]byte) []byte { return make([]byte, 64) }

var (
	fuzzKey, _  = identity.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	fuzzKey2, _ = identity.NewKeyFromSeed(bytes.Repeat([]byte{10}, 32))
)

// fuzzCanonical fuzzes one payload decoder, seeded with the vectors of its
// kind. roundTrip decodes b and encodes the result again; it fails with
// ErrInvalid for input the decoder refuses, and with any other error when
// what decoded cannot be encoded.
func fuzzCanonical(f *testing.F, kind string, roundTrip func(b []byte) ([]byte, error)) {
	for _, v := range readVectors(f) {
		if v.Kind == kind {
			b, _ := hex.DecodeString(v.Hex)
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		again, err := roundTrip(b)
		if errors.Is(err, ErrInvalid) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("decoded %x, re-encoded %x", b, again)
		}
		for i := range b {
			if _, err := roundTrip(b[:i]); err == nil {
				t.Fatalf("the prefix %x of %x decodes", b[:i], b)
			}
		}
	})
}

// readVectors reads testdata/vectors_v1.json.
func readVectors(t testing.TB) []vector {
	raw, err := os.ReadFile("testdata/vectors_v1.json")
	if err != nil {
		t.Fatalf("%v (regenerate with: go test ./rating -run TestVectors -update)", err)
	}
	var vs []vector
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}
