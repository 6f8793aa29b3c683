package ioc

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/ioc/stixschema"
)

// sightedEntries is three clear and green indicators: one seen by two
// analysts, one judged a false positive, one not sighted.
func sightedEntries(t *testing.T) []Entry {
	t.Helper()
	author, alice, bob := testKey(t, 1).ID(), testKey(t, 4).ID(), testKey(t, 5).ID()
	created := time.UnixMilli(1_700_000_000_000).UTC()
	mk := func(typ Type, v string, m TLP, ss ...Sighting) Entry {
		r := Record{Type: typ, Value: v, TLP: m, Confidence: NoConfidence}
		if err := r.Normalize(); err != nil {
			t.Fatal(err)
		}
		return Entry{Record: r, Author: author, Created: created, Sightings: ss}
	}
	at := created.Add(time.Hour)
	return []Entry{
		mk(TypeIPv4, "192.0.2.7", TLPClear,
			Sighting{ID: strings.Repeat("a1", 32), Sighter: alice, Created: at},
			Sighting{ID: strings.Repeat("b2", 32), Sighter: bob, Created: at.Add(time.Minute)}),
		mk(TypeDomain, "fp.example", TLPGreen, Sighting{ID: strings.Repeat("c3", 32), Sighter: bob, FalsePositive: true, Created: at}),
		mk(TypeCVE, "CVE-2021-44228", TLPGreen, Sighting{ID: strings.Repeat("d4", 32), Sighter: alice, Created: at}),
		mk(TypeSHA256, strings.Repeat("e", 64), TLPClear),
	}
}

// TestSightingsInSTIX: each sighting is a STIX sighting of its indicator
// (or vulnerability) by its sighter's identity, which the bundle defines;
// a false positive carries x_opencti_negative. Every object validates
// against the OASIS schemas, and importing the bundle gives back the same
// indicators and reports each sighting as not imported.
func TestSightingsInSTIX(t *testing.T) {
	es := sightedEntries(t)
	var b bytes.Buffer
	if err := ExportSTIX(&b, es); err != nil {
		t.Fatal(err)
	}
	v, err := stixschema.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range v.Bundle(b.Bytes()) {
		t.Error(err)
	}
	var bundle struct {
		Objects []map[string]any `json:"objects"`
	}
	if err := json.Unmarshal(b.Bytes(), &bundle); err != nil {
		t.Fatal(err)
	}
	ids := map[string]map[string]any{}
	for _, o := range bundle.Objects {
		ids[o["id"].(string)] = o
	}
	var sightings []map[string]any
	for _, o := range bundle.Objects {
		if o["type"] == "sighting" {
			sightings = append(sightings, o)
		}
	}
	if len(sightings) != 4 {
		t.Fatalf("%d sightings in the bundle, want 4", len(sightings))
	}
	negative := 0
	for _, s := range sightings {
		of, ok := ids[s["sighting_of_ref"].(string)]
		if !ok || (of["type"] != "indicator" && of["type"] != "vulnerability") {
			t.Errorf("sighting %v: sighting_of_ref names no exported indicator", s["id"])
		}
		where := s["where_sighted_refs"].([]any)
		if who, ok := ids[where[0].(string)]; !ok || who["type"] != "identity" || s["created_by_ref"] != where[0] {
			t.Errorf("sighting %v: where_sighted_refs/created_by_ref name no identity in the bundle", s["id"])
		}
		if s["count"] != 1.0 || s["first_seen"] != s["last_seen"] || s["first_seen"] != s["created"] {
			t.Errorf("sighting %v: count/first_seen/last_seen: %v", s["id"], s)
		}
		if s["x_opencti_negative"] == true {
			negative++
			if of["pattern"] != "[domain-name:value = 'fp.example']" || s["description"] != sightingDescription {
				t.Errorf("the false positive is on %v: %v", of["pattern"], s)
			}
		}
	}
	if negative != 1 {
		t.Errorf("%d false positives, want 1", negative)
	}
	// Two exports agree, sighting ids included.
	var again bytes.Buffer
	if err := ExportSTIX(&again, es); err != nil || !bytes.Equal(again.Bytes(), b.Bytes()) {
		t.Fatalf("a second export differs (%v)", err)
	}

	res, err := Import(bytes.NewReader(b.Bytes()), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkSightingsReported(t, res, es, Skipped, 4)
}

// TestSightingsInMISP: each sighting is a MISP Sighting on its attribute
// (type 0 seen, 1 false positive, the sighter as organisation), the
// event passes the strict decoder, and importing it gives back the same
// indicators and reports each sighted attribute's sightings as not
// imported.
func TestSightingsInMISP(t *testing.T) {
	es := sightedEntries(t)
	var b bytes.Buffer
	if err := ExportMISP(&b, es); err != nil {
		t.Fatal(err)
	}
	var ev strictEvent
	dec := json.NewDecoder(bytes.NewReader(b.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		t.Fatalf("strict MISP decoder: %v", err)
	}
	types := map[string][]string{}
	for _, a := range ev.Event.Attribute {
		for _, s := range a.Sighting {
			if !strictUUID.MatchString(s.UUID) || !strictUnix.MatchString(s.DateSighting) || !strictUUID.MatchString(s.Organisation.UUID) || !strings.HasSuffix(s.Organisation.Name, ".onion") {
				t.Errorf("attribute %s sighting %+v", a.Value, s)
			}
			types[a.Value] = append(types[a.Value], s.Type)
		}
	}
	want := map[string][]string{"192.0.2.7": {"0", "0"}, "fp.example": {"1"}, "CVE-2021-44228": {"0"}}
	for v, ts := range want {
		if !slices.Equal(types[v], ts) {
			t.Errorf("%s: sighting types %v, want %v", v, types[v], ts)
		}
	}
	res, err := Import(bytes.NewReader(b.Bytes()), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkSightingsReported(t, res, es, Partial, 3)
}

// checkSightingsReported: the import gave the entries' values and TLP,
// and n issues of severity sev say sightings were not imported.
func checkSightingsReported(t *testing.T, res *Result, es []Entry, sev Severity, n int) {
	t.Helper()
	if len(res.Records) != len(es) {
		t.Fatalf("import gave %d records, want %d", len(res.Records), len(es))
	}
	for i, r := range res.Records {
		if r.ContentID() != es[i].Record.ContentID() && !slices.ContainsFunc(es, func(e Entry) bool { return e.Record.ContentID() == r.ContentID() && e.Record.TLP == r.TLP }) {
			t.Errorf("record %s %s was not exported", r.Type, r.Value)
		}
	}
	got := 0
	for _, is := range res.Issues {
		if is.Severity == sev && strings.Contains(is.Reason, notMappedSighting) {
			got++
		}
	}
	if got != n {
		t.Errorf("%d issues report sightings as not imported, want %d: %v", got, n, res.Issues)
	}
}
