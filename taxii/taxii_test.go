package taxii_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/cloak"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/ioc/stixschema"
	"github.com/ghostwire/ghostwire/localapi"
	"github.com/ghostwire/ghostwire/node"
	"github.com/ghostwire/ghostwire/onion"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/taxii"
)

// startNode runs a node (whose tor never comes up: nothing here needs it)
// and its local API, and returns a client of that API.
func startNode(t testing.TB) *localapi.Client {
	t.Helper()
	dir := t.TempDir()
	secrets, err := identity.GenerateSecrets(bytes.NewReader(bytes.Repeat([]byte{7}, 128)))
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(dir, "store"), secrets.StoreKey[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	tor, err := onion.Start(onion.Config{ControlAddr: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(node.Config{Secrets: secrets, Store: db, Mode: cloak.ModeTor, Transport: onion.NewTransport(tor), SpoolDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "api.sock")
	ln, err := localapi.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- localapi.RunNode(ctx, n, ln, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node: %v", err)
		}
		db.Close()
	})
	return localapi.NewClient(sock)
}

// bundle is a STIX 2.1 bundle of n GREEN domain indicators, from first.
func bundle(first, n int) []byte {
	var b strings.Builder
	b.WriteString(`{"type":"bundle","id":"bundle--1d4b4c5e-0c9f-4f1c-9d59-3a9a7f0c1e11","objects":[`)
	for i := first; i < first+n; i++ {
		if i > first {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-%012d","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[domain-name:value = 'host%d.example']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z","object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}`, i, i)
	}
	b.WriteString("]}")
	return []byte(b.String())
}

func importN(t testing.TB, api *localapi.Client, first, n int) {
	t.Helper()
	res, err := api.ImportIOCs(context.Background(), bytes.NewReader(bundle(first, n)), node.ImportRequest{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != n {
		t.Fatalf("imported %d of %d", res.Stored, n)
	}
}

// client is a TAXII 2.1 client written from the specification (OASIS
// TAXII Version 2.1, §1.6.8 media types, §3 API, §4 discovery, §5
// collections), not from the server's code.
type client struct {
	base   string
	auth   string // the Authorization header
	accept string
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (c *client) do(t testing.TB, method, path string, q url.Values, ctype string, body io.Reader) reply {
	t.Helper()
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	accept := c.accept
	if accept == "" {
		accept = "application/taxii+json;version=2.1"
	}
	req.Header.Set("Accept", accept)
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	if ct := resp.Header.Get("Content-Type"); ct != "application/taxii+json;version=2.1" {
		t.Fatalf("%s %s: Content-Type %q, want the TAXII 2.1 media type", method, path, ct)
	}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %v (%s)", method, path, err, raw)
	}
	if r.status >= 400 {
		// §3.6.1: an error message has a title; http_status, if given, is the status.
		if _, ok := r.body["title"].(string); !ok {
			t.Fatalf("%s %s: error %d without a title: %s", method, path, r.status, raw)
		}
		if hs, ok := r.body["http_status"]; ok && hs != fmt.Sprint(r.status) {
			t.Fatalf("%s %s: http_status %v, status %d", method, path, hs, r.status)
		}
	}
	return r
}

func (c *client) get(t testing.TB, path string, q url.Values) reply {
	t.Helper()
	return c.do(t, "GET", path, q, "", nil)
}

func mustStatus(t testing.TB, r reply, want ...int) {
	t.Helper()
	for _, w := range want {
		if r.status == w {
			return
		}
	}
	t.Fatalf("status %d, want %v: %s", r.status, want, r.raw)
}

// walk reads a collection's objects from q on, following next until more
// is false, and returns the objects and the last page's
// X-TAXII-Date-Added-Last.
func (c *client) walk(t testing.TB, path string, q url.Values) (objs []map[string]any, last string) {
	t.Helper()
	for pages := 0; ; pages++ {
		if pages > 100_000 {
			t.Fatal("pagination does not end")
		}
		r := c.get(t, path, q)
		mustStatus(t, r, 200)
		list, _ := r.body["objects"].([]any)
		for _, o := range list {
			objs = append(objs, o.(map[string]any))
		}
		if len(list) > 0 {
			if r.header.Get("X-TAXII-Date-Added-First") == "" || r.header.Get("X-TAXII-Date-Added-Last") == "" {
				t.Fatalf("page without X-TAXII-Date-Added headers: %v", r.header)
			}
			last = r.header.Get("X-TAXII-Date-Added-Last")
		}
		more, _ := r.body["more"].(bool)
		if !more {
			return objs, last
		}
		next, _ := r.body["next"].(string)
		if next == "" {
			t.Fatal("more is true but next is missing")
		}
		q = url.Values{"next": {next}, "limit": q["limit"]}
	}
}

func TestTAXIIClientFromTheSpecification(t *testing.T) {
	api := startNode(t)
	const n = 10_000
	importN(t, api, 0, n)

	tokens := taxii.TokenFile(filepath.Join(t.TempDir(), "tokens.json"))
	secret, err := tokens.Add(strings.NewReader(strings.Repeat("k", 64)), "opencti", nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := tokens.Add(strings.NewReader(strings.Repeat("o", 64)), "elsewhere", []string{"other"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(taxii.New(api, taxii.Config{Tokens: tokens}).Handler())
	defer srv.Close()
	c := &client{base: srv.URL, auth: "Bearer " + secret}

	// Discovery → API root → collections (§4.1, §4.2, §5.1).
	d := c.get(t, "/taxii2/", nil)
	mustStatus(t, d, 200)
	roots, _ := d.body["api_roots"].([]any)
	if len(roots) != 1 {
		t.Fatalf("api_roots %v", d.body["api_roots"])
	}
	root, _ := url.Parse(roots[0].(string))
	ar := c.get(t, root.Path, nil)
	mustStatus(t, ar, 200)
	if vs, _ := ar.body["versions"].([]any); len(vs) == 0 || vs[0] != "application/taxii+json;version=2.1" {
		t.Fatalf("api root versions %v", ar.body["versions"])
	}
	cs := c.get(t, root.Path+"collections/", nil)
	mustStatus(t, cs, 200)
	var green, clear string
	for _, x := range cs.body["collections"].([]any) {
		col := x.(map[string]any)
		if col["can_read"] != true || col["can_write"] != false {
			t.Fatalf("collection %v: can_read/can_write", col)
		}
		switch col["title"] {
		case "default (TLP:GREEN)":
			green = col["id"].(string)
		case "default (TLP:CLEAR)":
			clear = col["id"].(string)
		}
		if strings.Contains(col["title"].(string), "AMBER") || strings.Contains(col["title"].(string), "RED") {
			t.Fatalf("a restricted collection is exposed without being configured: %v", col)
		}
	}
	if green == "" || clear == "" {
		t.Fatalf("no default collections in %s", cs.raw)
	}
	objects := root.Path + "collections/" + green + "/objects/"

	// Every object, page by page, exactly once; every one valid STIX 2.1.
	v, err := stixschema.New()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	objs, last := c.walk(t, objects, url.Values{"limit": {"700"}})
	for _, o := range objs {
		seen[o["id"].(string)]++
		b, _ := json.Marshal(o)
		if err := v.Object(b); err != nil {
			t.Fatalf("served object fails the OASIS schema: %v\n%s", err, b)
		}
	}
	if len(objs) != n || len(seen) != n {
		t.Fatalf("walked %d objects, %d distinct, want %d", len(objs), len(seen), n)
	}
	if r := c.get(t, root.Path+"collections/"+clear+"/objects/", nil); r.body["objects"] != nil {
		t.Fatalf("the CLEAR collection serves GREEN indicators")
	}

	// More arrive; resuming with added_after gives exactly the new ones.
	importN(t, api, n, 500)
	more, _ := c.walk(t, objects, url.Values{"added_after": {last}, "limit": {"300"}})
	for _, o := range more {
		seen[o["id"].(string)]++
	}
	if len(more) != 500 || len(seen) != n+500 {
		t.Fatalf("resumed: %d objects (%d distinct in all), want 500 new", len(more), len(seen))
	}
	for id, k := range seen {
		if k != 1 {
			t.Fatalf("%s served %d times", id, k)
		}
	}

	// Manifest, one object, its versions (§5.3, §5.5, §5.7).
	m := c.get(t, root.Path+"collections/"+green+"/manifest/", url.Values{"limit": {"3"}})
	mustStatus(t, m, 200)
	recs, _ := m.body["objects"].([]any)
	if len(recs) != 3 || m.body["more"] != true {
		t.Fatalf("manifest page: %s", m.raw)
	}
	rec := recs[0].(map[string]any)
	for _, k := range []string{"id", "date_added", "version", "media_type"} {
		if _, ok := rec[k]; !ok {
			t.Fatalf("manifest record without %s: %v", k, rec)
		}
	}
	id := rec["id"].(string)
	one := c.get(t, objects+id+"/", nil)
	mustStatus(t, one, 200)
	if got, _ := one.body["objects"].([]any); len(got) != 1 || got[0].(map[string]any)["id"] != id {
		t.Fatalf("object %s: %s", id, one.raw)
	}
	vs := c.get(t, objects+id+"/versions/", nil)
	mustStatus(t, vs, 200)
	if got, _ := vs.body["versions"].([]any); len(got) != 1 || got[0] != rec["version"] {
		t.Fatalf("versions %s, manifest says %v", vs.raw, rec["version"])
	}
	typed := c.get(t, objects, url.Values{"match[type]": {"vulnerability"}})
	mustStatus(t, typed, 200)
	if typed.body["objects"] != nil {
		t.Fatalf("match[type]=vulnerability gave indicators: %s", typed.raw)
	}

	// Credentials (401), rights (403/404), media types (406/415), bounds (400).
	for name, auth := range map[string]string{
		"none":         "",
		"wrong bearer": "Bearer gwtaxii_" + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)),
		"wrong name":   "Basic " + base64.StdEncoding.EncodeToString([]byte("someone:"+secret)),
		"garbage":      "Bearer x",
	} {
		bad := &client{base: srv.URL, auth: auth}
		r := bad.get(t, "/taxii2/", nil)
		if r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%s credentials: status %d, WWW-Authenticate %q", name, r.status, r.header.Get("WWW-Authenticate"))
		}
	}
	basic := &client{base: srv.URL, auth: "Basic " + base64.StdEncoding.EncodeToString([]byte("opencti:"+secret))}
	mustStatus(t, basic.get(t, "/taxii2/", nil), 200)
	limited := &client{base: srv.URL, auth: "Bearer " + other}
	mustStatus(t, limited.get(t, objects, nil), 403, 404)
	if lc := limited.get(t, root.Path+"collections/", nil); strings.Contains(string(lc.raw), green) {
		t.Fatal("a token lists a collection it may not read")
	}
	mustStatus(t, (&client{base: srv.URL, auth: c.auth, accept: "application/json"}).get(t, objects, nil), 406)
	mustStatus(t, (&client{base: srv.URL, auth: c.auth, accept: "application/taxii+json;version=2.0"}).get(t, objects, nil), 406)
	mustStatus(t, c.do(t, "POST", objects, nil, "application/json", strings.NewReader("{}")), 415)
	mustStatus(t, c.do(t, "POST", objects, nil, "application/taxii+json;version=2.1", strings.NewReader(`{"objects":[]}`)), 403)
	mustStatus(t, c.get(t, objects, url.Values{"limit": {"1000000000000"}}), 400)
	mustStatus(t, c.get(t, objects, url.Values{"next": {"not-a-cursor"}}), 400)
	amber := taxii.Exposure{Collection: "default", TLP: "amber"}.ID()
	mustStatus(t, c.get(t, root.Path+"collections/"+amber+"/objects/", nil), 404)
	if _, err := taxii.ParseExposures([]string{"default:amber"}, false); err == nil {
		t.Fatal("AMBER exposed without --allow-restricted")
	}

	// A retraction is served as the object revoked.
	x, err := api.DropIOC(context.Background(), node.DropRequest{Type: "domain", Value: "gone.example", TLP: "green"})
	if err != nil {
		t.Fatal(err)
	}
	_, last = c.walk(t, objects, url.Values{"added_after": {last}})
	if _, err := api.RetractIOC(context.Background(), x.ID); err != nil {
		t.Fatal(err)
	}
	after, _ := c.walk(t, objects, url.Values{"added_after": {last}})
	if len(after) != 1 || after[0]["revoked"] != true {
		t.Fatalf("after a retraction: %v", after)
	}
	b, _ := json.Marshal(after[0])
	if err := v.Object(b); err != nil {
		t.Fatalf("revoked object fails the schema: %v", err)
	}
}

// BenchmarkTAXIIObjects serves a collection page by page (1000 objects a
// page) at 20k indicators and again once it holds 100k (or
// GHOSTWIRE_BENCH_IOCS), and streams the STIX file export of the larger
// one, reporting each rate per second of wall time and per second of CPU
// time (user+sys of the whole process: the node runs in it), and bytes
// per object served beside the export's. CPU time is the figure to
// compare on a shared machine.
func BenchmarkTAXIIObjects(b *testing.B) {
	api := startNode(b)
	n := 100_000
	if v := os.Getenv("GHOSTWIRE_BENCH_IOCS"); v != "" {
		fmt.Sscan(v, &n)
	}
	small := min(20_000, n)
	c, objects := serveDefault(b, api)
	serve := func(size int) {
		b.Helper()
		wall, cpu := time.Now(), cpuTime()
		served, bytesServed := 0, 0
		for range b.N {
			q := url.Values{"limit": {"1000"}}
			for {
				r := c.get(b, objects, q)
				bytesServed += len(r.raw)
				page, _ := r.body["objects"].([]any)
				served += len(page)
				if r.body["more"] != true {
					break
				}
				q = url.Values{"limit": {"1000"}, "next": {r.body["next"].(string)}}
			}
		}
		if served != size*b.N {
			b.Fatalf("served %d objects of %d", served, size*b.N)
		}
		tag := fmt.Sprintf("%dk", size/1000)
		b.ReportMetric(float64(served)/time.Since(wall).Seconds(), "objects/s@"+tag)
		b.ReportMetric(float64(served)/(cpuTime()-cpu).Seconds(), "objects/cpu-s@"+tag)
		b.ReportMetric(float64(bytesServed)/float64(served), "B/object@"+tag)
	}
	for i := 0; i < small; i += 20_000 {
		importN(b, api, i, min(20_000, small-i))
	}
	b.ResetTimer()
	serve(small)
	b.StopTimer()
	for i := small; i < n; i += 20_000 {
		importN(b, api, i, min(20_000, n-i))
	}
	b.StartTimer()
	serve(n)
	var export bytes.Buffer
	wall, cpu := time.Now(), cpuTime()
	if err := api.ExportIOCs(context.Background(), "stix", localapi.IOCQuery{}, &export); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n)/time.Since(wall).Seconds(), "export-objects/s")
	b.ReportMetric(float64(n)/(cpuTime()-cpu).Seconds(), "export-objects/cpu-s")
	b.ReportMetric(float64(export.Len())/float64(n), "export-B/object")
}

// serveDefault serves api over TAXII for the test's life with one token
// that reads everything, and returns a client holding it and the path of
// the default collection's GREEN objects.
func serveDefault(t testing.TB, api *localapi.Client) (*client, string) {
	t.Helper()
	tokens := taxii.TokenFile(filepath.Join(t.TempDir(), "tokens.json"))
	secret, err := tokens.Add(strings.NewReader(strings.Repeat("k", 64)), "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(taxii.New(api, taxii.Config{Tokens: tokens}).Handler())
	t.Cleanup(srv.Close)
	return &client{base: srv.URL, auth: "Bearer " + secret},
		"/ghostwire/collections/" + taxii.Exposure{Collection: "default", TLP: "green"}.ID() + "/objects/"
}

// cpuTime is the process's user+sys time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// zeros is an endless body of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestTAXIIHugeBodyIsRefusedUnread: a POST announcing 1 GB is answered
// 413 without the server reading it, and the server answers the next
// request.
func TestTAXIIHugeBodyIsRefusedUnread(t *testing.T) {
	api := startNode(t)
	tokens := taxii.TokenFile(filepath.Join(t.TempDir(), "tokens.json"))
	secret, err := tokens.Add(strings.NewReader(strings.Repeat("k", 64)), "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(taxii.New(api, taxii.Config{Tokens: tokens}).Handler())
	defer srv.Close()
	objects := srv.URL + "/ghostwire/collections/" + taxii.Exposure{Collection: "default", TLP: "green"}.ID() + "/objects/"
	req, _ := http.NewRequest("POST", objects, io.LimitReader(zeros{}, 1<<30))
	req.ContentLength = 1 << 30
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Accept", taxii.MediaTAXII)
	req.Header.Set("Content-Type", taxii.MediaTAXII)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || !strings.Contains(string(body), "max_content_length") {
		t.Fatalf("1 GB body: %d %s", resp.StatusCode, body)
	}
	c := &client{base: srv.URL, auth: "Bearer " + secret}
	mustStatus(t, c.get(t, "/taxii2/", nil), 200)
}
