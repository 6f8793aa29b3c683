package item

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/ghostwire/ghostwire/identity"
)

type scopeVector struct {
	Name string `json:"name"`
	Hex  string `json:"hex"`
}

// TestScopeVectors: the spaces and scopes of docs/protocol.md §10.1 for two
// fixed identities (the Ed25519 keys of seeds 32×0x01 and 32×0x02; their
// public keys are in the vector file) and the collection "default" match
// testdata/scopes_v1.json.
func TestScopeVectors(t *testing.T) {
	a, b := seedID(t, 1), seedID(t, 2)
	dsp, csp := DirectSpace(a, b), CollectionSpace("default")
	got := []scopeVector{
		{"identity a", hex.EncodeToString(a.Bytes())},
		{"identity b", hex.EncodeToString(b.Bytes())},
		{"direct space of a and b", hex.EncodeToString(dsp[:])},
		{"pair scope of a and b", scopeHex(PairScope(a, b))},
		{"collection space \"default\"", hex.EncodeToString(csp[:])},
		{"public scope of \"default\"", scopeHex(ScopeOf(csp, ClassPublic))},
		{"trusted scope of \"default\"", scopeHex(ScopeOf(csp, ClassTrusted))},
		{"direct scope of \"default\", author a, recipient b", scopeHex(ScopeOf(csp, DirectClass(a, b)))},
		{"restricted scope, author a, recipient b", scopeHex(RestrictedScope(a, b))},
	}
	if DirectSpace(b, a) != dsp || PairScope(b, a) != PairScope(a, b) {
		t.Fatal("the direct space depends on the order of its two parties")
	}
	const path = "testdata/scopes_v1.json"
	if *update {
		out, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(path, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (regenerate with: go test ./item -run TestScopeVectors -update)", err)
	}
	var want []scopeVector
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(got) {
		t.Fatalf("%s holds %d vectors, want %d", path, len(want), len(got))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s: derived %s, recorded %s (%q)", got[i].Name, got[i].Hex, want[i].Hex, want[i].Name)
		}
	}
}

func scopeHex(s Scope) string { return hex.EncodeToString(s[:]) }

// seedID is the identity whose Ed25519 seed is 32 bytes of b.
func seedID(t *testing.T, b byte) identity.ID {
	t.Helper()
	id, err := identity.NewID(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize)).Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return id
}
