package ioc

import (
	"errors"
	"strings"
	"testing"
)

// normCases: many spellings → one canonical form. want "" means refused,
// and why is a substring of the reason.
var normCases = []struct {
	t       Type
	in, out string
	why     string
}{
	{TypeIPv4, "1.2.3.4", "1.2.3.4", ""},
	{TypeIPv4, " 192.168.0.1\n", "192.168.0.1", ""},
	{TypeIPv4, "0.0.0.0", "0.0.0.0", ""},
	{TypeIPv4, "255.255.255.255", "255.255.255.255", ""},
	{TypeIPv4, "010.0.0.1", "", "leading zero"},
	{TypeIPv4, "0x7f.1", "", "4"},
	{TypeIPv4, "0x7f.0.0.1", "", "hexadecimal"},
	{TypeIPv4, "1.2.3", "", "3 parts"},
	{TypeIPv4, "127.1", "", "2 parts"},
	{TypeIPv4, "2130706433", "", "1 parts"},
	{TypeIPv4, "256.1.1.1", "", "over 255"},
	{TypeIPv4, "1.2.3.4.", "", "5 parts"},
	{TypeIPv4, "1..3.4", "", "empty part"},
	{TypeIPv4, "::ffff:1.2.3.4", "", "IPv4-mapped"},
	{TypeIPv4, "1.2.3.4/32", "", "cidr"},
	{TypeIPv4, "1.2.3.a", "", "not a decimal"},
	{TypeIPv4, "", "", "empty"},
	{TypeIPv4, "1.2. 3.4", "", "white space"},
	{TypeIPv6, "2001:DB8::1", "2001:db8::1", ""},
	{TypeIPv6, "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1", ""},
	{TypeIPv6, "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", ""},
	{TypeIPv6, "::", "::", ""},
	{TypeIPv6, "::ffff:1.2.3.4", "", "IPv4-mapped"},
	{TypeIPv6, "::ffff:7f00:1", "", "IPv4-mapped"},
	{TypeIPv6, "fe80::1%eth0", "", "zone"},
	{TypeIPv6, "1.2.3.4", "", "no colon"},
	{TypeIPv6, "2001:db8::g", "", "not an IPv6"},
	{TypeIPv6, "::1.2.3.04", "", "not an IPv6"},
	{TypeCIDR, "10.0.0.0/8", "10.0.0.0/8", ""},
	{TypeCIDR, "10.1.2.3/8", "", "host bits set; the network is 10.0.0.0/8"},
	{TypeCIDR, "1.2.3.4/32", "1.2.3.4/32", ""},
	{TypeCIDR, "2001:DB8::/32", "2001:db8::/32", ""},
	{TypeCIDR, "2001:db8::1/32", "", "host bits"},
	{TypeCIDR, "10.0.0.0/08", "", "leading zeros"},
	{TypeCIDR, "10.0.0.0/33", "", "over 32"},
	{TypeCIDR, "10.0.0.0", "", "no prefix length"},
	{TypeCIDR, "010.0.0.0/8", "", "leading zero"},
	{TypeCIDR, "::ffff:10.0.0.0/104", "", "IPv4-mapped"},
	{TypeDomain, "Example.COM", "example.com", ""},
	{TypeDomain, "example.com.", "example.com", ""},
	{TypeDomain, "Bücher.example", "xn--bcher-kva.example", ""},
	{TypeDomain, "XN--BCHER-KVA.example", "xn--bcher-kva.example", ""},
	{TypeDomain, "e\u0301.com", "xn--9ca.com", ""}, // decomposed é: NFC first
	{TypeDomain, "\u00e9.com", "xn--9ca.com", ""},
	{TypeDomain, "ｅｘａｍｐｌｅ.com", "example.com", ""}, // full-width folded
	{TypeDomain, "_dmarc.example.com", "_dmarc.example.com", ""},
	{TypeDomain, "example..com", "", "empty label"},
	{TypeDomain, ".example.com", "", "empty label"},
	{TypeDomain, "example.com..", "", "empty label"},
	{TypeDomain, "-bad.com", "", "invalid"},
	{TypeDomain, "xn--zz.com", "", "invalid"},
	{TypeDomain, "0x7f.1", "", "last label is a number"},
	{TypeDomain, "1.2.3.4", "", "last label is a number"},
	{TypeDomain, "a.0x1f", "", "last label is a number"},
	{TypeDomain, "evil[.]com", "", "defanged"},
	{TypeDomain, "a*b.com", "", "characters outside"},
	{TypeDomain, "http://a.com", "", "use type url"},
	{TypeDomain, strings.Repeat("a", 64) + ".com", "", "longer than 63"},
	{TypeHostname, "WWW.Example.com.", "www.example.com", ""},
	{TypeURL, "HTTP://Example.COM:80/a/B?q=C#F", "http://example.com/a/B?q=C#F", ""},
	{TypeURL, "https://example.com:443", "https://example.com/", ""},
	{TypeURL, "https://example.com:8443/x", "https://example.com:8443/x", ""},
	{TypeURL, "https://example.com:0443/x", "https://example.com/x", ""},
	{TypeURL, "http://example.com:/x", "http://example.com/x", ""},
	{TypeURL, "http://Bücher.example/ä?x=%41", "http://xn--bcher-kva.example/ä?x=%41", ""},
	{TypeURL, "http://[2001:DB8::1]:8080/", "http://[2001:db8::1]:8080/", ""},
	{TypeURL, "http://user:Pw@Example.com/", "http://user:Pw@example.com/", ""},
	{TypeURL, "ftp://files.example.com", "ftp://files.example.com/", ""},
	{TypeURL, "tcp://1.2.3.4:4444", "tcp://1.2.3.4:4444", ""},
	{TypeURL, "http://0x7f.1/", "", "host"},
	{TypeURL, "http://010.0.0.1/", "", "leading zero"},
	{TypeURL, "http://1.2.3/", "", "3 parts"},
	{TypeURL, "http://[::ffff:1.2.3.4]/", "", "IPv4-mapped"},
	{TypeURL, "hxxp://evil.com/", "", "defanged"},
	{TypeURL, "evil.com/path", "", "no scheme"},
	{TypeURL, "http:evil.com", "", "no //authority"},
	{TypeURL, "http:///path", "", "empty host"},
	{TypeURL, "http://a.com:99999/", "", "outside 1..65535"},
	{TypeURL, "http://a.com:x/", "", "not a number"},
	{TypeURL, "http://a..com/", "", "empty label"},
	{TypeURL, "http://a.com/a b", "", "white space"},
	{TypeEmail, "John.Doe@Example.COM", "john.doe@example.com", ""},
	{TypeEmail, "a+tag@Bücher.example.", "a+tag@xn--bcher-kva.example", ""},
	{TypeEmail, "no-at.example.com", "", "no @"},
	{TypeEmail, "@example.com", "", "empty local part"},
	{TypeEmail, "a..b@example.com", "", "empty dot-separated"},
	{TypeEmail, "\"q\"@example.com", "", "quoted"},
	{TypeEmail, "a@[1.2.3.4]", "", "address literals"},
	{TypeEmail, "a@1.2.3.4", "", "last label is a number"},
	{TypeMD5, "D41D8CD98F00B204E9800998ECF8427E", "d41d8cd98f00b204e9800998ecf8427e", ""},
	{TypeMD5, "d41d8cd98f00b204e9800998ecf8427", "", "31 characters"},
	{TypeMD5, "g41d8cd98f00b204e9800998ecf8427e", "", "not hex at offset 0"},
	{TypeSHA1, "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709", "da39a3ee5e6b4b0d3255bfef95601890afd80709", ""},
	{TypeSHA1, "d41d8cd98f00b204e9800998ecf8427e", "", "want 40"},
	{TypeSHA256, "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", ""},
	{TypeSHA256, "0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8", "", "not hex"},
	{TypeCVE, "cve-2021-44228", "CVE-2021-44228", ""},
	{TypeCVE, "CVE-2014-0160", "CVE-2014-0160", ""},
	{TypeCVE, "CVE-2021-0001", "CVE-2021-0001", ""},
	{TypeCVE, "CVE-2021-123", "", "4 to 19 digits"},
	{TypeCVE, "CVE-2021-012345", "", "leading zero"},
	{TypeCVE, "CVE-21-1234", "", "year"},
	{TypeCVE, "CVE-1998-1234", "", "year"},
	{TypeCVE, "CAN-2021-1234", "", "form"},
	{Type(0), "x", "", "unknown type"},
}

func TestNormalize(t *testing.T) {
	for _, c := range normCases {
		t.Run(c.t.String()+"/"+c.in, func(t *testing.T) {
			got, err := Normalize(c.t, c.in)
			if c.out == "" {
				if err == nil {
					t.Fatalf("accepted as %q, want refusal containing %q", got, c.why)
				}
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.why) {
					t.Fatalf("error %q, want ErrInvalid containing %q", err, c.why)
				}
				return
			}
			if err != nil || got != c.out {
				t.Fatalf("got %q, %v; want %q", got, err, c.out)
			}
			again, err := Normalize(c.t, got)
			if err != nil || again != got {
				t.Fatalf("not idempotent: %q → %q, %v", got, again, err)
			}
		})
	}
}

// TestSpellingsShareContentID: the point of normalisation.
func TestSpellingsShareContentID(t *testing.T) {
	groups := []struct {
		t  Type
		in []string
	}{
		{TypeDomain, []string{"bücher.example", "BÜCHER.example.", "xn--bcher-kva.EXAMPLE", "bu\u0308cher.example"}},
		{TypeIPv6, []string{"2001:db8::1", "2001:0DB8:0:0::1", "2001:db8:0:0:0:0:0:1"}},
		{TypeURL, []string{"http://a.example", "HTTP://A.example:80/", "http://a.example./"}},
	}
	for _, g := range groups {
		var first ContentID
		for i, s := range g.in {
			r, err := NewRecord(g.t, s, TLPClear)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = r.ContentID()
			} else if r.ContentID() != first {
				t.Errorf("%q has a different content ID from %q", s, g.in[0])
			}
		}
	}
	// The type is part of the ID.
	a, _ := NewRecord(TypeDomain, "a.example", TLPClear)
	b, _ := NewRecord(TypeHostname, "a.example", TLPClear)
	if a.ContentID() == b.ContentID() {
		t.Error("domain and hostname share a content ID")
	}
}

func fuzzNormalize(f *testing.F, t Type) {
	for _, c := range normCases {
		if c.t == t {
			f.Add(c.in)
		}
	}
	f.Fuzz(func(tt *testing.T, s string) {
		out, err := Normalize(t, s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				tt.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		again, err := Normalize(t, out)
		if err != nil || again != out {
			tt.Fatalf("not idempotent: %q → %q → %q, %v", s, out, again, err)
		}
		if len(out) > MaxValue {
			tt.Fatalf("output over MaxValue")
		}
	})
}

func FuzzNormalizeIPv4(f *testing.F)   { fuzzNormalize(f, TypeIPv4) }
func FuzzNormalizeIPv6(f *testing.F)   { fuzzNormalize(f, TypeIPv6) }
func FuzzNormalizeCIDR(f *testing.F)   { fuzzNormalize(f, TypeCIDR) }
func FuzzNormalizeDomain(f *testing.F) { fuzzNormalize(f, TypeDomain) }
func FuzzNormalizeURL(f *testing.F)    { fuzzNormalize(f, TypeURL) }
func FuzzNormalizeEmail(f *testing.F)  { fuzzNormalize(f, TypeEmail) }
func FuzzNormalizeHash(f *testing.F)   { fuzzNormalize(f, TypeSHA256) }
func FuzzNormalizeCVE(f *testing.F)    { fuzzNormalize(f, TypeCVE) }
