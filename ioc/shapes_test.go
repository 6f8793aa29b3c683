package ioc

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
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
