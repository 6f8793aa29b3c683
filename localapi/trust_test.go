package localapi

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/node"
)

// TestTrustRoutes: sightings, ratings and trust through the API
// (docs/api.md): what they return, the errors a user can make, and the
// trust ioc list and export then carry.
func TestTrustRoutes(t *testing.T) {
	tn := startTestNode(t, t.TempDir(), 1)
	bob, _ := identity.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{9}, 64)))
	if code, body := tn.req(t, "POST", "/v1/peers", "application/json", strings.NewReader(`{"onion":"`+bob.ID().String()+`","name":"bob"}`)); code != 201 {
		t.Fatalf("add peer: %d %s", code, body)
	}
	// Trust starts from verified contacts (docs/reputation.md §2).
	number := identity.SafetyNumber(tn.n.ID(), bob.ID())
	if code, body := tn.req(t, "POST", "/v1/peers/bob/verify", "application/json", strings.NewReader(`{"safety_number":"`+number+`"}`)); code != 200 {
		t.Fatalf("verify bob: %d %s", code, body)
	}
	code, body := tn.req(t, "POST", "/v1/iocs", "application/json", strings.NewReader(`{"type":"domain","value":"evil.example","confidence":80}`))
	if code != 201 {
		t.Fatalf("drop: %d %s", code, body)
	}
	var x node.IOC
	json.Unmarshal([]byte(body), &x)

	errs := []struct {
		name, method, path, body string
		code                     int
		want                     string
	}{
		{"sighting of an unknown IOC", "POST", "/v1/iocs/0123456789abcdef/sightings", `{"verdict":"seen"}`, 404, "no IOC"},
		{"sighting with no verdict", "POST", "/v1/iocs/" + x.ID + "/sightings", `{}`, 400, "seen or false-positive"},
		{"sighting expiring", "POST", "/v1/iocs/" + x.ID + "/sightings", `{"verdict":"expired"}`, 400, "unknown sighting verdict"},
		{"rating oneself", "POST", "/v1/peers/" + tn.n.ID().String() + "/rating", `{"verdict":"good"}`, 400, "yourself"},
		{"rating an unknown name", "POST", "/v1/peers/nobody/rating", `{"verdict":"good"}`, 404, "no peer named"},
		{"rating with a bad verdict", "POST", "/v1/peers/bob/rating", `{"verdict":"great"}`, 400, "good or bad"},
		{"min_trust above 1", "GET", "/v1/iocs?min_trust=2", ``, 400, "0 to 1"},
		{"min_trust not a number", "GET", "/v1/iocs?min_trust=high", ``, 400, "0 to 1"},
	}
	for _, c := range errs {
		code, body := tn.req(t, c.method, c.path, "application/json", strings.NewReader(c.body))
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want %d containing %q", c.name, code, body, c.code, c.want)
		}
	}

	code, body = tn.req(t, "POST", "/v1/iocs/"+x.ID[:16]+"/sightings", "application/json", strings.NewReader(`{"verdict":"seen"}`))
	var s apitype.Sighting
	if code != 201 || json.Unmarshal([]byte(body), &s) != nil || s.Target != x.ID || s.Source != tn.n.ID().String() || s.Verdict != "seen" {
		t.Fatalf("sighting: %d %s", code, body)
	}
	code, body = tn.req(t, "POST", "/v1/peers/bob/rating", "application/json", strings.NewReader(`{"verdict":"good"}`))
	var r apitype.Rating
	if code != 201 || json.Unmarshal([]byte(body), &r) != nil || r.Subject != bob.ID().String() || r.Verdict != "good" {
		t.Fatalf("rating: %d %s", code, body)
	}

	code, body = tn.req(t, "GET", "/v1/trust?peer=bob", "", nil)
	var rep apitype.TrustReport
	if code != 200 || json.Unmarshal([]byte(body), &rep) != nil || len(rep.Scores) != 1 {
		t.Fatalf("trust of bob: %d %s", code, body)
	}
	if sc := rep.Scores[0]; sc.Name != "bob" || !sc.PreTrusted || len(sc.Vouchers) != 1 || sc.Vouchers[0].Peer != tn.n.ID().String() || sc.Vouchers[0].Good != 5 {
		t.Errorf("bob explained as %+v; want pre-trusted, vouched for by us with a rating's weight 5", sc)
	}
	code, body = tn.req(t, "GET", "/v1/trust", "", nil)
	if code != 200 || json.Unmarshal([]byte(body), &rep) != nil || len(rep.Scores) != 2 || rep.Iterations == 0 {
		t.Fatalf("trust: %d %s", code, body)
	}

	code, body = tn.req(t, "GET", "/v1/iocs?min_trust=1", "", nil)
	var xs []node.IOC
	if code != 200 || json.Unmarshal([]byte(body), &xs) != nil || len(xs) != 1 || xs[0].SourceTrust == nil || *xs[0].SourceTrust != 1 {
		t.Fatalf("list with min_trust=1: %d %s; want our own IOC, at trust 1", code, body)
	}
	code, body = tn.req(t, "GET", "/v1/iocs/export?format=stix", "", nil)
	if code != 200 || !strings.Contains(body, `"confidence":80`) {
		t.Fatalf("export: %d %s; want our stated confidence 80 (we trust ourselves fully)", code, body)
	}
}
