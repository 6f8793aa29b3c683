package taxii_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/ghostwire/ghostwire/ioc/stixschema"
	"github.com/ghostwire/ghostwire/localapi"
	"github.com/ghostwire/ghostwire/node"
)

// TestTAXIISightings: a node's sightings are served as STIX sightings
// right after the indicator they sight, each once over pages too small to
// hold an indicator and its sightings apart, and they validate against
// the OASIS schemas; match[type]=sighting serves only them. The node's
// STIX and MISP exports carry them too, and importing the STIX export
// into a fresh node gives the same indicators and reports the sightings
// as not imported.
func TestTAXIISightings(t *testing.T) {
	ctx := context.Background()
	api := startNode(t)
	importN(t, api, 0, 5)
	xs, err := api.ListIOCs(ctx, localapi.IOCQuery{})
	if err != nil || len(xs) != 5 {
		t.Fatalf("list: %d, %v", len(xs), err)
	}
	sighted := map[string]string{} // value → verdict
	for i, verdict := range []string{"seen", "false-positive"} {
		if _, err := api.SightIOC(ctx, xs[i].ID, verdict); err != nil {
			t.Fatal(err)
		}
		sighted[xs[i].Value] = verdict
	}

	c, objects := serveDefault(t, api)
	objs, _ := c.walk(t, objects, url.Values{"limit": {"2"}})
	v, err := stixschema.New()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	byID := map[string]map[string]any{}
	sightings := 0
	for i, o := range objs {
		id := o["id"].(string)
		seen[id]++
		byID[id] = o
		b, _ := json.Marshal(o)
		if err := v.Object(b); err != nil {
			t.Errorf("%s: %v", id, err)
		}
		if o["type"] != "sighting" {
			continue
		}
		sightings++
		of := byID[o["sighting_of_ref"].(string)]
		if of == nil || objs[i-1]["id"] != of["id"] && objs[i-1]["type"] != "sighting" {
			t.Fatalf("sighting %s is not served right after its indicator", id)
		}
		value := strings.TrimSuffix(strings.TrimPrefix(of["pattern"].(string), "[domain-name:value = '"), "']")
		if neg := o["x_opencti_negative"] == true; neg != (sighted[value] == "false-positive") {
			t.Errorf("sighting of %s: x_opencti_negative %v, verdict %s", value, neg, sighted[value])
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s served %d times", id, n)
		}
	}
	if len(seen) != 7 || sightings != 2 {
		t.Fatalf("served %d objects with %d sightings, want 5 indicators and 2 sightings", len(seen), sightings)
	}
	only, _ := c.walk(t, objects, url.Values{"match[type]": {"sighting"}})
	if len(only) != 2 {
		t.Fatalf("match[type]=sighting: %d objects, want 2", len(only))
	}

	var stix bytes.Buffer
	if err := api.ExportIOCs(ctx, "stix", localapi.IOCQuery{}, &stix); err != nil {
		t.Fatal(err)
	}
	for _, err := range v.Bundle(stix.Bytes()) {
		t.Error(err)
	}
	if n := strings.Count(stix.String(), `"type":"sighting"`); n != 2 {
		t.Fatalf("STIX export holds %d sightings, want 2", n)
	}
	var misp bytes.Buffer
	if err := api.ExportIOCs(ctx, "misp", localapi.IOCQuery{}, &misp); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(misp.String(), `"date_sighting"`); n != 2 || !strings.Contains(misp.String(), `"type":"1"`) {
		t.Fatalf("MISP export holds %d sightings, want 2 with one false positive: %s", n, misp.String())
	}

	fresh := startNode(t)
	res, err := fresh.ImportIOCs(ctx, bytes.NewReader(stix.Bytes()), node.ImportRequest{}, nil)
	if err != nil || res.Stored != 5 {
		t.Fatalf("re-import: %+v, %v", res, err)
	}
	reported := 0
	for _, is := range res.Issues {
		if is.Type == "sighting" && strings.Contains(is.Reason, "not imported") {
			reported++
		}
	}
	if reported != 2 {
		t.Fatalf("re-import reports %d sightings as not imported, want 2: %+v", reported, res.Issues)
	}
	back, err := fresh.ListIOCs(ctx, localapi.IOCQuery{})
	if err != nil || len(back) != 5 {
		t.Fatalf("re-import lists %d, %v", len(back), err)
	}
	for _, x := range back {
		if _, ok := sighted[x.Value]; !ok && !strings.HasPrefix(x.Value, "host") || x.TLP != "green" {
			t.Errorf("re-imported %s %s, which was not exported", x.Value, x.TLP)
		}
	}
}
