package keys

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

// vector is one entry of testdata/vectors_v1.json (docs/protocol.md §5.12,
// §8.8): a name, the hex bytes and what a decoder must make of them.
type vector struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"` // space, scope, revocation item, revocation payload
	Hex    string `json:"hex"`
	ID     string `json:"id,omitempty"`     // an item's ID
	Expect string `json:"expect,omitempty"` // ok, invalid, not identity
}

func seedKey(t testing.TB, b byte) *identity.PrivateKey {
	t.Helper()
	k, err := identity.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// vectors builds the vectors from fixed keys (seed 32×0x01, the identity;
// 32×0x02, its subkey) and a fixed time.
func vectors(t *testing.T) []vector {
	a, sub := seedKey(t, 1), seedKey(t, 2)
	created := time.UnixMilli(1_790_000_000_000)
	sp, sc := item.KeysSpace(), Scope()
	out := []vector{
		{Name: "keys space", Kind: "space", Hex: hex.EncodeToString(sp[:])},
		{Name: "keys scope (class trusted)", Kind: "scope", Hex: hex.EncodeToString(sc[:])},
	}
	add := func(name string, it *item.Item, err error, expect string) {
		if err != nil {
			t.Fatal(err)
		}
		id := it.ID()
		out = append(out, vector{Name: name, Kind: "revocation item", Hex: hex.EncodeToString(it.Bytes()), ID: hex.EncodeToString(id[:]), Expect: expect})
		if expect == "ok" {
			out = append(out, vector{Name: name + " (payload)", Kind: "revocation payload", Hex: hex.EncodeToString(it.Payload()), Expect: "ok"})
		}
	}
	it, err := NewRevocation(a, sub.ID(), created.Add(-time.Hour), "device stolen", created)
	add("a revokes its subkey 02…02 from an hour before", it, err, "ok")
	it, err = NewRevocation(a, a.ID(), created, "identity key compromised", created)
	add("a revokes its own identity", it, err, "ok")
	// The same payload signed by a's subkey under a's certificate: the
	// item verifies (§5.9) but is no revocation.
	cert, err := item.Certify(a, sub.ID(), item.PurposeItem, created.Add(-24*time.Hour), created.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	sk, err := item.NewSubkey(a.ID(), sub, cert)
	if err != nil {
		t.Fatal(err)
	}
	it, err = item.New(sk, item.KindRevocation, item.KeysSpace(), created, out[2+1].payload(t))
	add("a's subkey signs a revocation for a", it, err, "not identity")

	subHex := hex.EncodeToString(sub.ID().Bytes())
	bad := []struct{ name, hex string }{
		// {1: sub, 2: 1790000000000, 3: reason}, each broken one way
		{"empty reason", "a3015820" + subHex + "021b000001a0c4506c0003" + "60"},
		{"reason with a newline", "a3015820" + subHex + "021b000001a0c4506c0003" + "62610a"},
		{"subject of 31 bytes", "a301581f" + subHex[2:] + "021b000001a0c4506c0003" + "6161"},
		{"no reason", "a2015820" + subHex + "021b000001a0c4506c00"},
		{"unknown key 4", "a4015820" + subHex + "021b000001a0c4506c0003" + "6161" + "0400"},
		{"time not minimal", "a3015820" + subHex + "021b00000000000000010361" + "61"},
	}
	for _, b := range bad {
		out = append(out, vector{Name: b.name, Kind: "revocation payload", Hex: b.hex, Expect: "invalid"})
	}
	return out
}

func (v vector) payload(t *testing.T) []byte {
	b, err := hex.DecodeString(v.Hex)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVectors checks testdata/vectors_v1.json against the code: the same
// bytes, and the expected outcome for each.
func TestVectors(t *testing.T) {
	want := vectors(t)
	if *update {
		b, err := json.MarshalIndent(want, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("testdata/vectors_v1.json", append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := readVectors(t)
	if len(got) != len(want) {
		t.Fatalf("%d vectors in testdata, the code makes %d (regenerate with: go test ./keys -run TestVectors -update)", len(got), len(want))
	}
	for i, v := range got {
		if v != want[i] {
			t.Errorf("vector %q differs from what the code makes: %+v, want %+v", v.Name, v, want[i])
		}
		b := v.payload(t)
		var outcome string
		switch v.Kind {
		case "space", "scope":
			continue
		case "revocation item":
			it, err := item.Decode(b)
			if err == nil {
				err = it.Verify(time.UnixMilli(1_790_000_000_000))
			}
			if err == nil {
				_, err = RevocationOf(it)
			}
			outcome = outcomeOf(err)
		case "revocation payload":
			_, err := decode(b)
			outcome = outcomeOf(err)
		}
		if outcome != v.Expect {
			t.Errorf("vector %q: %s, want %s", v.Name, outcome, v.Expect)
		}
	}
}

func outcomeOf(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrNotIdentity):
		return "not identity"
	case errors.Is(err, ErrInvalid):
		return "invalid"
	}
	return err.Error()
}

// readVectors reads testdata/vectors_v1.json.
func readVectors(t testing.TB) []vector {
	raw, err := os.ReadFile("testdata/vectors_v1.json")
	if err != nil {
		t.Fatalf("%v (regenerate with: go test ./keys -run TestVectors -update)", err)
	}
	var vs []vector
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

var fuzzKey, _ = identity.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))

// FuzzDecodeRevocation: no input panics, whatever decodes re-encodes to
// the same bytes (a canonical encoding has one form), and no strict prefix
// of it decodes.
func FuzzDecodeRevocation(f *testing.F) {
	for _, v := range readVectors(f) {
		if v.Kind == "revocation payload" {
			b, _ := hex.DecodeString(v.Hex)
			f.Add(b)
		}
	}
	roundTrip := func(b []byte) ([]byte, error) {
		w, err := decode(b)
		if err != nil {
			return nil, err
		}
		sub, _ := identity.NewID(w.Subject)
		at := time.UnixMilli(int64(w.At))
		it, err := NewRevocation(fuzzKey, sub, at, w.Reason, at)
		if err != nil {
			return nil, fmt.Errorf("decoded %+v but cannot encode it: %v", w, err)
		}
		return it.Payload(), nil
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
		// A prefix that does not decode cannot round-trip, so decode alone
		// is the check (stricter than a round trip, and without the
		// signature NewRevocation makes for each prefix).
		for i := range b {
			if _, err := decode(b[:i]); err == nil {
				t.Fatalf("the prefix %x of %x decodes", b[:i], b)
			}
		}
	})
}
