package node

import (
	"bytes"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/store"
)

// TestFixturesRoundTripNodes: every file in ../shared/fixtures that holds
// indicators, imported (what converts, with GREEN for the unmarked and
// amber ones addressed to the second node), exported as STIX and as MISP
// and each export imported into a fresh node, gives there the same
// indicators: content IDs, values and TLPs (issue 19). A file that is
// neither STIX nor MISP is refused as malformed, never imported as empty.
func TestFixturesRoundTripNodes(t *testing.T) {
	a := startTestNode(t, t.TempDir(), 71)
	viaSTIX := startTestNode(t, t.TempDir(), 72)
	viaMISP := startTestNode(t, t.TempDir(), 73)
	for _, p := range [][2]*testNode{{a, viaSTIX}, {viaSTIX, a}, {a, viaMISP}, {viaMISP, a}} {
		if _, err := p[0].n.AddPeer(p[1].n.id, ""); err != nil {
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
	var files []string
	filepath.WalkDir(fixtureDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".json") {
			files = append(files, p)
		}
		return err
	})
	if len(files) < 40 {
		t.Fatalf("%d fixture files under %s, want the 42 JSON files", len(files), fixtureDir)
	}
	trips, refused := 0, 0
	for i, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		coll := "fixture-" + string(rune('a'+i/26)) + string(rune('a'+i%26))
		// Restricted records need recipients: the two other nodes.
		_, err = a.n.coll.Import(bytes.NewReader(b), ImportRequest{Collection: coll, TLP: "green", Partial: true,
			To: []string{viaSTIX.n.id.String(), viaMISP.n.id.String()}}, nil)
		if fault.KindOf(err) == fault.Malformed {
			refused++
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		want := byValue(t, a, coll)
		if len(want) == 0 {
			continue
		}
		for _, via := range []struct {
			format string
			to     *testNode
		}{{"stix", viaSTIX}, {"misp", viaMISP}} {
			var doc bytes.Buffer
			if err := a.n.coll.Export(&doc, via.format, IOCFilter{Collection: coll, IncludeExpired: true}); err != nil {
				t.Fatalf("%s: export %s: %v", p, via.format, err)
			}
			if _, err := via.to.n.coll.Import(&doc, ImportRequest{Collection: coll, To: []string{a.n.id.String()}}, nil); err != nil {
				t.Fatalf("%s: import of the %s export: %v", p, via.format, err)
			}
			if got := byValue(t, via.to, coll); !maps.Equal(got, want) {
				t.Errorf("%s via %s: %d indicators, want %d, or with other content IDs, values or TLPs", p, via.format, len(got), len(want))
			}
			trips++
		}
	}
	if trips < 50 || refused == 0 {
		t.Errorf("%d round trips, %d files refused as malformed; want every fixture with indicators both ways", trips, refused)
	}
}

// byValue lists a collection as content ID → "type value tlp".
func byValue(t *testing.T, tn *testNode, coll string) map[string]string {
	t.Helper()
	xs, err := tn.n.coll.List(IOCFilter{Collection: coll, IncludeExpired: true})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, x := range xs {
		out[x.ContentID] = x.Type + " " + x.Value + " " + x.TLP
	}
	return out
}
