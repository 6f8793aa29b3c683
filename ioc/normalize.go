package ioc

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Normalize returns the canonical form of value as an indicator of type t,
// or an error wrapping ErrInvalid that says why the value is refused. It is
// deterministic and idempotent: Normalize(t, Normalize(t, v)) returns the
// same string. The rules per type are in docs/ioc.md §3; in short, values
// that some parser somewhere would read differently (octal or hex IPv4
// parts, short IPv4 forms, IPv4-mapped IPv6, CIDRs with host bits set,
// defanged or scheme-less URLs) are refused rather than guessed.
func Normalize(t Type, value string) (string, error) {
	v := strings.TrimSpace(value)
	if len(v) > MaxValue {
		return "", invalid(t, value, fmt.Sprintf("longer than %d bytes", MaxValue))
	}
	if v == "" {
		return "", invalid(t, value, "empty")
	}
	if !utf8.ValidString(v) {
		return "", invalid(t, value, "not UTF-8")
	}
	if strings.IndexFunc(v, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0 {
		return "", invalid(t, value, "contains white space or control characters")
	}
	var out, why string
	switch t {
	case TypeIPv4:
		out, why = normIPv4(v)
	case TypeIPv6:
		out, why = normIPv6(v)
	case TypeCIDR:
		out, why = normCIDR(v)
	case TypeDomain, TypeHostname:
		out, why = normDomain(v)
	case TypeURL:
		out, why = normURL(v)
	case TypeEmail:
		out, why = normEmail(v)
	case TypeMD5:
		out, why = normHex(v, 32)
	case TypeSHA1:
		out, why = normHex(v, 40)
	case TypeSHA256:
		out, why = normHex(v, 64)
	case TypeCVE:
		out, why = normCVE(v)
	default:
		return "", fmt.Errorf("%w: unknown type %d", ErrInvalid, t)
	}
	if why != "" {
		return "", invalid(t, value, why)
	}
	if len(out) > MaxValue {
		return "", invalid(t, value, fmt.Sprintf("longer than %d bytes once normalised", MaxValue))
	}
	return out, nil
}

func invalid(t Type, value, why string) error {
	if len(value) > 80 {
		value = value[:80] + "…"
	}
	return fmt.Errorf("%w: %s %q: %s", ErrInvalid, t, value, why)
}

// normIPv4 accepts only the dotted-quad form: four decimal parts, no
// leading zeros. inet_aton also reads "010.0.0.1" as octal, "0x7f.1" as hex
// and "127.1" as 127.0.0.1, so two tools would disagree about such values.
func normIPv4(s string) (string, string) {
	if strings.Contains(s, ":") {
		return "", "not an IPv4 address (IPv6 or IPv4-mapped form; use type ipv6, or the plain dotted IPv4)"
	}
	if strings.Contains(s, "/") {
		return "", "has a prefix length; use type cidr"
	}
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return "", fmt.Sprintf("%d parts, want 4 (short forms like 127.1 are ambiguous)", len(parts))
	}
	for _, p := range parts {
		switch {
		case p == "":
			return "", "empty part"
		case len(p) > 1 && (p[1] == 'x' || p[1] == 'X'):
			return "", fmt.Sprintf("hexadecimal part %q", p)
		case strings.Trim(p, "0123456789") != "":
			return "", fmt.Sprintf("part %q is not a decimal number", p)
		case len(p) > 1 && p[0] == '0':
			return "", fmt.Sprintf("leading zero in %q (read as octal by some parsers)", p)
		case len(p) > 3:
			return "", fmt.Sprintf("part %q over 255", p)
		}
		if n, _ := strconv.Atoi(p); n > 255 {
			return "", fmt.Sprintf("part %q over 255", p)
		}
	}
	return s, ""
}

// parseIP reads an address of either family the way normIPv4/normIPv6 would,
// returning the reason on failure.
func parseIP(s string) (netip.Addr, string) {
	if !strings.Contains(s, ":") {
		if _, why := normIPv4(s); why != "" {
			return netip.Addr{}, why
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Addr{}, "not an IP address"
		}
		return a, ""
	}
	if strings.Contains(s, "%") {
		return netip.Addr{}, "has a zone (%…), which only means something on one host"
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, "not an IPv6 address: " + strings.TrimPrefix(err.Error(), "ParseAddr")
	}
	if a.Is4In6() {
		return netip.Addr{}, fmt.Sprintf("IPv4-mapped IPv6 address; use type ipv4 with %s", a.Unmap())
	}
	// An embedded dotted quad with leading zeros is refused by netip, so
	// the octal question cannot arise here.
	return a, ""
}

// normIPv6 returns the RFC 5952 form (netip's String).
func normIPv6(s string) (string, string) {
	if !strings.Contains(s, ":") {
		return "", "not an IPv6 address (no colon; use type ipv4 for dotted quads)"
	}
	if strings.Contains(s, "/") {
		return "", "has a prefix length; use type cidr"
	}
	a, why := parseIP(s)
	if why != "" {
		return "", why
	}
	return a.String(), ""
}

// normCIDR refuses a prefix with host bits set ("10.1.2.3/8"): it could
// mean the network or the one host, and masking would silently turn one
// analyst's host into everybody's network.
func normCIDR(s string) (string, string) {
	addr, bits, ok := strings.Cut(s, "/")
	if !ok {
		return "", "no prefix length (/n); use type ipv4 or ipv6 for a single address"
	}
	a, why := parseIP(addr)
	if why != "" {
		return "", why
	}
	if bits == "" || strings.Trim(bits, "0123456789") != "" || len(bits) > 1 && bits[0] == '0' || len(bits) > 3 {
		return "", fmt.Sprintf("prefix length %q is not a decimal number without leading zeros", bits)
	}
	n, _ := strconv.Atoi(bits)
	if n > a.BitLen() {
		return "", fmt.Sprintf("prefix length %d over %d", n, a.BitLen())
	}
	p := netip.PrefixFrom(a, n)
	if p.Masked() != p {
		return "", fmt.Sprintf("host bits set; the network is %s", p.Masked())
	}
	return p.String(), ""
}

// idnaProfile maps Unicode names to their IDNA 2008 / UTS #46 lookup form
// (case folded, NFC, nontransitional, so "ß" stays "ß") and then punycode.
// STD3 rules are off because real hostnames carry underscores; normDomain
// checks the ASCII result itself.
var idnaProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.ValidateLabels(true),
	idna.StrictDomainName(false), idna.Transitional(false), idna.VerifyDNSLength(false))

// normDomain: lower case, one trailing dot removed, IDN labels to punycode,
// each label 1..63 of [a-z0-9_-] not starting or ending with "-", the
// whole ≤ 253 bytes, and the last label not numeric (so that no domain can
// be read as an IPv4 address, as "0x7f.1" is by browsers).
func normDomain(s string) (string, string) {
	if strings.ContainsAny(s, "[]()") {
		return "", "contains brackets (defanged? write the plain value)"
	}
	if strings.ContainsAny(s, "/:@") {
		return "", "contains / : or @; use type url, email or an IP type"
	}
	s = strings.TrimSuffix(s, ".")
	if s == "" || strings.HasPrefix(s, ".") || strings.Contains(s, "..") {
		return "", "empty label"
	}
	ascii, err := idnaProfile.ToASCII(s)
	if err != nil {
		return "", "not a valid internationalised name: " + strings.TrimPrefix(err.Error(), "idna: ")
	}
	ascii = strings.ToLower(ascii)
	if len(ascii) > 253 {
		return "", "longer than 253 bytes"
	}
	labels := strings.Split(ascii, ".")
	for _, l := range labels {
		switch {
		case l == "":
			return "", "empty label"
		case len(l) > 63:
			return "", fmt.Sprintf("label %q longer than 63 bytes", l)
		case strings.Trim(l, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "":
			return "", fmt.Sprintf("label %q has characters outside letters, digits, '-' and '_'", l)
		case l[0] == '-' || l[len(l)-1] == '-':
			return "", fmt.Sprintf("label %q starts or ends with '-'", l)
		}
	}
	last := labels[len(labels)-1]
	if strings.Trim(last, "0123456789") == "" || strings.HasPrefix(last, "0x") && strings.Trim(last[2:], "0123456789abcdef") == "" {
		return "", "last label is a number, so the name reads as an IPv4 address; use type ipv4 for addresses"
	}
	return ascii, ""
}

// defaultPorts lists the schemes whose default port is removed.
var defaultPorts = map[string]string{"http": "80", "https": "443", "ftp": "21", "ws": "80", "wss": "443"}

// normURL: scheme and host lower case, host normalised like a domain or IP
// (IPv6 in brackets), default port removed, an empty path for the schemes
// in defaultPorts written "/" (the same request); user info, path, query
// and fragment are kept byte for byte.
func normURL(s string) (string, string) {
	colon := strings.IndexByte(s, ':')
	if colon <= 0 {
		return "", "no scheme (write http://…)"
	}
	scheme := strings.ToLower(s[:colon])
	if !isScheme(scheme) {
		return "", fmt.Sprintf("scheme %q is not valid (defanged hxxp? write the plain value)", s[:colon])
	}
	if scheme == "hxxp" || scheme == "hxxps" {
		return "", "defanged scheme; write http or https"
	}
	rest := s[colon+1:]
	if !strings.HasPrefix(rest, "//") {
		return "", "no //authority after the scheme"
	}
	rest = rest[2:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	var userinfo string
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		userinfo, authority = authority[:at+1], authority[at+1:]
	}
	host, port := authority, ""
	if strings.HasPrefix(authority, "[") {
		rb := strings.IndexByte(authority, ']')
		if rb < 0 {
			return "", "unclosed [ in host"
		}
		host, port = authority[:rb+1], authority[rb+1:]
		if port != "" && port[0] != ':' {
			return "", "junk after ] in host"
		}
	} else if c := strings.LastIndexByte(authority, ':'); c >= 0 {
		host, port = authority[:c], authority[c:]
	}
	port = strings.TrimPrefix(port, ":")
	if port != "" {
		if strings.Trim(port, "0123456789") != "" || len(port) > 5 {
			return "", fmt.Sprintf("port %q is not a number", port)
		}
		n, _ := strconv.Atoi(port)
		if n == 0 || n > 65535 {
			return "", fmt.Sprintf("port %q outside 1..65535", port)
		}
		port = strconv.Itoa(n)
		if defaultPorts[scheme] == port {
			port = ""
		}
	}
	var nh, why string
	switch {
	case host == "":
		return "", "empty host"
	case strings.HasPrefix(host, "["):
		inner := host[1 : len(host)-1]
		nh, why = normIPv6(inner)
		nh = "[" + nh + "]"
	case isIPv4ish(host):
		nh, why = normIPv4(host)
	default:
		nh, why = normDomain(host)
	}
	if why != "" {
		return "", "host: " + why
	}
	if tail == "" && defaultPorts[scheme] != "" {
		tail = "/"
	}
	out := scheme + "://" + userinfo + nh
	if port != "" {
		out += ":" + port
	}
	return out + tail, ""
}

func isScheme(s string) bool {
	for i, c := range s {
		if c >= 'a' && c <= 'z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			continue
		}
		return false
	}
	return s != ""
}

// isIPv4ish: a host whose last label starts with a digit is treated as an
// IPv4 attempt, the way the WHATWG URL parser decides, so "0x7f.1" and
// "1.2.3" are refused as addresses instead of accepted as names.
func isIPv4ish(h string) bool {
	h = strings.TrimSuffix(h, ".")
	last := h[strings.LastIndexByte(h, '.')+1:]
	return last != "" && last[0] >= '0' && last[0] <= '9'
}

// normEmail: local@domain; the local part is ASCII dot-atom, lower-cased
// (every large mail provider treats it case-insensitively, and two analysts
// must get one ID), the domain as normDomain. Quoted local parts and
// address literals are refused.
func normEmail(s string) (string, string) {
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return "", "no @"
	}
	local, domain := s[:at], s[at+1:]
	switch {
	case local == "":
		return "", "empty local part"
	case len(local) > 64:
		return "", "local part longer than 64 bytes"
	case strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, ".."):
		return "", "empty dot-separated part in local part"
	case strings.ContainsAny(domain, "[]"):
		return "", "address literals are not supported"
	}
	for _, c := range local {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", c) {
			continue
		}
		return "", fmt.Sprintf("character %q in local part (quoted and non-ASCII local parts are not supported)", c)
	}
	d, why := normDomain(domain)
	if why != "" {
		return "", "domain: " + why
	}
	return strings.ToLower(local) + "@" + d, ""
}

func normHex(s string, n int) (string, string) {
	if len(s) != n {
		return "", fmt.Sprintf("%d characters, want %d hex digits", len(s), n)
	}
	s = strings.ToLower(s)
	if i := strings.IndexFunc(s, func(r rune) bool { return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') }); i >= 0 {
		return "", fmt.Sprintf("not hex at offset %d", i)
	}
	return s, ""
}

// normCVE: CVE-YYYY-NNNN… (CVE numbering rules): a year from 1999 and a
// sequence of at least four digits; a sequence longer than four digits
// has no leading zero, so each identifier has one spelling.
func normCVE(s string) (string, string) {
	u := strings.ToUpper(s)
	parts := strings.Split(u, "-")
	if len(parts) != 3 || parts[0] != "CVE" {
		return "", "not of the form CVE-YYYY-NNNN"
	}
	year, seq := parts[1], parts[2]
	if len(year) != 4 || strings.Trim(year, "0123456789") != "" || year < "1999" {
		return "", fmt.Sprintf("year %q is not four digits from 1999", year)
	}
	if len(seq) < 4 || len(seq) > 19 || strings.Trim(seq, "0123456789") != "" {
		return "", fmt.Sprintf("sequence %q is not 4 to 19 digits", seq)
	}
	if len(seq) > 4 && seq[0] == '0' {
		return "", fmt.Sprintf("sequence %q longer than four digits has a leading zero", seq)
	}
	return u, ""
}
