package taxii_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ghostwire/ghostwire/localapi"
	"github.com/ghostwire/ghostwire/taxii"
)

// TestTAXIIWritableCollection: with Writable, collections say can_write
// and a POST of an envelope imports its indicators into the collection,
// signed by the node as 'ioc import' signs them (an unmarked one at the
// collection's level), and answers 202 with a complete status resource
// naming each object's outcome; the status can be read again by the same
// token only. Without Writable, the same POST is refused (403).
func TestTAXIIWritableCollection(t *testing.T) {
	ctx := context.Background()
	api := startNode(t)
	importN(t, api, 0, 1)
	tokens := taxii.TokenFile(filepath.Join(t.TempDir(), "tokens.json"))
	secret, err := tokens.Add(strings.NewReader(strings.Repeat("k", 64)), "writer", nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := tokens.Add(strings.NewReader(strings.Repeat("o", 64)), "other", nil)
	if err != nil {
		t.Fatal(err)
	}
	ro := httptest.NewServer(taxii.New(api, taxii.Config{Tokens: tokens}).Handler())
	defer ro.Close()
	srv := httptest.NewServer(taxii.New(api, taxii.Config{Tokens: tokens, Writable: true}).Handler())
	defer srv.Close()
	objects := "/ghostwire/collections/" + taxii.Exposure{Collection: "default", TLP: "green"}.ID() + "/objects/"
	body := `{"objects":[
{"type":"indicator","spec_version":"2.1","id":"indicator--11111111-1111-4111-8111-111111111111","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-02T00:00:00.000Z","pattern":"[domain-name:value = 'posted-marked.example']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z","object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]},
{"type":"indicator","spec_version":"2.1","id":"indicator--22222222-2222-4222-8222-222222222222","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[domain-name:value = 'posted-unmarked.example']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"},
{"type":"malware","spec_version":"2.1","id":"malware--33333333-3333-4333-8333-333333333333","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","name":"x","is_family":false},
{"type":"indicator","spec_version":"2.1","id":"indicator--44444444-4444-4444-8444-444444444444","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[file:size > 10]","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"}]}`

	r := (&client{base: ro.URL, auth: "Bearer " + secret}).do(t, "POST", objects, nil, taxii.MediaTAXII, strings.NewReader(body))
	mustStatus(t, r, 403)

	c := &client{base: srv.URL, auth: "Bearer " + secret}
	cols := c.get(t, "/ghostwire/collections/", nil)
	for _, col := range cols.body["collections"].([]any) {
		if col.(map[string]any)["can_write"] != true {
			t.Fatalf("a writable server's collection says can_write %v", col)
		}
	}
	r = c.do(t, "POST", objects, nil, taxii.MediaTAXII, strings.NewReader(body))
	mustStatus(t, r, 202)
	st := r.body
	if st["status"] != "complete" || st["total_count"] != 4.0 || st["success_count"] != 2.0 || st["failure_count"] != 2.0 || st["pending_count"] != 0.0 {
		t.Fatalf("status: %s", r.raw)
	}
	for _, f := range st["failures"].([]any) {
		id := f.(map[string]any)["id"].(string)
		if !strings.HasPrefix(id, "malware--3") && !strings.HasPrefix(id, "indicator--4") {
			t.Errorf("%s failed: %v", id, f)
		}
	}
	sid := st["id"].(string)
	again := c.get(t, "/ghostwire/status/"+sid+"/", nil)
	mustStatus(t, again, 200)
	if again.body["id"] != sid || again.body["success_count"] != 2.0 {
		t.Fatalf("status read again: %s", again.raw)
	}
	mustStatus(t, (&client{base: srv.URL, auth: "Bearer " + other}).get(t, "/ghostwire/status/"+sid+"/", nil), 404)

	xs, err := api.ListIOCs(ctx, localapi.IOCQuery{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, x := range xs {
		got[x.Value] = x.TLP + " " + x.Author
		if x.Author != xs[0].Author {
			t.Errorf("%s is signed by %s, not by the node (%s)", x.Value, x.Author, xs[0].Author)
		}
	}
	for _, v := range []string{"posted-marked.example", "posted-unmarked.example"} {
		if !strings.HasPrefix(got[v], "green ") {
			t.Errorf("%s: %q, want imported as green", v, got[v])
		}
	}
	if len(xs) != 3 {
		t.Errorf("%d indicators held, want 3", len(xs))
	}
}
