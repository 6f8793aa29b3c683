package ioc

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixtureDir is where the shared fixtures live: the repository is cloned as
// <parent>/main with <parent>/shared beside it, here and in CI.
const fixtureDir = "../../shared/fixtures"

func fixturePath(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(fixtureDir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("fixture %s missing: the tests expect shared/ beside the repository (<parent>/main and <parent>/shared): %v", p, err)
	}
	return p
}

// fixtureWant is what importing a fixture with DefaultTLP GREEN gives:
// records per type/TLP, how many duplicates merged, issues per severity
// (skipped, partial, failed), or an input error.
//
// How the counts were checked independently of this code: per-type totals
// against the attribute and pattern counts in shared/fixtures/README.md
// (for example long_event.json: md5 31 + filename|md5 46 = 77, 2 repeats →
// 75; sha256 41 + 46 = 87, 12 repeats → 75; url 14 of which 11 have no
// scheme and fail → 3; poisonivy.json: 40 ipv4 + 25 domain comparisons,
// one domain value "domain autuo.xicp.net" invalid, 22 repeats → 18 + 24;
// its 2 file:name indicators and the email MATCHES indicator fail), and
// for every MISP file by TestFixtureMISPIndependentCount below, which
// counts attributes with a plain encoding/json decode of the whole file.
// The misp-stix STIX files give the same indicators as the MISP files they
// were made from (README "Useful pairs"), less the file:name indicator,
// which STIX import reports as failed and MISP import as skipped.
var fixtureWants = []struct {
	name    string
	records map[string]int
	merged  int
	issues  [3]int
	err     string
}{
	{"misp/PyMISP/tests/57c4445b-c548-4654-af0b-4be3950d210f.json", map[string]int{"md5/clear": 1, "sha1/clear": 1, "sha256/clear": 1}, 0, [3]int{6, 0, 0}, ""},
	{"misp/PyMISP/tests/mispevent_testfiles/attribute.json", map[string]int{}, 0, [3]int{1, 0, 0}, ""},
	{"misp/PyMISP/tests/mispevent_testfiles/event.json", map[string]int{}, 0, [3]int{0, 0, 0}, ""},
	{"misp/PyMISP/tests/mispevent_testfiles/event_obj_attr_tag.json", map[string]int{"url/green": 1}, 0, [3]int{1, 0, 0}, ""},
	{"misp/PyMISP/tests/mispevent_testfiles/event_tags.json", map[string]int{}, 0, [3]int{0, 0, 0}, ""},
	{"misp/PyMISP/tests/mispevent_testfiles/existing_event.json", map[string]int{"domain/clear": 18, "ipv4/clear": 11, "sha1/clear": 37}, 2, [3]int{2, 37, 0}, ""},
	{"misp/PyMISP/tests/mispevent_testfiles/sighting.json", nil, 0, [3]int{}, "unrecognised"},
	{"misp/PyMISP/tests/reportlab_testfiles/long_event.json", map[string]int{"cve/clear": 4, "domain/clear": 3, "email/clear": 2, "hostname/clear": 21, "ipv4/clear": 9, "md5/clear": 75, "sha1/clear": 58, "sha256/clear": 75, "url/clear": 3}, 14, [3]int{95, 0, 11}, ""},
	{"misp/PyMISP/tests/reportlab_testfiles/to_delete1.json", map[string]int{"hostname/clear": 4, "ipv4/clear": 2, "md5/clear": 14, "sha1/clear": 14, "sha256/clear": 16}, 0, [3]int{25, 0, 0}, ""},
	{"misp/eset-malware-ioc/cloudmensis/cloudmensis.misp.json", map[string]int{"md5/green": 3, "sha1/green": 3, "sha256/green": 3}, 0, [3]int{5, 3, 0}, ""},
	{"misp/eset-malware-ioc/glupteba/glupteba.misp-event.json", map[string]int{"domain/green": 272, "ipv4/green": 44, "sha1/green": 6}, 2, [3]int{1, 0, 0}, ""},
	{"misp/eset-malware-ioc/sednit/2018-11-20_Zebrocy.json", map[string]int{"email/green": 11, "md5/green": 5, "sha1/green": 5, "sha256/green": 5, "url/green": 2}, 0, [3]int{4, 0, 0}, ""},
	{"misp/misp-stix/documentation/mapping/misp_attributes_to_stix21.json", nil, 0, [3]int{}, "unrecognised"},
	{"misp/misp-stix/tests/test_events_collection_1.json", map[string]int{"domain/green": 1}, 0, [3]int{1, 0, 0}, ""},
	{"misp/misp-stix/tests/test_events_collection_2.json", map[string]int{"domain/green": 1, "ipv4/green": 1}, 0, [3]int{1, 0, 0}, ""},
	{"misp/misp-stix/tests/test_objects_collection_1.json", map[string]int{"email/green": 2, "md5/green": 1, "sha1/green": 1, "sha256/green": 1}, 0, [3]int{0, 2, 0}, ""},
	{"misp/misp-stix/tests/test_objects_collection_2.json", map[string]int{"domain/green": 1, "ipv4/green": 1}, 0, [3]int{1, 0, 0}, ""},
	{"stix/cti-stix-elevator/idioms-json-2.1/141-TLP-marking-structures.json", map[string]int{"ipv4/green": 1, "url/clear": 1}, 0, [3]int{0, 0, 2}, ""},
	{"stix/cti-stix-elevator/idioms-json-2.1/Appendix_G_IOCs_Full.json", map[string]int{"md5/green": 1020}, 2, [3]int{49, 3, 45}, ""},
	{"stix/cti-stix-elevator/idioms-json-2.1/file-hash-reputation.json", map[string]int{"sha256/green": 1}, 0, [3]int{1, 0, 0}, ""},
	{"stix/cti-stix-elevator/idioms-json-2.1/hostname.json", map[string]int{"domain/clear": 1}, 0, [3]int{4, 0, 1}, ""},
	{"stix/cti-stix-elevator/idioms-json-2.1/indicator-for-malicious-url.json", map[string]int{"url/green": 1}, 0, [3]int{0, 1, 0}, ""},
	{"stix/cti-stix-elevator/idioms-json-2.1/issue-271.json", map[string]int{"domain/green": 6, "ipv4/green": 2, "md5/green": 7, "sha1/green": 7, "sha256/green": 7, "url/green": 2}, 0, [3]int{22, 23, 0}, ""},
	{"stix/cti-stix-elevator/idioms-json-2.1/malicious-email-indicator-with-addresses.json", map[string]int{"email/green": 2}, 0, [3]int{6, 1, 0}, ""},
	{"stix/cti-stix-elevator/idioms-json-2.1/or-instead-of-list-as-string.json", map[string]int{"url/green": 2}, 0, [3]int{0, 0, 1}, ""},
	{"stix/cti-stix2-json-schemas/examples/indicator-for-c2-ip-address.json", map[string]int{"ipv4/green": 1}, 0, [3]int{0, 0, 0}, ""},
	{"stix/cti-stix2-json-schemas/examples/indicators-for-C2-with-COA.json", map[string]int{"ipv4/green": 1, "sha256/green": 1}, 0, [3]int{6, 0, 0}, ""},
	{"stix/cti-stix2-json-schemas/examples/infrastructure.json", map[string]int{}, 0, [3]int{10, 0, 0}, ""},
	{"stix/cti-stix2-json-schemas/examples/malicious-email-indicator-with-attachment.json", map[string]int{}, 0, [3]int{4, 0, 2}, ""},
	{"stix/cti-stix2-json-schemas/examples/threat-reports/poisonivy.json", map[string]int{"cve/green": 6, "domain/green": 24, "ipv4/green": 18}, 22, [3]int{124, 0, 3}, ""},
	{"stix/misp-stix/tests/test_event1_stix21.json", map[string]int{"domain/green": 1}, 0, [3]int{8, 0, 0}, ""},
	{"stix/misp-stix/tests/test_event2_stix21.json", map[string]int{"domain/green": 1, "ipv4/green": 1}, 0, [3]int{10, 1, 1}, ""},
	{"stix/misp-stix/tests/test_events_collection_stix20.json", map[string]int{"domain/green": 1, "ipv4/green": 1}, 1, [3]int{12, 1, 1}, ""},
	{"stix/misp-stix/tests/test_events_collection_stix21.json", map[string]int{"domain/green": 1, "ipv4/green": 1}, 1, [3]int{17, 1, 1}, ""},
	{"stix/misp-stix/tests/test_objects_collection_stix21.json", map[string]int{"domain/green": 1, "email/green": 1, "ipv4/green": 1, "md5/green": 1, "sha1/green": 1, "sha256/green": 1}, 0, [3]int{15, 2, 0}, ""},
	{"tlp/cti-stix-common-objects/extension-definition-specifications/tlp-2.0/examples/tlp-amber+strict.json", map[string]int{}, 0, [3]int{0, 0, 0}, ""},
	{"tlp/cti-stix-common-objects/extension-definition-specifications/tlp-2.0/examples/tlp-amber.json", map[string]int{}, 0, [3]int{0, 0, 0}, ""},
	{"tlp/cti-stix-common-objects/extension-definition-specifications/tlp-2.0/examples/tlp-clear.json", map[string]int{}, 0, [3]int{0, 0, 0}, ""},
	{"tlp/cti-stix-common-objects/extension-definition-specifications/tlp-2.0/extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d.json", nil, 0, [3]int{}, "unrecognised"},
	{"tlp/cti-stix-common-objects/objects/extension-definition/extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d.json", map[string]int{}, 0, [3]int{1, 0, 0}, ""},
	{"tlp/cti-stix-common-objects/objects/marking-definition/marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb.json", map[string]int{}, 0, [3]int{0, 0, 0}, ""},
	{"tlp/cti-stix-common-objects/objects/marking-definition/marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1.json", map[string]int{}, 0, [3]int{0, 0, 0}, ""},
	{"tlp/misp-taxonomies/tlp/machinetag.json", nil, 0, [3]int{}, "unrecognised"},
}

func TestFixtures(t *testing.T) {
	seen := map[string]bool{}
	for _, w := range fixtureWants {
		seen[w.name] = true
		t.Run(w.name, func(t *testing.T) {
			f, err := os.Open(fixturePath(t, w.name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			res, err := Import(f, ImportOptions{DefaultTLP: TLPGreen})
			if w.err != "" {
				if err == nil || !strings.Contains(err.Error(), w.err) {
					t.Fatalf("got %v, want an error containing %q", err, w.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, r := range res.Records {
				got[r.Type.String()+"/"+r.TLP.Name()]++
			}
			if fmt.Sprint(got) != fmt.Sprint(w.records) {
				t.Errorf("records %v, want %v", got, w.records)
			}
			var sev [3]int
			for _, i := range res.Issues {
				sev[i.Severity-1]++
			}
			if sev != w.issues || res.Merged != w.merged {
				t.Errorf("issues %v merged %d, want %v merged %d", sev, res.Merged, w.issues, w.merged)
			}
			if (res.Err() != nil) != (w.issues[2] > 0) {
				t.Errorf("Err() = %v with %d failures", res.Err(), w.issues[2])
			}
		})
	}
	// Every fixture file is covered.
	filepath.WalkDir(fixtureDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".json") {
			if rel, _ := filepath.Rel(fixtureDir, p); !seen[filepath.ToSlash(rel)] {
				t.Errorf("fixture %s has no expected counts", rel)
			}
		}
		return nil
	})
}

// TestFixtureMISPIndependentCount decodes each MISP fixture whole with
// encoding/json into generic values, counts the attributes of mapped types
// anywhere in it (domain|ip counts twice), and checks that the streaming
// import accounted for every one: kept, merged into a duplicate, or failed.
func TestFixtureMISPIndependentCount(t *testing.T) {
	for _, w := range fixtureWants {
		if !strings.HasPrefix(w.name, "misp/") || w.err != "" {
			continue
		}
		b, err := os.ReadFile(fixturePath(t, w.name))
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		want := 0
		var walk func(v any, inAttr bool)
		walk = func(v any, inAttr bool) {
			switch x := v.(type) {
			case []any:
				for _, e := range x {
					walk(e, inAttr)
				}
			case map[string]any:
				if typ, ok := x["type"].(string); ok && inAttr {
					if _, mapped := mispTypes[typ]; mapped {
						want++
						if typ == "domain|ip" {
							want++
						}
					}
				}
				for k, e := range x {
					// ObjectReference repeats objects found elsewhere in
					// the event, and RelatedEvent describes other events.
					if k != "ObjectReference" && k != "RelatedEvent" {
						walk(e, k == "Attribute")
					}
				}
			}
		}
		walk(v, false)
		total := 0
		for _, n := range w.records {
			total += n
		}
		if got := total + w.merged + w.issues[2]; got != want {
			t.Errorf("%s: %d mapped attributes in the file, import accounts for %d", w.name, want, got)
		}
	}
}
