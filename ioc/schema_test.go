package ioc

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/ioc/stixschema"
)

// TestExportValidatesAgainstOASISSchemas re-exports every fixture that
// imports and a generated 10,000-indicator collection (every type, every
// TLP level, with and without validity, confidence, tags, references, and
// some retracted or sighted), and checks every object against the official OASIS
// STIX 2.1 JSON schemas: 0 errors.
func TestExportValidatesAgainstOASISSchemas(t *testing.T) {
	v, err := stixschema.New()
	if err != nil {
		t.Fatal(err)
	}
	// The validator must catch what is wrong: an indicator without its
	// required pattern, and a revoked flag that is not a boolean.
	for _, bad := range []string{
		`{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}`,
		`{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '1.2.3.4']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z","revoked":"yes"}`,
	} {
		if err := v.Object([]byte(bad)); err == nil {
			t.Fatalf("the schemas accept a broken object: %s", bad)
		}
	}
	author := testKey(t, 1).ID()
	created := time.UnixMilli(1_700_000_000_000).UTC()
	check := func(t *testing.T, name string, b []byte) int {
		t.Helper()
		errs := v.Bundle(b)
		for i, err := range errs {
			if i == 5 {
				t.Errorf("%s: %d more errors", name, len(errs)-5)
				break
			}
			t.Errorf("%s: %v", name, err)
		}
		return bytes.Count(b, []byte(`"spec_version":"2.1"`))
	}
	files, objects := 0, 0
	opts := ImportOptions{DefaultTLP: TLPGreen, Recipients: []identity.ID{testKey(t, 2).ID()}}
	err = filepath.WalkDir(fixturePath(t, "."), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		res, err := Import(f, opts)
		if err != nil || len(res.Records) == 0 {
			return nil // not an indicator file: import's own tests cover it
		}
		var es []Entry
		for _, r := range res.Records {
			es = append(es, Entry{Record: r, Author: author, Created: created})
		}
		var b bytes.Buffer
		if err := ExportSTIX(&b, es); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		files++
		objects += check(t, p, b.Bytes())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 10 {
		t.Fatalf("only %d fixtures exported; the fixtures directory is not what it should be", files)
	}

	var b bytes.Buffer
	sw := NewSTIXWriter(&b)
	for i := range 10_000 {
		e := syntheticEntry(t, i, author, created)
		if i%13 == 0 && !e.Record.TLP.Restricted() {
			e.Sightings = []Sighting{{ID: fmt.Sprintf("%064x", i), Sighter: testKey(t, 3).ID(), FalsePositive: i%2 == 0, Created: created.Add(time.Minute)}}
		}
		var revoked time.Time
		if i%97 == 0 {
			revoked = created.Add(time.Hour)
		}
		if err := sw.Write(&e, revoked); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	n := check(t, "generated", b.Bytes())
	if n < 10_000 {
		t.Fatalf("generated bundle has %d objects, want at least 10,000", n)
	}
	t.Logf("%d fixture files (%d objects) and %d generated objects: 0 schema errors", files, objects, n)
}

// syntheticEntry is the i-th indicator of a synthetic collection: each type and
// TLP level in turn, every optional field on some.
func syntheticEntry(t testing.TB, i int, author identity.ID, created time.Time) Entry {
	t.Helper()
	typ := Types()[i%len(Types())]
	value := map[Type]string{
		TypeIPv4: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), TypeIPv6: fmt.Sprintf("2001:db8::%x", i),
		TypeCIDR: fmt.Sprintf("10.%d.%d.0/24", i>>8&255, i&255), TypeDomain: fmt.Sprintf("d%d.example", i),
		TypeHostname: fmt.Sprintf("h%d.example.org", i), TypeURL: fmt.Sprintf("https://u%d.example/p?q=%d", i, i),
		TypeEmail: fmt.Sprintf("a%d@example.com", i), TypeMD5: fmt.Sprintf("%032x", i), TypeSHA1: fmt.Sprintf("%040x", i),
		TypeSHA256: fmt.Sprintf("%064x", i), TypeCVE: fmt.Sprintf("CVE-2024-%05d", 10000+i),
	}[typ]
	tlp := TLP(1 + i%int(tlpEnd-1))
	r := Record{Type: typ, Value: value, TLP: tlp, Confidence: NoConfidence}
	if tlp.Restricted() {
		r.Recipients = []identity.ID{testKey(t, 2).ID()}
	}
	if i%3 == 0 {
		r.Confidence = i % 101
		r.Tags = []string{"campaign-x", fmt.Sprintf("tag-%d", i%7)}
		r.Description = "seen in \"quotes\" and <angles>"
		r.References = []string{fmt.Sprintf("https://ref.example/%d", i)}
	}
	if i%5 == 0 {
		r.ValidFrom = created.Add(-time.Hour)
		r.ValidUntil = created.Add(24 * time.Hour)
	}
	if i%11 == 0 {
		r.Informational = true
	}
	if err := r.Normalize(); err != nil {
		t.Fatalf("generated %d: %v", i, err)
	}
	return Entry{Record: r, Author: author, Created: created}
}
