package ioc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// streamed imports b with ImportStream in windows of window records and
// returns the content IDs emitted (in order) and the result.
func streamed(b []byte, opts ImportOptions, window int) ([]ContentID, *Result, error) {
	var ids []ContentID
	res, err := ImportStream(bytes.NewReader(b), opts, window, func(recs []Record) error {
		if len(recs) > window {
			return fmt.Errorf("a window of %d records, more than %d", len(recs), window)
		}
		for i := range recs {
			if err := recs[i].Validate(); err != nil {
				return fmt.Errorf("invalid record emitted: %v", err)
			}
			ids = append(ids, recs[i].ContentID())
		}
		return nil
	})
	return ids, res, err
}

// sameAsImport checks what ImportStream gives against Import: with a
// window larger than the input, the same records (as a set: STIX records
// resolve as soon as their markings are known, so their order may differ),
// objects and issues; with a window of 3, the same records less merging
// across windows.
func sameAsImport(t *testing.T, b []byte, opts ImportOptions) {
	t.Helper()
	whole, werr := Import(bytes.NewReader(b), opts)
	opts.MaxPending = 1 << 30
	ids, res, err := streamed(b, opts, 1<<30)
	if (werr == nil) != (err == nil) {
		t.Fatalf("Import: %v; ImportStream: %v", werr, err)
	}
	if err != nil {
		if !errors.Is(err, ErrFormat) {
			t.Fatalf("error does not wrap ErrFormat: %v", err)
		}
		return
	}
	want := map[ContentID]bool{}
	for _, r := range whole.Records {
		want[r.ContentID()] = true
	}
	got := map[ContentID]bool{}
	for _, c := range ids {
		got[c] = true
	}
	if len(ids) != len(whole.Records) || len(got) != len(want) {
		t.Fatalf("one window: %d records (%d distinct), Import %d", len(ids), len(got), len(whole.Records))
	}
	for c := range want {
		if !got[c] {
			t.Fatalf("one window: %s missing", c)
		}
	}
	if res.Objects != whole.Objects || len(res.Issues) != len(whole.Issues) || res.Merged != whole.Merged || res.Records != nil {
		t.Fatalf("one window: objects %d, issues %d, merged %d; Import: %d, %d, %d", res.Objects, len(res.Issues), res.Merged,
			whole.Objects, len(whole.Issues), whole.Merged)
	}
	small, sres, err := streamed(b, opts, 3)
	if err != nil {
		t.Fatalf("windows of 3: %v", err)
	}
	gotSmall := map[ContentID]bool{}
	for _, c := range small {
		gotSmall[c] = true
	}
	if len(gotSmall) != len(want) || len(small) != len(whole.Records)+whole.Merged-sres.Merged {
		t.Fatalf("windows of 3: %d records (%d distinct, %d merged); Import %d (%d merged)", len(small), len(gotSmall), sres.Merged, len(whole.Records), whole.Merged)
	}
}

// TestImportStreamFixtures: every fixture streams to what Import gives.
func TestImportStreamFixtures(t *testing.T) {
	for _, w := range fixtureWants {
		t.Run(w.name, func(t *testing.T) {
			b, err := os.ReadFile(fixturePath(t, w.name))
			if err != nil {
				t.Fatal(err)
			}
			sameAsImport(t, b, ImportOptions{DefaultTLP: TLPGreen})
		})
	}
}

// TestImportStreamPendingBound: records waiting for a marking defined at
// the end of a bundle, or for a MISP event's tags, are refused past
// MaxPending rather than held, with a hint saying what to do; at the
// bound they are imported.
func TestImportStreamPendingBound(t *testing.T) {
	stix := func(n int) []byte {
		var b strings.Builder
		b.WriteString(`{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56f","objects":[`)
		for i := range n {
			fmt.Fprintf(&b, `{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-%012d","created":"2026-01-01T00:00:00.000Z",`+
				`"modified":"2026-01-01T00:00:00.000Z","pattern_type":"stix","pattern":"[domain-name:value = 'p%d.example']","valid_from":"2026-01-01T00:00:00Z",`+
				`"object_marking_refs":["marking-definition--00000000-0000-4000-8000-000000000001"]},`, i, i)
		}
		b.WriteString(`{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--00000000-0000-4000-8000-000000000001","created":"2026-01-01T00:00:00.000Z",` +
			`"extensions":{"extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d":{"extension_type":"property-extension","tlp_2_0":"green"}}}]}`)
		return []byte(b.String())
	}
	misp := func(n int) []byte {
		var b strings.Builder
		b.WriteString(`{"Event":{"info":"x","Attribute":[`)
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"type":"domain","value":"m%d.example","to_ids":true}`, i)
		}
		b.WriteString(`],"Tag":[{"name":"tlp:green"}]}}`)
		return []byte(b.String())
	}
	for name, gen := range map[string]func(int) []byte{"stix": stix, "misp": misp} {
		opts := ImportOptions{MaxPending: 10}
		ids, _, err := streamed(gen(10), opts, 4)
		if err != nil || len(ids) != 10 {
			t.Errorf("%s at the bound: %d records, %v; want 10", name, len(ids), err)
		}
		_, _, err = streamed(gen(11), opts, 4)
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "split the file") {
			t.Errorf("%s past the bound: %v; want ErrFormat with a hint", name, err)
		}
	}
}

// FuzzImportStream: on any input ImportStream agrees with Import (as
// sameAsImport says) and never panics.
func FuzzImportStream(f *testing.F) {
	addImportSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		sameAsImport(t, b, ImportOptions{DefaultTLP: TLPGreen, MaxObject: 1 << 16})
	})
}
