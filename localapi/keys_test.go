package localapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ghostwire/ghostwire/localapi/apitype"
)

// TestKeyRoutes: key list, rotate and revoke through the API
// (docs/api.md): a rotation retires the current subkey, a revocation
// shows with its reason, and the errors a user can make say what to do.
func TestKeyRoutes(t *testing.T) {
	tn := startTestNode(t, t.TempDir(), 1)
	list := func() apitype.KeyList {
		t.Helper()
		code, body := tn.req(t, "GET", "/v1/keys", "", nil)
		var kl apitype.KeyList
		if code != 200 || json.Unmarshal([]byte(body), &kl) != nil {
			t.Fatalf("key list: %d %s", code, body)
		}
		return kl
	}
	if kl := list(); kl.Identity != tn.n.ID().String() || len(kl.Subkeys) != 0 {
		t.Fatalf("a new node's key list %+v; want its identity and no subkey", kl)
	}
	var first, second apitype.Subkey
	for _, sk := range []*apitype.Subkey{&first, &second} {
		code, body := tn.req(t, "POST", "/v1/keys/rotate", "application/json", strings.NewReader(`{"purpose":"signing"}`))
		if code != 201 || json.Unmarshal([]byte(body), sk) != nil || sk.State != "current" || sk.Purpose != "signing" {
			t.Fatalf("rotate: %d %s", code, body)
		}
	}
	kl := list()
	if len(kl.Subkeys) != 2 || kl.Subkeys[0].Key != second.Key || kl.Subkeys[1].State != "past" || kl.Subkeys[1].Retired == nil {
		t.Fatalf("key list after two rotations: %+v", kl.Subkeys)
	}

	errs := []struct {
		name, method, path, body string
		code                     int
		want                     string
	}{
		{"rotate encryption without a key vault", "POST", "/v1/keys/rotate", `{"purpose":"encryption"}`, 400, "no vault for encryption subkeys"},
		{"rotate an unknown purpose", "POST", "/v1/keys/rotate", `{"purpose":"onion"}`, 400, "signing or encryption"},
		{"revoke an unknown subkey", "POST", "/v1/keys/00000000/revoke", `{"reason":"lost"}`, 400, "key list"},
		{"revoke with no reason", "POST", "/v1/keys/" + first.Key + "/revoke", `{}`, 400, "reason"},
		{"revoke with a two-line reason", "POST", "/v1/keys/" + first.Key + "/revoke", `{"reason":"a\nb"}`, 400, "one line"},
	}
	for _, c := range errs {
		code, body := tn.req(t, c.method, c.path, "application/json", strings.NewReader(c.body))
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want %d containing %q", c.name, code, body, c.code, c.want)
		}
	}

	code, body := tn.req(t, "POST", "/v1/keys/"+second.Key[:12]+"/revoke", "application/json", strings.NewReader(`{"reason":"laptop stolen"}`))
	var r apitype.Subkey
	if code != 200 || json.Unmarshal([]byte(body), &r) != nil || r.Key != second.Key || r.State != "revoked" || r.Reason != "laptop stolen" {
		t.Fatalf("revoke: %d %s", code, body)
	}
	if kl := list(); kl.Subkeys[0].State != "revoked" || kl.Subkeys[0].Reason != "laptop stolen" {
		t.Fatalf("key list after the revocation: %+v", kl.Subkeys)
	}
}
