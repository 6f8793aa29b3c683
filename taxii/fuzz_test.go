package taxii

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// FuzzObjectsQuery: any query string is parsed or refused, never a panic;
// what is accepted is within the bounds (limit 1..MaxPage, at most
// maxMatch values per filter, next in the cursor's shape).
func FuzzObjectsQuery(f *testing.F) {
	for _, s := range []string{"", "limit=5", "limit=1000000000000", "added_after=2026-01-01T00:00:00.123456Z&limit=7",
		"match[id]=indicator--00000000-0000-4000-8000-000000000001,indicator--x", "match[type]=indicator,vulnerability",
		"match[version]=all", "match[version]=2026-01-01T00:00:00Z", "match[spec_version]=2.0,2.1",
		"next=1700000000000000." + strings.Repeat("ab", 32), "next=-1.zz", "limit=5&limit=6", "bogus=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := url.ParseQuery(s)
		if err != nil {
			return
		}
		q, err := parseObjectsQuery(v)
		if err != nil {
			return
		}
		if q.limit < 1 || q.limit > MaxPage || len(q.ids) > maxMatch || len(q.types) > maxMatch || len(q.versions) > maxMatch {
			t.Fatalf("accepted out of bounds: %+v", q)
		}
		if q.next != "" && !nextPattern.MatchString(q.next) {
			t.Fatalf("accepted next %q", q.next)
		}
	})
}

// FuzzAuthorization: any Authorization header is read or refused; what is
// read carries a well-formed token, and a Basic name that passes checkName.
func FuzzAuthorization(f *testing.F) {
	tok := tokenPrefix + strings.Repeat("A", 43)
	for _, s := range []string{"", "Bearer " + tok, "bearer  " + tok, "Basic b3BlbmN0aTp4", "Basic !!!", "Digest x", "Bearer " + tok + "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		name, secret, ok := parseAuthorization(h)
		if !ok {
			return
		}
		if !wellFormed(secret) || (name != "" && checkName(name) != nil) {
			t.Fatalf("accepted %q as name %q secret %q", h, name, secret)
		}
	})
}

// FuzzTokenFile: any token file is decoded strictly or refused.
func FuzzTokenFile(f *testing.F) {
	f.Add([]byte(`[{"name":"a","sha256":"` + strings.Repeat("0", 64) + `","made":"2026-01-01T00:00:00Z"}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"name":"a b","sha256":"00"}]`))
	f.Add([]byte(`{"x":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		list, err := decodeTokens(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, tk := range list {
			if checkName(tk.Name) != nil || len(tk.SHA256) != 64 {
				t.Fatalf("accepted %+v", tk)
			}
		}
	})
}

// FuzzAccept: any Accept header is judged without a panic, and one that
// takes TAXII 2.1 names its media type.
func FuzzAccept(f *testing.F) {
	for _, s := range []string{"", "application/taxii+json;version=2.1", "application/json, application/taxii+json", "*/*", "application/taxii+json;version=2.0", "application/taxii+json;version"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if acceptsTAXII(h) && !strings.Contains(strings.ToLower(h), "taxii+json") {
			t.Fatalf("accepted %q", h)
		}
	})
}

// FuzzEnvelope: any POSTed body is read as an envelope with objects or
// refused with a TAXII error, never a panic; what is accepted has at
// least one object, each a JSON value, and a head per object.
func FuzzEnvelope(f *testing.F) {
	for _, s := range []string{`{"objects":[{"type":"indicator","id":"indicator--1","modified":"2026-01-01T00:00:00Z"}]}`,
		`{"objects":[]}`, `{"objects":[1,"x",null]}`, `[]`, `null`, `{"objects":[{}]} {}`, `{"objects":[{"id":5}]}`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		objs, heads, err := decodeEnvelope(bytes.NewReader(b))
		if err != nil {
			if err.status != 400 && err.status != 413 {
				t.Fatalf("refused with %d", err.status)
			}
			return
		}
		if len(objs) == 0 || len(heads) != len(objs) {
			t.Fatalf("accepted %d objects with %d heads", len(objs), len(heads))
		}
		for _, o := range objs {
			if !json.Valid(o) {
				t.Fatalf("accepted an object that is not JSON: %q", o)
			}
		}
	})
}
