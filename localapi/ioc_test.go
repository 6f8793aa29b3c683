package localapi

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/ioc"
	"github.com/ghostwire/ghostwire/node"
	"github.com/ghostwire/ghostwire/store"
)

// fixtureDir holds the shared OASIS and MISP fixtures (ioc/fixtures_test.go).
const fixtureDir = "../../shared/fixtures"

func openFixture(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatalf("fixture missing (see shared/fixtures/README.md): %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// importVia posts body to /v1/iocs/import and returns the status and the
// reply's lines, checking that every line but the last is progress.
func importVia(t *testing.T, tn *testNode, query string, body io.Reader) (int, []ImportLine) {
	t.Helper()
	r, _ := http.NewRequest("POST", "http://ghostwire/v1/iocs/import"+query, body)
	r.Header.Set("Content-Type", "application/json")
	resp, err := tn.client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var lines []ImportLine
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var l ImportLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("reply line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		t.Fatalf("import: status %d, empty reply", resp.StatusCode)
	}
	for _, l := range lines[:len(lines)-1] {
		if l.Progress == nil {
			t.Fatalf("non-progress line before the last: %+v", l)
		}
	}
	return resp.StatusCode, lines
}

// indicators is what must survive a round trip: content ID → TLP.
func indicators(t *testing.T, tn *testNode, collection string) map[string]string {
	t.Helper()
	code, body := tn.req(t, "GET", "/v1/iocs?expired=1&collection="+collection, "", nil)
	if code != 200 {
		t.Fatalf("list: %d %s", code, body)
	}
	var xs []node.IOC
	if err := json.Unmarshal([]byte(body), &xs); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, x := range xs {
		out[x.ContentID] = x.TLP
	}
	return out
}

func TestIOCImportRefusesPartialUnlessAsked(t *testing.T) {
	tn := startTestNode(t, t.TempDir(), 31)
	before := tn.state(t)
	// poisonivy.json: 3 objects fail (fixture counts in ioc/fixtures_test.go,
	// read with unmarked objects GREEN as here).
	code, lines := importVia(t, tn, "?tlp=green", openFixture(t, "stix/cti-stix2-json-schemas/examples/threat-reports/poisonivy.json"))
	last := lines[len(lines)-1]
	if code != http.StatusUnprocessableEntity || last.Result == nil || last.Result.Committed || last.Result.Failed != 3 || last.Error == "" {
		t.Fatalf("import with failures: status %d, %+v", code, last)
	}
	failed := 0
	for _, i := range last.Result.Issues {
		if i.Severity == "failed" {
			failed++
			if i.Where == "" || i.Reason == "" {
				t.Errorf("failure without where or reason: %+v", i)
			}
		}
	}
	if failed != 3 {
		t.Errorf("listed %d failed objects, want 3", failed)
	}
	if after := tn.state(t); after != before {
		t.Fatal("a refused import changed the node's state")
	}
	code, lines = importVia(t, tn, "?tlp=green&partial=1", openFixture(t, "stix/cti-stix2-json-schemas/examples/threat-reports/poisonivy.json"))
	last = lines[len(lines)-1]
	if code != 200 || last.Result == nil || !last.Result.Committed || last.Result.Stored != 48 || last.Error != "" {
		t.Fatalf("partial import: status %d, %+v", code, last)
	}
	want := map[string]int{"cve": 6, "domain": 24, "ipv4": 18}
	for k, v := range want {
		if last.Result.ByType[k] != v {
			t.Errorf("by_type[%s] = %d, want %d", k, last.Result.ByType[k], v)
		}
	}
	if got := len(indicators(t, tn, "default")); got != 48 {
		t.Errorf("listed %d IOCs after a partial import of 48", got)
	}
}

func TestIOCImportUnmarkedNeedsTLP(t *testing.T) {
	tn := startTestNode(t, t.TempDir(), 32)
	bundle := `{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","objects":[
	 {"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
	  "created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern_type":"stix",
	  "pattern":"[domain-name:value = 'unmarked.example']","valid_from":"2026-01-01T00:00:00Z"}]}`
	code, lines := importVia(t, tn, "", strings.NewReader(bundle))
	if last := lines[len(lines)-1]; code != http.StatusUnprocessableEntity || last.Result.Failed != 1 {
		t.Fatalf("unmarked without --tlp: %d %+v", code, last)
	}
	code, lines = importVia(t, tn, "?tlp=amber", strings.NewReader(bundle))
	if last := lines[len(lines)-1]; code != http.StatusBadRequest || !strings.Contains(last.Error, "recipients") {
		t.Fatalf("amber without --to: %d %+v", code, last)
	}
	code, lines = importVia(t, tn, "?tlp=green", strings.NewReader(bundle))
	if last := lines[len(lines)-1]; code != 200 || last.Result.ByTLP["green"] != 1 || last.Result.Stored != 1 {
		t.Fatalf("unmarked with --tlp green: %d %+v", code, last)
	}
	code, lines = importVia(t, tn, "", strings.NewReader(`{"not":"ioc"}`))
	if code != http.StatusUnprocessableEntity || lines[len(lines)-1].Error == "" {
		t.Fatalf("unrecognised input: %d %+v", code, lines)
	}
}

// TestIOCImportExportImportStable imports real fixtures into one node,
// exports them as STIX and as MISP, imports each export into another
// node, and checks the same content IDs come back with the same TLP.
func TestIOCImportExportImportStable(t *testing.T) {
	a := startTestNode(t, t.TempDir(), 33)
	b := startTestNode(t, t.TempDir(), 34)
	for _, f := range []string{
		"misp/eset-malware-ioc/glupteba/glupteba.misp-event.json",              // 322 green
		"misp/PyMISP/tests/reportlab_testfiles/to_delete1.json",                // 50 clear
		"stix/cti-stix2-json-schemas/examples/indicators-for-C2-with-COA.json", // 2 green
	} {
		code, lines := importVia(t, a, "?tlp=green", openFixture(t, f)) // the fixture tests' default
		if last := lines[len(lines)-1]; code != 200 || !last.Result.Committed {
			t.Fatalf("%s: %d %+v", f, code, last)
		}
	}
	want := indicators(t, a, "default")
	if len(want) != 322+50+2 {
		t.Fatalf("node a lists %d IOCs, want 374", len(want))
	}
	for _, format := range []string{"stix", "misp"} {
		code, doc := a.req(t, "GET", "/v1/iocs/export?format="+format, "", nil)
		if code != 200 {
			t.Fatalf("export %s: %d %s", format, code, doc)
		}
		code, lines := importVia(t, b, "?collection="+format, strings.NewReader(doc))
		last := lines[len(lines)-1]
		if code != 200 || !last.Result.Committed || last.Result.Failed != 0 || last.Result.Records != len(want) {
			t.Fatalf("re-import of %s export: %d %+v", format, code, last)
		}
		got := indicators(t, b, format)
		if len(got) != len(want) {
			t.Fatalf("%s round trip: %d IOCs, want %d", format, len(got), len(want))
		}
		for cid, tlp := range want {
			if got[cid] != tlp {
				t.Errorf("%s round trip: %s has TLP %q, want %q", format, cid, got[cid], tlp)
			}
		}
		// And the export of the re-import is the same document but for
		// authors and times, which belong to node b: compare the IDs.
		_, doc2 := b.req(t, "GET", "/v1/iocs/export?format="+format+"&collection="+format, "", nil)
		if ids1, ids2 := exportIDs(t, doc), exportIDs(t, doc2); !slices.Equal(ids1, ids2) {
			t.Errorf("%s: second export has %d indicator ids, first %d, or they differ", format, len(ids2), len(ids1))
		}
	}
	code, body := a.req(t, "GET", "/v1/iocs/export?format=csv", "", nil)
	if code != http.StatusBadRequest {
		t.Errorf("export format csv: %d %s", code, body)
	}
}

// exportIDs lists the indicator ids (STIX) or attribute uuids (MISP) of an
// export, sorted.
func exportIDs(t *testing.T, doc string) []string {
	t.Helper()
	var v struct {
		Objects []struct{ Type, ID string }
		Event   struct{ Attribute []struct{ UUID string } }
	}
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, o := range v.Objects {
		if o.Type == "indicator" {
			ids = append(ids, o.ID)
		}
	}
	for _, a := range v.Event.Attribute {
		ids = append(ids, a.UUID)
	}
	slices.Sort(ids)
	return ids
}

// vmHWM returns the process's peak RSS in KiB (Linux), resetting it first
// if reset is set.
func vmHWM(b *testing.B, reset bool) int {
	if reset {
		if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
			b.Fatalf("resetting the peak RSS: %v", err)
		}
	}
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && (f[0] == "VmHWM:") {
			var kb int
			fmt.Sscan(f[1], &kb)
			return kb
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// BenchmarkIOCImport100k imports a generated STIX bundle of 100k
// indicators through the node's API socket, as `ghostwire ioc import`
// does, and reports records stored per second and the peak RSS above the
// idle node's, under the soft memory limit `ghostwire run` sets.
// Run: go test ./localapi -run '^$' -bench IOCImport100k -benchtime 1x
func BenchmarkIOCImport100k(b *testing.B) {
	const count = 100_000
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(store.MemoryLimit))
	dir := b.TempDir()
	path := filepath.Join(dir, "bundle.json")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString(`{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","objects":[`)
	for i := range count {
		if i > 0 {
			w.WriteString(",")
		}
		fmt.Fprintf(w, `{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-%012d","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern_type":"stix","pattern":"[domain-name:value = 'host%d.example.com']","valid_from":"2026-01-01T00:00:00Z","labels":["malicious-activity"]}`, i, i)
	}
	w.WriteString("]}")
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		tn := startTestNode(b, filepath.Join(dir, fmt.Sprint("node", i)), 37)
		idle := vmHWM(b, true)
		in, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		r, _ := http.NewRequest("POST", "http://ghostwire/v1/iocs/import?tlp=green", in)
		client := *tn.client
		client.Timeout = 0 // the import takes longer than the helper's 10 s
		resp, err := client.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		var last ImportLine
		dec := json.NewDecoder(resp.Body)
		for dec.More() {
			var l ImportLine
			if err := dec.Decode(&l); err != nil {
				b.Fatal(err)
			}
			last = l
		}
		resp.Body.Close()
		in.Close()
		el := time.Since(start)
		b.StopTimer()
		if last.Result == nil || last.Result.Stored != count {
			b.Fatalf("import: %+v", last)
		}
		b.ReportMetric(count/el.Seconds(), "records/s")
		b.ReportMetric(float64(vmHWM(b, false)-idle)/1024, "peakMiB-over-idle")
		tn.stop(b)
	}
}

// TestIOCFetchWithoutPeers: a held IOC is answered at once; one not held,
// with no peer to sync with, is a 404 without waiting for the deadline.
func TestIOCFetchWithoutPeers(t *testing.T) {
	tn := startTestNode(t, t.TempDir(), 41)
	x, err := tn.n.Collections().Drop(node.DropRequest{Type: "sha256", Value: strings.Repeat("ab", 32)})
	if err != nil {
		t.Fatal(err)
	}
	code, body := tn.req(t, "POST", "/v1/iocs/"+x.ContentID+"/fetch", "", nil)
	var fr node.FetchResult
	if err := json.Unmarshal([]byte(body), &fr); code != 200 || err != nil || !fr.Held || len(fr.IOCs) != 1 || fr.IOCs[0].ID != x.ID {
		t.Fatalf("fetch of a held IOC: %d %s", code, body)
	}
	other := ioc.ContentIDOf(ioc.TypeDomain, "elsewhere.example").String()
	// "after syncing with 0 peers", not "no peer synced within": it did
	// not wait for the deadline.
	code, body = tn.req(t, "POST", "/v1/iocs/"+other+"/fetch?wait=20s", "", nil)
	if code != 404 || !strings.Contains(body, "after syncing with 0 peers") {
		t.Fatalf("fetch with no peers: %d %s", code, body)
	}
	if code, body = tn.req(t, "POST", "/v1/iocs/"+other+"/fetch?wait=soon", "", nil); code != 400 {
		t.Fatalf("bad wait: %d %s", code, body)
	}
}
