package ioc

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"sort"
	"testing"
)

// The misp-stix project documents, per MISP attribute type, the attribute
// and the STIX 2.1 objects it produces (shared fixture
// misp/misp-stix/documentation/mapping/misp_attributes_to_stix21.json). It
// is an independent statement of how the two formats correspond, so we
// check ours against it.
func readMISPMapping(t *testing.T) map[string]struct {
	MISP json.RawMessage `json:"MISP"`
	STIX json.RawMessage `json:"STIX"`
} {
	b, err := os.ReadFile(fixturePath(t, "misp/misp-stix/documentation/mapping/misp_attributes_to_stix21.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]struct {
		MISP json.RawMessage `json:"MISP"`
		STIX json.RawMessage `json:"STIX"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMISPExportCategories: the type and category export writes for each of
// our types is the pair MISP itself uses in the mapping document.
func TestMISPExportCategories(t *testing.T) {
	m := readMISPMapping(t)
	for typ, tc := range mispExportTypes {
		var a struct{ Type, Category string }
		if err := json.Unmarshal(m[tc[0]].MISP, &a); err != nil || a.Type != tc[0] || a.Category != tc[1] {
			t.Errorf("%v exported as %s/%s; MISP's mapping document has %s/%s", typ, tc[0], tc[1], a.Type, a.Category)
		}
	}
}

// TestMISPAndSTIXAgree: for every MISP attribute type in the document that
// we map, importing the MISP attribute and importing the STIX objects
// misp-stix made from it give the same indicators.
func TestMISPAndSTIXAgree(t *testing.T) {
	m := readMISPMapping(t)
	var names []string
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	compared := 0
	for _, name := range names {
		if _, ok := mispTypes[name]; !ok {
			continue
		}
		e := m[name]
		ev := []byte(`{"Event":{"Tag":[{"name":"tlp:clear"}],"Attribute":[` + string(e.MISP) + `]}}`)
		fromMISP, err := Import(bytes.NewReader(ev), ImportOptions{})
		if err != nil || fromMISP.Err() != nil {
			t.Errorf("%s: MISP import: %v %v", name, err, fromMISP.Err())
			continue
		}
		objs := string(e.STIX)
		if objs[0] == '{' {
			objs = "[" + objs + "]"
		}
		if !bytes.Contains(e.STIX, []byte(`"type": "indicator"`)) {
			// misp-stix writes an observation, not an indicator, for an
			// attribute with to_ids false; we import indicators only.
			continue
		}
		bundle := []byte(`{"type":"bundle","id":"bundle--x","objects":` + objs + `}`)
		fromSTIX, err := Import(bytes.NewReader(bundle), ImportOptions{DefaultTLP: TLPClear})
		if err != nil {
			t.Errorf("%s: STIX import: %v", name, err)
			continue
		}
		a, b := idsOf(fromMISP.Records), idsOf(fromSTIX.Records)
		if !slices.Equal(a, b) {
			t.Errorf("%s: MISP gives %v, STIX gives %v (issues %v)", name, recordsText(fromMISP.Records), recordsText(fromSTIX.Records), fromSTIX.Issues)
		}
		compared++
	}
	if compared < 12 {
		t.Fatalf("compared only %d types", compared)
	}
}

func recordsText(rs []Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Type.String()+"="+r.Value)
	}
	return out
}
