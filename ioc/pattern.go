package ioc

import (
	"errors"
	"fmt"
	"strings"
)

// This file reads the part of the STIX 2.1 patterning language (STIX 2.1
// §9) that indicators of our types use, and writes patterns for export. The
// parser knows the whole grammar so that it can say precisely which part of
// a pattern it cannot represent; it never guesses.

// Limits on a pattern, so hostile input costs bounded time and memory.
const (
	maxPatternBytes = 4 << 20
	maxPatternDepth = 64
	maxComparisons  = 1 << 16
)

var errPattern = errors.New("ioc: STIX pattern")

// pnode is a node of a parsed pattern: an operator over children, an
// observation ([...]) over its comparison expression, or a comparison.
type pnode struct {
	op        string // "OR", "AND", "FOLLOWEDBY", "[]", "cmp"
	kids      []*pnode
	qualified bool // an observation carries WITHIN, REPEATS or START/STOP
	cmp       comparison
}

type comparison struct {
	path  string // "file:hashes.SHA-256"
	not   bool
	op    string // "=", "ISSUBSET", "MATCHES", ...
	value string
	str   bool // value was a plain string literal
	text  string
}

type pparser struct {
	toks  []ptok
	pos   int
	depth int
	ncmp  int
}

// parsePattern parses a STIX 2.1 pattern into its tree.
func parsePattern(s string) (*pnode, error) {
	if len(s) > maxPatternBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", errPattern, maxPatternBytes)
	}
	toks, err := lexPattern(s)
	if err != nil {
		return nil, err
	}
	p := &pparser{toks: toks}
	n, err := p.obsExpr()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tEOF {
		return nil, fmt.Errorf("%w: unexpected %q after the pattern", errPattern, p.peek().text)
	}
	return n, nil
}

func (p *pparser) peek() ptok { return p.toks[p.pos] }
func (p *pparser) next() ptok {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}
func (p *pparser) isWord(w string) bool {
	t := p.peek()
	return t.kind == tWord && strings.EqualFold(t.text, w)
}

func (p *pparser) enter() error {
	p.depth++
	if p.depth > maxPatternDepth {
		return fmt.Errorf("%w: nested deeper than %d", errPattern, maxPatternDepth)
	}
	return nil
}

// binary parses sub { op sub } for the operators in ops, lowest first.
func (p *pparser) binary(ops []string, leaf func() (*pnode, error)) (*pnode, error) {
	if len(ops) == 0 {
		return leaf()
	}
	sub := func() (*pnode, error) { return p.binary(ops[1:], leaf) }
	n, err := sub()
	if err != nil {
		return nil, err
	}
	if !p.isWord(ops[0]) {
		return n, nil
	}
	out := &pnode{op: ops[0], kids: []*pnode{n}}
	for p.isWord(ops[0]) {
		p.next()
		k, err := sub()
		if err != nil {
			return nil, err
		}
		out.kids = append(out.kids, k)
	}
	return out, nil
}

func (p *pparser) obsExpr() (*pnode, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	return p.binary([]string{"OR", "AND", "FOLLOWEDBY"}, p.obsUnit)
}

func (p *pparser) obsUnit() (*pnode, error) {
	var n *pnode
	switch t := p.next(); t.kind {
	case tLBrack:
		c, err := p.cmpExpr()
		if err != nil {
			return nil, err
		}
		if p.next().kind != tRBrack {
			return nil, fmt.Errorf("%w: missing ]", errPattern)
		}
		n = &pnode{op: "[]", kids: []*pnode{c}}
	case tLParen:
		inner, err := p.obsExpr()
		if err != nil {
			return nil, err
		}
		if p.next().kind != tRParen {
			return nil, fmt.Errorf("%w: missing )", errPattern)
		}
		n = inner
	default:
		return nil, fmt.Errorf("%w: expected [ or (, got %q", errPattern, t.text)
	}
	for {
		switch {
		case p.isWord("WITHIN"):
			p.next()
			if p.next().kind != tWord || !p.isWord("SECONDS") {
				return nil, fmt.Errorf("%w: WITHIN needs <n> SECONDS", errPattern)
			}
			p.next()
		case p.isWord("REPEATS"):
			p.next()
			if p.next().kind != tWord || !p.isWord("TIMES") {
				return nil, fmt.Errorf("%w: REPEATS needs <n> TIMES", errPattern)
			}
			p.next()
		case p.isWord("START"):
			p.next()
			if p.next().kind != tTyped || !p.isWord("STOP") {
				return nil, fmt.Errorf("%w: START needs t'…' STOP t'…'", errPattern)
			}
			p.next()
			if p.next().kind != tTyped {
				return nil, fmt.Errorf("%w: STOP needs t'…'", errPattern)
			}
		default:
			return n, nil
		}
		n = &pnode{op: n.op, kids: n.kids, qualified: true, cmp: n.cmp}
	}
}

func (p *pparser) cmpExpr() (*pnode, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	return p.binary([]string{"OR", "AND"}, p.cmpUnit)
}

var cmpOps = map[string]bool{"=": true, "!=": true, "<": true, ">": true, "<=": true, ">=": true,
	"IN": true, "LIKE": true, "MATCHES": true, "ISSUBSET": true, "ISSUPERSET": true}

func (p *pparser) cmpUnit() (*pnode, error) {
	start := p.pos
	if p.peek().kind == tLParen {
		p.next()
		n, err := p.cmpExpr()
		if err != nil {
			return nil, err
		}
		if p.next().kind != tRParen {
			return nil, fmt.Errorf("%w: missing )", errPattern)
		}
		return n, nil
	}
	p.ncmp++
	if p.ncmp > maxComparisons {
		return nil, fmt.Errorf("%w: more than %d comparisons", errPattern, maxComparisons)
	}
	var c comparison
	if p.isWord("EXISTS") {
		p.next()
		t := p.next()
		if t.kind != tPath {
			return nil, fmt.Errorf("%w: EXISTS needs an object path", errPattern)
		}
		c.path, c.op = t.text, "EXISTS"
		c.text = "EXISTS " + t.text
		return &pnode{op: "cmp", cmp: c}, nil
	}
	t := p.next()
	if t.kind != tPath {
		return nil, fmt.Errorf("%w: expected an object path, got %q", errPattern, t.text)
	}
	c.path = t.text
	if p.isWord("NOT") {
		p.next()
		c.not = true
	}
	op := p.next()
	c.op = strings.ToUpper(op.text)
	if !(op.kind == tOp || op.kind == tWord) || !cmpOps[c.op] {
		return nil, fmt.Errorf("%w: unknown comparison operator %q", errPattern, op.text)
	}
	v := p.next()
	switch v.kind {
	case tString:
		c.value, c.str = v.text, true
	case tTyped, tWord:
		c.value = v.text
	case tLParen: // IN ( v, v, … )
		for {
			e := p.next()
			if e.kind != tString && e.kind != tWord && e.kind != tTyped {
				return nil, fmt.Errorf("%w: bad set member %q", errPattern, e.text)
			}
			if s := p.next(); s.kind == tRParen {
				break
			} else if s.kind != tComma {
				return nil, fmt.Errorf("%w: expected , or ) in set", errPattern)
			}
		}
		c.value = "(…)"
	default:
		return nil, fmt.Errorf("%w: expected a value after %s", errPattern, c.op)
	}
	var txt []string
	for _, tk := range p.toks[start:p.pos] {
		if tk.kind == tString {
			txt = append(txt, "'"+tk.text+"'")
		} else {
			txt = append(txt, tk.text)
		}
	}
	c.text = strings.Join(txt, " ")
	return &pnode{op: "cmp", cmp: c}, nil
}

// typedValue is one indicator read from a pattern, before normalisation.
type typedValue struct {
	t     Type
	value string
}

// patternValues turns a parsed pattern into indicators. Each comparison
// joined by OR is an indicator of its own (the pattern matches when any of
// them does). Values joined by AND are also split into separate
// indicators, which match more than the pattern did; that and every
// comparison that cannot be represented is listed in lost. It fails when
// nothing can be represented or the pattern's shape (observation AND,
// FOLLOWEDBY, qualifiers) cannot be.
func patternValues(pattern string, hostname bool) (vals []typedValue, lost []string, err error) {
	root, err := parsePattern(pattern)
	if err != nil {
		return nil, nil, err
	}
	var obs []*pnode
	var walkObs func(n *pnode) error
	walkObs = func(n *pnode) error {
		switch {
		case n.qualified:
			return fmt.Errorf("%w: qualifiers (WITHIN, REPEATS, START/STOP) cannot be represented", errPattern)
		case n.op == "OR":
			for _, k := range n.kids {
				if err := walkObs(k); err != nil {
					return err
				}
			}
		case n.op == "[]":
			obs = append(obs, n.kids[0])
		default:
			return fmt.Errorf("%w: observations joined by %s cannot be represented", errPattern, n.op)
		}
		return nil
	}
	if err := walkObs(root); err != nil {
		return nil, nil, err
	}
	// Every comparison of an observation is read, however its ANDs and
	// ORs nest: "[(file:hashes.MD5 = … OR file:hashes.'SHA-1' = …) AND
	// file:name = …]" gives each hash, and the file name is reported.
	var walk func(n *pnode) int
	walk = func(n *pnode) int {
		switch n.op {
		case "cmp":
			if impliedComparison(n.cmp) {
				return 0
			}
			tv, why := comparisonValue(n.cmp, hostname)
			if why != "" {
				lost = append(lost, n.cmp.text+": "+why)
				return 0
			}
			vals = append(vals, tv)
			return 1
		case "AND":
			total, joined := 0, 0
			for _, k := range n.kids {
				c := walk(k)
				total += c
				if c > 0 {
					joined++
				}
			}
			if joined > 1 {
				lost = append(lost, fmt.Sprintf("AND of %d values split into separate indicators", total))
			}
			return total
		}
		total := 0
		for _, k := range n.kids {
			total += walk(k)
		}
		return total
	}
	for _, o := range obs {
		walk(o)
	}
	if len(vals) == 0 {
		return nil, lost, fmt.Errorf("%w: nothing representable: %s", errPattern, strings.Join(firstN(lost, 3), "; "))
	}
	return vals, lost, nil
}

func firstN(ss []string, n int) []string {
	if len(ss) > n {
		return append(ss[:n:n], fmt.Sprintf("and %d more", len(ss)-n))
	}
	return ss
}

// impliedComparison reports a comparison that only restates the type of a
// reference whose value another comparison gives, as misp-stix writes
// "network-traffic:src_ref.type = 'ipv4-addr' AND
// network-traffic:src_ref.value = '1.2.3.4'": nothing is lost by reading
// the value alone.
func impliedComparison(c comparison) bool {
	obj, prop, _ := strings.Cut(c.path, ":")
	return obj == "network-traffic" && (prop == "src_ref.type" || prop == "dst_ref.type") && c.op == "=" && !c.not &&
		(c.value == "ipv4-addr" || c.value == "ipv6-addr" || c.value == "domain-name")
}

// comparisonValue maps one comparison to an indicator, or says why not.
func comparisonValue(c comparison, hostname bool) (typedValue, string) {
	obj, prop, _ := strings.Cut(c.path, ":")
	if c.not {
		return typedValue{}, "negated comparisons cannot be represented"
	}
	if !c.str {
		return typedValue{}, "value is not a string"
	}
	var t Type
	switch {
	case obj == "network-traffic" && (prop == "src_ref.value" || prop == "dst_ref.value"),
		obj == "domain-name" && strings.HasPrefix(prop, "resolves_to_refs[") && strings.HasSuffix(prop, "].value"):
		// An address the traffic came from or went to, or a name resolved
		// to: the value says its family (a domain name is refused here).
		if c.op != "=" {
			return typedValue{}, "operator " + c.op + " not represented"
		}
		if _, why := parseIP(strings.Split(c.value, "/")[0]); why != "" {
			return typedValue{}, "not an IP address"
		}
		return typedValue{ipType(c.value), c.value}, ""
	}
	switch obj {
	case "ipv4-addr", "ipv6-addr":
		if prop != "value" {
			return typedValue{}, "property not represented"
		}
		switch {
		case c.op == "ISSUBSET" || c.op == "=" && strings.Contains(c.value, "/"):
			t = TypeCIDR
		case c.op != "=":
			return typedValue{}, "operator " + c.op + " not represented"
		case obj == "ipv4-addr":
			t = TypeIPv4
		default:
			t = TypeIPv6
		}
		if strings.Contains(c.value, ":") != (obj == "ipv6-addr") {
			return typedValue{}, "address family does not match " + obj
		}
		return typedValue{t, c.value}, ""
	}
	if c.op != "=" {
		return typedValue{}, "operator " + c.op + " not represented"
	}
	switch {
	case c.path == "domain-name:value":
		t = TypeDomain
		if hostname {
			t = TypeHostname
		}
	case c.path == "url:value":
		t = TypeURL
	case c.path == "email-addr:value", c.path == "email-message:from_ref.value", c.path == "email-message:sender_ref.value",
		c.path == "email-message:additional_header_fields.reply_to":
		t = TypeEmail
	case obj == "email-message" && isRefsValue(prop):
		t = TypeEmail
	case obj == "file" && strings.HasPrefix(prop, "hashes."):
		// Any case and quoting: hashes.MD5, hashes.'SHA-1', hashes."sha_256".
		switch strings.NewReplacer("-", "", "_", "", "'", "", `"`, "").Replace(strings.ToUpper(prop[len("hashes."):])) {
		case "MD5":
			t = TypeMD5
		case "SHA1":
			t = TypeSHA1
		case "SHA256":
			t = TypeSHA256
		default:
			return typedValue{}, "hash algorithm not represented"
		}
	default:
		return typedValue{}, "object path not represented"
	}
	return typedValue{t, c.value}, ""
}

// isRefsValue matches to_refs[*].value, cc_refs[0].value, bcc_refs[…].value.
func isRefsValue(prop string) bool {
	for _, f := range []string{"to_refs[", "cc_refs[", "bcc_refs["} {
		if rest, ok := strings.CutPrefix(prop, f); ok {
			i := strings.IndexByte(rest, ']')
			return i >= 0 && rest[i+1:] == ".value"
		}
	}
	return false
}

// patternFor returns the STIX pattern export writes for a record (not for
// CVEs, which become vulnerability objects).
func patternFor(t Type, v string) string {
	q := "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
	switch t {
	case TypeIPv4:
		return "[ipv4-addr:value = " + q + "]"
	case TypeIPv6:
		return "[ipv6-addr:value = " + q + "]"
	case TypeCIDR:
		if strings.Contains(v, ":") {
			return "[ipv6-addr:value ISSUBSET " + q + "]"
		}
		return "[ipv4-addr:value ISSUBSET " + q + "]"
	case TypeDomain, TypeHostname:
		return "[domain-name:value = " + q + "]"
	case TypeURL:
		return "[url:value = " + q + "]"
	case TypeEmail:
		return "[email-addr:value = " + q + "]"
	case TypeMD5:
		return "[file:hashes.MD5 = " + q + "]"
	case TypeSHA1:
		return "[file:hashes.'SHA-1' = " + q + "]"
	case TypeSHA256:
		return "[file:hashes.'SHA-256' = " + q + "]"
	}
	panic("bug: no STIX pattern for " + t.String())
}
