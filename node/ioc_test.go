package node

import (
	"bufio"
	"bytes"
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

	"github.com/ghostwire/ghostwire/collection"
	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/ioc"
	"github.com/ghostwire/ghostwire/item"
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
func importVia(t *testing.T, tn *testNode, query string, body io.Reader) (int, []collection.ImportLine) {
	t.Helper()
	r, _ := http.NewRequest("POST", "http://ghostwire/v1/iocs/import"+query, body)
	r.Header.Set("Content-Type", "application/json")
	resp, err := tn.client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var lines []collection.ImportLine
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var l collection.ImportLine
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
func indicators(t *testing.T, tn *testNode, coll string) map[string]string {
	t.Helper()
	code, body := tn.req(t, "GET", "/v1/iocs?expired=1&collection="+coll, "", nil)
	if code != 200 {
		t.Fatalf("list: %d %s", code, body)
	}
	var xs []collection.IOC
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
	// issue-271.json: 6 objects fail (fixture counts in ioc/fixtures_test.go,
	// read with unmarked objects GREEN as here).
	code, lines := importVia(t, tn, "?tlp=green", openFixture(t, "stix/cti-stix-elevator/idioms-json-2.1/issue-271.json"))
	last := lines[len(lines)-1]
	if code != http.StatusUnprocessableEntity || last.Result == nil || last.Result.Committed || last.Result.Failed != 6 || last.Error == "" {
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
	if failed != 6 {
		t.Errorf("listed %d failed objects, want 6", failed)
	}
	if after := tn.state(t); after != before {
		t.Fatal("a refused import changed the node's state")
	}
	code, lines = importVia(t, tn, "?tlp=green&partial=1", openFixture(t, "stix/cti-stix-elevator/idioms-json-2.1/issue-271.json"))
	last = lines[len(lines)-1]
	if code != 200 || last.Result == nil || !last.Result.Committed || last.Result.Stored != 13 || last.Error != "" {
		t.Fatalf("partial import: status %d, %+v", code, last)
	}
	want := map[string]int{"domain": 6, "ipv4": 2, "md5": 1, "sha1": 1, "sha256": 1, "url": 2}
	for k, v := range want {
		if last.Result.ByType[k] != v {
			t.Errorf("by_type[%s] = %d, want %d", k, last.Result.ByType[k], v)
		}
	}
	if got := len(indicators(t, tn, "default")); got != 13 {
		t.Errorf("listed %d IOCs after a partial import of 13", got)
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
	if code != http.StatusBadRequest || lines[len(lines)-1].Error == "" {
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

// TestIOCExpiredNotOffered checks that the sets a sync session reconciles
// leave expired IOCs out, whether dropped or imported, and that listing
// hides them unless asked.
func TestIOCExpiredNotOffered(t *testing.T) {
	tn := startTestNode(t, t.TempDir(), 35)
	past := time.Now().Add(-time.Hour)
	future := time.Now().Add(time.Hour)
	for i, until := range []*time.Time{&past, &future, nil} {
		if _, err := tn.n.coll.Drop(collection.DropRequest{Type: "ipv4", Value: fmt.Sprintf("198.51.100.%d", i+1), ValidUntil: until}); err != nil {
			t.Fatal(err)
		}
	}
	bundle := `{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","objects":[
	 {"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
	  "created":"2020-01-01T00:00:00.000Z","modified":"2020-01-01T00:00:00.000Z","pattern_type":"stix",
	  "pattern":"[domain-name:value = 'expired.example']","valid_from":"2020-01-01T00:00:00Z","valid_until":"2021-01-01T00:00:00Z"}]}`
	if code, lines := importVia(t, tn, "?tlp=clear", strings.NewReader(bundle)); code != 200 {
		t.Fatalf("import: %d %+v", code, lines[len(lines)-1])
	}
	sc := collection.ClassScope(item.CollectionSpace(collection.Default), ioc.Class{Level: ioc.ClassPublic})
	n := 0
	tn.db.ScopeIDs(sc, func(item.ID) error { n++; return nil })
	set, err := syncStore{tn.n}.Set(sc)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 || set.Len() != 2 {
		t.Errorf("scope holds %d items and offers %d; want 4 held, 2 offered (the expired drop and import left out)", n, set.Len())
	}
	if l := len(indicators(t, tn, "default")); l != 4 {
		t.Errorf("expired=1 lists %d, want 4", l)
	}
	if xs, _ := tn.n.coll.List(collection.Filter{}); len(xs) != 2 {
		t.Errorf("default list shows %d, want 2", len(xs))
	}
}

// TestIOCImportProgressAndBatches imports 2500 indicators: the reply
// carries read progress (every 1000 objects) and one store line per batch
// of collection.ImportProgressEvery records (and one at the end), and everything is stored.
func TestIOCImportProgressAndBatches(t *testing.T) {
	tn := startTestNode(t, t.TempDir(), 36)
	var b strings.Builder
	b.WriteString(`{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","objects":[`)
	const count = 2500
	for i := range count {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-%012d",
		 "created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern_type":"stix",
		 "pattern":"[domain-name:value = 'h%d.example']","valid_from":"2026-01-01T00:00:00Z"}`, i, i)
	}
	b.WriteString("]}")
	before, _ := tn.db.CountItems()
	code, lines := importVia(t, tn, "?tlp=green", strings.NewReader(b.String()))
	last := lines[len(lines)-1]
	if code != 200 || last.Result == nil || last.Result.Stored != count || last.Result.ByType["domain"] != count {
		t.Fatalf("import: %d %+v", code, last)
	}
	phases := map[string]int{}
	for _, l := range lines[:len(lines)-1] {
		phases[l.Progress.Phase]++
	}
	if phases["read"] != count/1000 || phases["store"] != (count+collection.ImportProgressEvery-1)/collection.ImportProgressEvery {
		t.Errorf("progress lines %v; want %d read, %d store", phases, count/1000, (count+collection.ImportProgressEvery-1)/collection.ImportProgressEvery)
	}
	if after, _ := tn.db.CountItems(); after != before+count {
		t.Errorf("store holds %d items, want %d", after, before+count)
	}
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
// Run: go test ./node -run '^$' -bench IOCImport100k -benchtime 1x
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
		var last collection.ImportLine
		dec := json.NewDecoder(resp.Body)
		for dec.More() {
			var l collection.ImportLine
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

// TestIOCExpiredReceivedNotOffered: an expired IOC a peer sends is stored
// (it verifies) but indexed, so this node does not offer it onwards.
func TestIOCExpiredReceivedNotOffered(t *testing.T) {
	tn := startTestNode(t, t.TempDir(), 38)
	pk, err := identity.NewKeyFromSeed(bytes.Repeat([]byte{39}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tn.n.AddPeer(pk.ID(), "bob"); err != nil {
		t.Fatal(err)
	}
	sp := item.CollectionSpace(collection.Default)
	sc := collection.ClassScope(sp, ioc.Class{Level: ioc.ClassPublic})
	var raw [][]byte
	for i, until := range []time.Time{time.Now().Add(-time.Minute), time.Now().Add(time.Hour)} {
		rec, err := ioc.NewRecord(ioc.TypeDomain, fmt.Sprintf("r%d.example", i), ioc.TLPClear)
		if err != nil {
			t.Fatal(err)
		}
		rec.ValidUntil = until
		if err := rec.Normalize(); err != nil {
			t.Fatal(err)
		}
		it, err := ioc.NewItem(pk, sp, time.Now().Add(-2*time.Minute), &rec)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, it.Bytes())
	}
	if refused, err := (syncStore{tn.n}).Accept(pk.ID(), sc, raw); err != nil || len(refused) > 0 {
		t.Fatalf("accept: %d refused, %v", len(refused), err)
	}
	set, err := syncStore{tn.n}.Set(sc)
	if err != nil {
		t.Fatal(err)
	}
	xs, _ := tn.n.coll.List(collection.Filter{IncludeExpired: true})
	if len(xs) != 2 || set.Len() != 1 {
		t.Errorf("received 2 (1 expired): %d held, %d offered; want 2 and 1", len(xs), set.Len())
	}
}

// FuzzIOCImportNode feeds arbitrary input through the node's import (with
// --partial and a default TLP, so whatever converts is signed and stored):
// it must never panic, and what it reports must add up.
func FuzzIOCImportNode(f *testing.F) {
	for _, name := range []string{
		"stix/cti-stix2-json-schemas/examples/indicators-for-C2-with-COA.json",
		"stix/cti-stix-elevator/idioms-json-2.1/141-TLP-marking-structures.json",
		"misp/misp-stix/tests/test_events_collection_2.json",
	} {
		b, err := os.ReadFile(filepath.Join(fixtureDir, name))
		if err != nil {
			f.Fatalf("fixture missing (see shared/fixtures/README.md): %v", err)
		}
		f.Add(b)
	}
	f.Add([]byte(`[{"Event":{"Attribute":[{"type":"ip-dst","value":"010.0.0.1"}]}}]`))
	tn := startTestNode(f, f.TempDir(), 40)
	f.Fuzz(func(t *testing.T, in []byte) {
		res, err := tn.n.coll.Import(bytes.NewReader(in), collection.ImportRequest{TLP: "green", Partial: true}, nil)
		if err != nil {
			if res != nil || fault.As(err) == nil {
				t.Fatalf("error %v with result %+v", err, res)
			}
			return
		}
		sum := 0
		for _, n := range res.ByTLP {
			sum += n
		}
		if !res.Committed || sum != res.Records || res.Stored > res.Records {
			t.Fatalf("result does not add up: %+v", res)
		}
	})
}

// TestIOCFetchWithoutPeers: a held IOC is answered at once; one not held,
// with no peer to sync with, is a 404 without waiting for the deadline.
func TestIOCFetchWithoutPeers(t *testing.T) {
	tn := startTestNode(t, t.TempDir(), 41)
	x, err := tn.n.coll.Drop(collection.DropRequest{Type: "sha256", Value: strings.Repeat("ab", 32)})
	if err != nil {
		t.Fatal(err)
	}
	code, body := tn.req(t, "POST", "/v1/iocs/"+x.ContentID+"/fetch", "", nil)
	var fr FetchResult
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

// ownCert returns the node's recipient-key certificate.
func ownCert(t testing.TB, db *store.DB) *item.Item {
	t.Helper()
	var raw []byte
	db.View(func(tx *store.Tx) error {
		var err error
		raw, err = tx.Get(bucketMeta, []byte(metaOwnCert))
		return err
	})
	it, _, err := db.GetItem(item.ID(raw))
	if err != nil {
		t.Fatalf("own certificate: %v", err)
	}
	return it
}

// TestIOCImportAmberRoundTrip: restricted records are imported sealed to
// the named recipients (and readable here), and export → import at the
// recipient, addressed back, keeps the content IDs and the TLP.
func TestIOCImportAmberRoundTrip(t *testing.T) {
	a := startTestNode(t, t.TempDir(), 42)
	b := startTestNode(t, t.TempDir(), 43)
	for _, p := range [][2]*testNode{{a, b}, {b, a}} {
		if _, err := p[0].n.AddPeer(p[1].n.id, "x"); err != nil {
			t.Fatal(err)
		}
		// What a sync does when the peer's certificate arrives.
		cert := ownCert(t, p[1].db)
		if _, err := p[0].db.PutItems([]store.Entry{{Item: cert}}); err != nil {
			t.Fatal(err)
		}
		if err := p[0].n.rememberPeerKey(p[1].n.id, cert); err != nil {
			t.Fatal(err)
		}
	}
	// An unmarked bundle given AMBER+STRICT: the sealed path.
	bundle := `{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","objects":[
	 {"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
	  "created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern_type":"stix",
	  "pattern":"[ipv4-addr:value = '203.0.113.9'] OR [domain-name:value = 'Amber.Example.']","valid_from":"2026-01-01T00:00:00Z"}]}`
	code, lines := importVia(t, a, "?tlp=amber%2Bstrict&to="+b.n.id.String(), strings.NewReader(bundle))
	if last := lines[len(lines)-1]; code != 200 || last.Result.ByTLP["amber+strict"] != 2 || last.Result.Stored != 2 {
		t.Fatalf("amber import: %d %+v", code, last)
	}
	want := indicators(t, a, "default")
	if len(want) != 2 {
		t.Fatalf("a lists %d", len(want))
	}
	xs, _ := a.n.coll.List(collection.Filter{})
	for _, x := range xs {
		if len(x.Recipients) != 1 || x.Recipients[0] != b.n.id.String() {
			t.Errorf("%s: recipients %v, want b", x.Value, x.Recipients)
		}
	}
	_, doc := a.req(t, "GET", "/v1/iocs/export?format=stix", "", nil)
	code, lines = importVia(t, b, "", strings.NewReader(doc))
	if last := lines[len(lines)-1]; code != http.StatusUnprocessableEntity || last.Result.Failed != 2 {
		t.Fatalf("re-import of amber+strict without --to: %d %+v", code, last)
	}
	code, lines = importVia(t, b, "?to="+a.n.id.String(), strings.NewReader(doc))
	if last := lines[len(lines)-1]; code != 200 || last.Result.Stored != 2 {
		t.Fatalf("re-import with --to: %d %+v", code, last)
	}
	got := indicators(t, b, "default")
	for cid, tlp := range want {
		if got[cid] != tlp {
			t.Errorf("%s: TLP %q after the round trip, want %q", cid, got[cid], tlp)
		}
	}
}
