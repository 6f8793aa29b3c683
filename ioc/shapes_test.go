package ioc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ghostwire/ghostwire/identity"
)

// TestImportRealWorldShapes: the input shapes real tools write (testdata/import/shapes,
// written for this test from the STIX 2.0/2.1 and MISP formats) give the
// indicators they state, each type and TLP counted, and report per object
// what they cannot map; a shape that is neither STIX nor MISP is an error,
// never an empty success.
func TestImportRealWorldShapes(t *testing.T) {
	bob := testKey(t, 2).ID()
	for _, c := range []struct {
		file    string
		format  Format
		records map[string]int // type/tlp → count
		issues  [3]int         // skipped, partial, failed
		reason  string         // in some issue
	}{
		{"stix20_misp_export.json", FormatSTIX, map[string]int{"domain/green": 1}, [3]int{0, 1, 0}, "read as no stated expiry"},
		{"bare_array.json", FormatSTIX, map[string]int{"cidr/green": 1, "ipv4/green": 1}, [3]int{1, 0, 0}, "not an indicator"},
		{"hash_alternatives.json", FormatSTIX, map[string]int{"md5/clear": 1, "sha1/clear": 1, "sha256/clear": 2}, [3]int{0, 1, 0}, "file:name"},
		{"misp_attribute_list.json", FormatMISP, map[string]int{"sha256/green": 1, "domain/green": 1, "ipv4/green": 2}, [3]int{1, 0, 0}, "comment"},
		{"misp_response_object.json", FormatMISP, map[string]int{"url/clear": 1}, [3]int{}, ""},
		{"misp_response_list.json", FormatMISP, map[string]int{"md5/amber": 1}, [3]int{0, 1, 0}, "size-in-bytes"},
	} {
		t.Run(c.file, func(t *testing.T) {
			res, err := Import(bytes.NewReader(mustRead(t, "testdata/import/shapes/"+c.file)), ImportOptions{Recipients: []identity.ID{bob}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Format != c.format {
				t.Errorf("format %v, want %v", res.Format, c.format)
			}
			got := map[string]int{}
			for _, r := range res.Records {
				got[r.Type.String()+"/"+r.TLP.Name()]++
			}
			if !maps.Equal(got, c.records) {
				t.Errorf("records %v, want %v", got, c.records)
			}
			var n [3]int
			found := c.reason == ""
			for _, i := range res.Issues {
				n[i.Severity-1]++
				found = found || strings.Contains(i.String(), c.reason)
			}
			if n != c.issues || !found {
				t.Errorf("issues %v (%v), want %v with %q", n, res.Issues, c.issues, c.reason)
			}
		})
	}
	for _, f := range []string{"unknown_shape.json", "array_of_nothing.json"} {
		_, err := Import(bytes.NewReader(mustRead(t, "testdata/import/shapes/"+f)), ImportOptions{DefaultTLP: TLPClear})
		if !errors.Is(err, ErrFormat) {
			t.Errorf("%s: err %v, want ErrFormat", f, err)
		}
	}
}

// TestImportStreamShapes: the streaming reader the node uses gives the
// same records as Import for every shape.
func TestImportStreamShapes(t *testing.T) {
	for _, f := range []string{"stix20_misp_export.json", "bare_array.json", "hash_alternatives.json",
		"misp_attribute_list.json", "misp_response_object.json", "misp_response_list.json"} {
		in := mustRead(t, "testdata/import/shapes/"+f)
		opts := ImportOptions{Recipients: []identity.ID{testKey(t, 2).ID()}}
		whole, err := Import(bytes.NewReader(in), opts)
		if err != nil {
			t.Fatal(err)
		}
		var streamed []string
		if _, err := ImportStream(bytes.NewReader(in), opts, 2, func(rs []Record) error {
			for _, r := range rs {
				streamed = append(streamed, fmt.Sprint(r.ContentID(), r.TLP))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, r := range whole.Records {
			want = append(want, fmt.Sprint(r.ContentID(), r.TLP))
		}
		if !slices.Equal(streamed, want) {
			t.Errorf("%s: streamed %d records, Import %d, or in another order", f, len(streamed), len(want))
		}
	}
}

// TestImportStreamPrescan: with the event tags read first, an event whose
// tags follow more attributes than MaxPending streams instead of being
// refused, each attribute taking the event's TLP; and on every fixture
// the prescan changes nothing of what is imported.
func TestImportStreamPrescan(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(`{"Event":{"info":"big","Attribute":[`)
	const n = 300
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"ip-dst","value":"10.0.%d.%d"}`, i>>8, i&255)
	}
	b.WriteString(`],"Tag":[{"name":"tlp:green"}]}}`)
	opts := ImportOptions{MaxPending: 100}
	count := func(rs []Record, got *int) error {
		for _, r := range rs {
			if r.TLP != TLPGreen {
				return fmt.Errorf("%s at %s, want green", r.Value, r.TLP)
			}
		}
		*got += len(rs)
		return nil
	}
	var got int
	if _, err := ImportStream(bytes.NewReader(b.Bytes()), opts, 50, func(rs []Record) error { return count(rs, &got) }); !errors.Is(err, ErrFormat) {
		t.Fatalf("without a prescan: %v, want the pending bound's ErrFormat", err)
	}
	got = 0
	res, err := ImportStreamPrescan(func() io.Reader { return bytes.NewReader(b.Bytes()) }, opts, 50, func(rs []Record) error { return count(rs, &got) })
	if err != nil || got != n || res.Objects != n {
		t.Fatalf("with a prescan: %v, %d records, want %d", err, got, n)
	}
	for _, w := range fixtureWants {
		in, err := os.ReadFile(fixturePath(t, w.name))
		if err != nil {
			t.Fatal(err)
		}
		opts := ImportOptions{DefaultTLP: TLPGreen, Recipients: []identity.ID{testKey(t, 2).ID()}}
		var plain, pre []string
		collect := func(out *[]string) func([]Record) error {
			return func(rs []Record) error {
				for _, r := range rs {
					*out = append(*out, fmt.Sprint(r.ContentID(), r.TLP, r.Tags))
				}
				return nil
			}
		}
		_, perr := ImportStream(bytes.NewReader(in), opts, 1000, collect(&plain))
		_, qerr := ImportStreamPrescan(func() io.Reader { return bytes.NewReader(in) }, opts, 1000, collect(&pre))
		slices.Sort(plain)
		slices.Sort(pre)
		if (perr == nil) != (qerr == nil) || !slices.Equal(plain, pre) {
			t.Errorf("%s: prescan changed the import (%v / %v, %d / %d records)", w.name, perr, qerr, len(plain), len(pre))
		}
	}
}
