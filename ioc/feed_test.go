package ioc

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The strict decoder below is written from the MISP core format
// (draft-dulaunoy-misp-core-format: the Event object and its Attribute,
// Tag and Orgc members) and MISP's feed layout (manifest.json: event uuid
// → event metadata; hashes.csv: md5 of each value, event uuid). Unknown
// fields are errors, so anything export adds must be checked against the
// format first.

type strictTag struct {
	Name string `json:"name"`
}

type strictAttribute struct {
	UUID         string      `json:"uuid"`
	Type         string      `json:"type"`
	Category     string      `json:"category"`
	Value        string      `json:"value"`
	ToIDs        bool        `json:"to_ids"`
	Comment      string      `json:"comment"`
	Timestamp    string      `json:"timestamp"`
	Distribution string      `json:"distribution"`
	Tag          []strictTag `json:"Tag"`
	// Sighting: MISP core format's Sighting (type 0 seen, 1 false
	// positive, 2 expiration; date_sighting in Unix seconds).
	Sighting []strictSighting `json:"Sighting"`
}

type strictSighting struct {
	UUID         string    `json:"uuid"`
	Type         string    `json:"type"`
	DateSighting string    `json:"date_sighting"`
	Source       string    `json:"source"`
	Organisation strictOrg `json:"Organisation"`
}

type strictOrg struct {
	Name string `json:"name"`
	UUID string `json:"uuid"`
}

type strictEvent struct {
	Event struct {
		UUID          string            `json:"uuid"`
		Info          string            `json:"info"`
		Date          string            `json:"date"`
		Timestamp     string            `json:"timestamp"`
		Published     bool              `json:"published"`
		Analysis      string            `json:"analysis"`
		ThreatLevelID string            `json:"threat_level_id"`
		Distribution  string            `json:"distribution"`
		Orgc          strictOrg         `json:"Orgc"`
		Tag           []strictTag       `json:"Tag"`
		Attribute     []strictAttribute `json:"Attribute"`
	} `json:"Event"`
}

type strictManifestEntry struct {
	Info          string      `json:"info"`
	Date          string      `json:"date"`
	Analysis      string      `json:"analysis"`
	ThreatLevelID string      `json:"threat_level_id"`
	Timestamp     string      `json:"timestamp"`
	Published     bool        `json:"published"`
	Orgc          strictOrg   `json:"Orgc"`
	Tag           []strictTag `json:"Tag"`
}

var (
	strictUUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	strictDate = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	strictUnix = regexp.MustCompile(`^\d+$`)
)

func strictDecode(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", filepath.Base(path), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("%s: trailing data", filepath.Base(path))
	}
}

// readFeed checks a feed directory strictly and returns each event's
// attribute values by event uuid.
func readFeed(t *testing.T, dir string) map[string][]string {
	t.Helper()
	var manifest map[string]strictManifestEntry
	strictDecode(t, filepath.Join(dir, "manifest.json"), &manifest)
	out := map[string][]string{}
	for id, m := range manifest {
		if !strictUUID.MatchString(id) || !strictDate.MatchString(m.Date) || !strictUnix.MatchString(m.Timestamp) || m.Orgc.Name == "" || !strictUUID.MatchString(m.Orgc.UUID) {
			t.Fatalf("manifest entry %s: %+v", id, m)
		}
		var ev strictEvent
		strictDecode(t, filepath.Join(dir, id+".json"), &ev)
		if ev.Event.UUID != id || ev.Event.Info != m.Info || ev.Event.Timestamp != m.Timestamp || ev.Event.Date != m.Date {
			t.Fatalf("event %s disagrees with its manifest entry: %+v / %+v", id, ev.Event, m)
		}
		for _, a := range ev.Event.Attribute {
			if !strictUUID.MatchString(a.UUID) || a.Type == "" || a.Category == "" || !strictUnix.MatchString(a.Timestamp) || len(a.Tag) == 0 || !strings.HasPrefix(a.Tag[0].Name, "tlp:") {
				t.Fatalf("event %s attribute %+v", id, a)
			}
			out[id] = append(out[id], a.Value)
		}
	}
	// hashes.csv: exactly one line per attribute value, md5,event uuid.
	b, err := os.ReadFile(filepath.Join(dir, "hashes.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for id, vs := range out {
		for _, v := range vs {
			h := md5.Sum([]byte(v))
			want[hex.EncodeToString(h[:])+","+id]++
		}
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(b) == 0 {
		lines = nil
	}
	for _, l := range lines {
		want[l]--
	}
	for l, n := range want {
		if n != 0 {
			t.Fatalf("hashes.csv: %q off by %d", l, n)
		}
	}
	return out
}

func TestMISPFeedDir(t *testing.T) {
	dir := t.TempDir()
	author := testKey(t, 1).ID()
	created := time.UnixMilli(1_700_000_000_000).UTC()
	export := func(f *FeedDir, collection string, from, n int) bool {
		_, changed, err := f.Event(func(w io.Writer) error {
			mw := NewMISPWriter(w, MISPEvent{UUID: FeedEventUUID(collection), Info: "GhostWire collection " + collection, Org: "GhostWire"})
			for i := from; i < from+n; i++ {
				e := syntheticEntry(t, i, author, created.Add(time.Duration(i)*time.Second))
				if err := mw.Write(&e); err != nil {
					return err
				}
			}
			return mw.Close()
		})
		if err != nil {
			t.Fatal(err)
		}
		return changed
	}
	f, err := OpenFeedDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	export(f, "default", 0, 300)
	export(f, "vendor-x", 1000, 50)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	first := readFeed(t, dir)
	if len(first) != 2 || len(first[FeedEventUUID("default")]) != 300 || len(first[FeedEventUUID("vendor-x")]) != 50 {
		t.Fatalf("first export: %d events", len(first))
	}
	stat := func(id string) time.Time {
		fi, err := os.Stat(filepath.Join(dir, id+".json"))
		if err != nil {
			t.Fatal(err)
		}
		return fi.ModTime()
	}
	before := stat(FeedEventUUID("vendor-x"))
	time.Sleep(20 * time.Millisecond)

	// Re-export with more in one collection, only that one: the same
	// UUIDs, the unchanged event untouched, and the manifest and
	// hashes.csv still cover both.
	f, err = OpenFeedDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !export(f, "default", 0, 400) {
		t.Fatal("an event with 100 more attributes was not rewritten")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	second := readFeed(t, dir)
	if len(second) != 2 || len(second[FeedEventUUID("default")]) != 400 || len(second[FeedEventUUID("vendor-x")]) != 50 {
		t.Fatalf("second export: %v events", len(second))
	}
	if !stat(FeedEventUUID("vendor-x")).Equal(before) {
		t.Fatal("an event not re-exported was rewritten")
	}
	f, err = OpenFeedDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if export(f, "vendor-x", 1000, 50) {
		t.Fatal("re-exporting the same indicators rewrote the event")
	}
	if FeedEventUUID("default") == FeedEventUUID("vendor-x") || FeedEventUUID("default") != FeedEventUUID("default") {
		t.Fatal("feed event UUIDs are not one per collection")
	}
}

// FuzzScanFeedEvent: any input is read or refused without a panic, and a
// read event's uuid is a UUID.
func FuzzScanFeedEvent(f *testing.F) {
	var b bytes.Buffer
	mw := NewMISPWriter(&b, MISPEvent{UUID: FeedEventUUID("x"), Org: "GhostWire"})
	e := Entry{Record: Record{Type: TypeDomain, Value: "a.example", TLP: TLPGreen, Confidence: NoConfidence}}
	mw.Write(&e)
	mw.Close()
	f.Add(b.Bytes())
	f.Add([]byte(`{"Event":{"uuid":"00000000-0000-4000-8000-000000000000","Attribute":[]}}`))
	f.Add([]byte(`{"Event":{"Attribute":[{"value":1}]}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, in []byte) {
		id, _, err := ScanFeedEvent(bytes.NewReader(in), func(string, string) error { return nil })
		if err == nil && !uuidPattern.MatchString(id) {
			t.Fatalf("accepted uuid %q", id)
		}
	})
}
