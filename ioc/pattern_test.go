package ioc

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestPatternValues(t *testing.T) {
	cases := []struct {
		pattern string
		want    string // "type=value,…", or "error: substring"
		lost    int
	}{
		{"[ipv4-addr:value = '1.2.3.4']", "ipv4=1.2.3.4", 0},
		{"[ipv4-addr:value ISSUBSET '10.0.0.0/8']", "cidr=10.0.0.0/8", 0},
		{"[ipv4-addr:value = '10.0.0.0/8']", "cidr=10.0.0.0/8", 0},
		{"[ipv6-addr:value = '2001:db8::1']", "ipv6=2001:db8::1", 0},
		{"[ipv4-addr:value = '2001:db8::1']", "error: address family", 0},
		{"[domain-name:value = 'a.example'] OR [url:value = 'http://b.example/']", "domain=a.example,url=http://b.example/", 0},
		{"[url:value = 'http://a.example/x' OR url:value = 'http://a.example/it\\'s']", "url=http://a.example/x,url=http://a.example/it's", 0},
		{"[file:hashes.'SHA-256' = 'aa' AND file:hashes.MD5 = 'bb' AND file:name = 'x.exe']", "sha256=aa,md5=bb", 2},
		{"[file:hashes.sha1 = 'cc']", "sha1=cc", 0},
		{"[file:hashes.'SHA-512' = 'cc']", "error: nothing representable", 0},
		{"[email-message:from_ref.value = 'a@b.example' AND email-message:to_refs[*].value = 'c@d.example']", "email=a@b.example,email=c@d.example", 1},
		{"[email-addr:value = 'x@y.example']", "email=x@y.example", 0},
		{"[network-traffic:src_ref.type = 'ipv4-addr' AND network-traffic:src_ref.value = '1.2.3.4']", "ipv4=1.2.3.4", 0},
		{"[network-traffic:dst_ref.type = 'ipv6-addr' AND network-traffic:dst_ref.value = '2001:db8::1' AND network-traffic:dst_port = '443']", "ipv6=2001:db8::1", 1},
		{"[network-traffic:dst_ref.value = 'evil.example']", "error: nothing representable", 0},
		{"[domain-name:value = 'a.example' AND domain-name:resolves_to_refs[*].value = '10.0.0.0/8']", "domain=a.example,cidr=10.0.0.0/8", 1},
		{"[email-message:additional_header_fields.reply_to = 'r@y.example']", "email=r@y.example", 0},
		{"([ipv4-addr:value = '1.1.1.1'] OR ([ipv4-addr:value = '2.2.2.2']))", "ipv4=1.1.1.1,ipv4=2.2.2.2", 0},
		{"[ipv4-addr:value = '1.1.1.1' OR file:name = 'a']", "ipv4=1.1.1.1", 1},
		{"[ipv4-addr:value = '1.1.1.1'] AND [ipv4-addr:value = '2.2.2.2']", "error: joined by AND", 0},
		{"[ipv4-addr:value = '1.1.1.1'] FOLLOWEDBY [ipv4-addr:value = '2.2.2.2']", "error: FOLLOWEDBY", 0},
		{"[ipv4-addr:value = '1.1.1.1'] WITHIN 300 SECONDS", "error: qualifiers", 0},
		{"[ipv4-addr:value = '1.1.1.1'] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'", "error: qualifiers", 0},
		{"[ipv4-addr:value NOT = '1.1.1.1']", "error: nothing representable", 0},
		{"[ipv4-addr:value != '1.1.1.1']", "error: nothing representable", 0},
		{"[url:value MATCHES '^http']", "error: nothing representable", 0},
		{"[file:size IN (1, 2, 3)]", "error: nothing representable", 0},
		{"[EXISTS file:name]", "error: nothing representable", 0},
		{"[ipv4-addr:value = '1.1.1.1'", "error: missing ]", 0},
		{"[ipv4-addr:value = '1.1.1.1]", "error: unterminated", 0},
		{"[ipv4-addr:value = '1.1.1.1'] junk", "error: unexpected", 0},
		{"[a:b:c = 'x']", "error: unexpected ':'", 0},
		{"[ipv4-addr:value = 'a\\x']", "error: bad escape", 0},
		{"", "error: expected [", 0},
		{strings.Repeat("(", 100) + "[ipv4-addr:value = '1.1.1.1']" + strings.Repeat(")", 100), "error: nested deeper", 0},
	}
	for _, c := range cases {
		vals, lost, err := patternValues(c.pattern, false)
		var got string
		if err != nil {
			got = "error: " + err.Error()
		} else {
			var parts []string
			for _, v := range vals {
				parts = append(parts, v.t.String()+"="+v.value)
			}
			got = strings.Join(parts, ",")
		}
		if strings.HasPrefix(c.want, "error: ") {
			if err == nil || !strings.Contains(got, strings.TrimPrefix(c.want, "error: ")) {
				t.Errorf("%s: got %q, want %q", c.pattern, got, c.want)
			}
			continue
		}
		if got != c.want || len(lost) != c.lost {
			t.Errorf("%s: got %q lost %q, want %q with %d lost", c.pattern, got, lost, c.want, c.lost)
		}
	}
}

// TestExportedPatternsParse: every pattern export writes reads back as the
// same indicator.
func TestExportedPatternsParse(t *testing.T) {
	for _, r := range sampleRecords(t) {
		if r.Type == TypeCVE {
			continue
		}
		p := patternFor(r.Type, r.Value)
		vals, lost, err := patternValues(p, r.Type == TypeHostname)
		if err != nil || len(lost) != 0 || len(vals) != 1 || vals[0].t != r.Type || vals[0].value != r.Value {
			t.Errorf("%s: %v %v %v", p, vals, lost, err)
		}
	}
}

func FuzzPattern(f *testing.F) {
	f.Add("[ipv4-addr:value = '1.2.3.4']")
	f.Add("[file:hashes.'SHA-256' = 'aa' AND file:name = 'x'] OR [url:value = 'http://a/\\'']")
	f.Add("[a:b = 1] WITHIN 5 SECONDS FOLLOWEDBY ([c:d[*].e IN ('x', 2)] REPEATS 2 TIMES)")
	if b, err := os.ReadFile(fixturePath(f, "stix/cti-stix-elevator/idioms-json-2.1/issue-271.json")); err == nil {
		for _, s := range strings.Split(string(b), `"pattern": "`)[1:] {
			if i := strings.Index(s, `",`); i > 0 {
				f.Add(strings.ReplaceAll(s[:i], `\\`, `\`))
			}
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		vals, _, err := patternValues(s, false)
		if err == nil && len(vals) == 0 {
			t.Fatal("no values and no error")
		}
		if len(vals) > maxComparisons {
			t.Fatal("more values than comparisons allowed")
		}
		_ = fmt.Sprint(vals)
	})
}
