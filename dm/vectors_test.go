package dm

import (
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/wire"
)

var update = flag.Bool("update", false, "rewrite testdata")

// burnVector is one case of testdata/burn_payload_v1.json
// (docs/protocol.md §5.11): a payload and what a decoder must make of it.
type burnVector struct {
	Name      string `json:"name"`
	Payload   string `json:"payload"` // hex
	Expect    string `json:"expect"`  // "ok" or "refused"
	TTL       uint64 `json:"ttl,omitempty"`
	AfterRead bool   `json:"after_read,omitempty"`
	Sealed    string `json:"sealed,omitempty"` // hex
}

const burnVectorFile = "testdata/burn_payload_v1.json"

func makeBurnVectors(t *testing.T) []burnVector {
	enc := func(v any) string {
		b, err := wire.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(b)
	}
	type anyMap = map[int]any
	body := []byte{0xde, 0xad}
	return []burnVector{
		{Name: "ttl 10m, after read", Payload: enc(burnPayload{TTL: 600, AfterRead: true, Sealed: body}), Expect: "ok", TTL: 600, AfterRead: true, Sealed: "dead"},
		{Name: "ttl 1m (the least)", Payload: enc(burnPayload{TTL: 60, Sealed: body}), Expect: "ok", TTL: 60, Sealed: "dead"},
		{Name: "ttl 365d (the most), after read alone", Payload: enc(burnPayload{TTL: uint64(MaxTTL / time.Second), AfterRead: true, Sealed: body}), Expect: "ok", TTL: 31536000, AfterRead: true, Sealed: "dead"},
		{Name: "ttl 59s", Payload: enc(burnPayload{TTL: 59, Sealed: body}), Expect: "refused"},
		{Name: "ttl 365d + 1s", Payload: enc(burnPayload{TTL: 31536001, Sealed: body}), Expect: "refused"},
		{Name: "no body", Payload: enc(anyMap{1: 600}), Expect: "refused"},
		{Name: "after-read false written out", Payload: enc(anyMap{1: 600, 2: false, 3: body}), Expect: "refused"},
		{Name: "unknown key 4", Payload: enc(anyMap{1: 600, 3: body, 4: 1}), Expect: "refused"},
		{Name: "ttl as a string", Payload: enc(anyMap{1: "600", 3: body}), Expect: "refused"},
		{Name: "ttl not in its shortest form", Payload: "a2" + "1a00000258" + "03" + "42dead", Expect: "refused"},
	}
}

// TestBurnPayloadVectors checks the decoder against the vector file
// (-update writes it from makeBurnVectors).
func TestBurnPayloadVectors(t *testing.T) {
	if *update {
		b, err := json.MarshalIndent(makeBurnVectors(t), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(burnVectorFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(burnVectorFile)
	if err != nil {
		t.Fatal(err)
	}
	var vs []burnVector
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) < 10 {
		t.Fatalf("%s holds %d vectors", burnVectorFile, len(vs))
	}
	for _, v := range vs {
		p, err := hex.DecodeString(v.Payload)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		tm, sealed, err := decodeBurn(p)
		switch {
		case v.Expect == "refused" && err == nil:
			t.Errorf("%s: decoded, want refused", v.Name)
		case v.Expect == "ok" && err != nil:
			t.Errorf("%s: %v", v.Name, err)
		case v.Expect == "ok" && (uint64(tm.TTL/time.Second) != v.TTL || tm.AfterRead != v.AfterRead || hex.EncodeToString(sealed) != v.Sealed):
			t.Errorf("%s: decoded %+v %x", v.Name, tm, sealed)
		}
	}
}
