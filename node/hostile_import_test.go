package node

import (
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ghostwire/ghostwire/fault"
)

// TestIOCImportHostileKeepsStore: a node given hostile import input (random
// bytes, nesting 100,000 deep, a bundle cut short after its first
// indicators) refuses each as malformed, stores none of it, and keeps and
// lists what it held before (issue 19). ioc's TestImportHostileInputs bounds
// the reader's memory on the same kinds of input.
func TestIOCImportHostileKeepsStore(t *testing.T) {
	tn := startTestNode(t, t.TempDir(), 74)
	good := `{"type":"bundle","objects":[{"type":"indicator","spec_version":"2.1","id":"indicator--11111111-2222-4333-8444-555555555555",
	  "created":"2026-01-01T00:00:00Z","modified":"2026-01-01T00:00:00Z","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z",
	  "pattern":"[domain-name:value = 'kept.example']"}]}`
	if _, err := tn.n.coll.Import(strings.NewReader(good), ImportRequest{TLP: "clear"}, nil); err != nil {
		t.Fatal(err)
	}
	before := indicators(t, tn, "default")
	cut := good[:strings.Index(good, "pattern_type")] // the indicator's object never ends
	for name, in := range map[string]io.Reader{
		"random bytes": io.LimitReader(rand.NewChaCha8([32]byte{74}), 8<<20),
		"deep nesting": strings.NewReader(`{"type":"bundle","objects":[` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + "]}"),
		"cut short":    strings.NewReader(cut),
	} {
		res, err := tn.n.coll.Import(in, ImportRequest{TLP: "clear"}, nil)
		if fault.KindOf(err) != fault.Malformed || res != nil && res.Stored != 0 {
			t.Errorf("%s: %v (%+v), want a malformed-input error and nothing stored", name, err, res)
		}
	}
	after := indicators(t, tn, "default")
	if len(after) != 1 || len(before) != 1 {
		t.Fatalf("held %d indicators before, %d after, want 1 and 1", len(before), len(after))
	}
	for cid := range before {
		if _, ok := after[cid]; !ok {
			t.Errorf("%s lost", cid)
		}
	}
}
