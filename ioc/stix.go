package ioc

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// STIX 2.1 marking-definition ids (docs/ioc.md §4.3). The TLP 2.0 ids are
// fixed by the OASIS TLP 2.0 extension; the TLP 1.0 ids are predefined in
// STIX 2.1 §7.2.1.4.
const (
	tlp2Extension = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
	tlp2Creator   = "identity--b3bca3c2-1f3d-4b54-b44f-dac42c3a8f01"
)

var tlp2IDs = map[TLP]string{
	TLPClear:       "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
	TLPGreen:       "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
	TLPAmber:       "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
	TLPAmberStrict: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
	TLPRed:         "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}

// knownMarkings maps every fixed TLP marking id, 2.0 and 1.0, to its TLP
// 2.0 level (TLP 1.0 WHITE is CLEAR).
var knownMarkings = map[string]TLP{
	"marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": TLPClear, // TLP 1.0 WHITE
	"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": TLPGreen, // TLP 1.0 GREEN
	"marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": TLPAmber, // TLP 1.0 AMBER
	"marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": TLPRed,   // TLP 1.0 RED
}

func init() {
	for m, id := range tlp2IDs {
		knownMarkings[id] = m
	}
}

// stixObject holds the properties of a STIX object that import reads; the
// rest of each object is parsed by encoding/json and dropped.
type stixObject struct {
	Type             string       `json:"type"`
	ID               string       `json:"id"`
	SpecVersion      string       `json:"spec_version"`
	Name             string       `json:"name"`
	Description      string       `json:"description"`
	Pattern          *string      `json:"pattern"`
	PatternType      string       `json:"pattern_type"`
	ValidFrom        string       `json:"valid_from"`
	ValidUntil       string       `json:"valid_until"`
	Labels           []string     `json:"labels"`
	Confidence       *json.Number `json:"confidence"`
	MarkingRefs      []string     `json:"object_marking_refs"`
	GranularMarkings []struct {
		MarkingRef string `json:"marking_ref"`
	} `json:"granular_markings"`
	ExternalRefs []struct {
		SourceName string `json:"source_name"`
		URL        string `json:"url"`
		ExternalID string `json:"external_id"`
	} `json:"external_references"`
	// marking-definition
	DefinitionType string                     `json:"definition_type"`
	Definition     map[string]json.RawMessage `json:"definition"`
	Extensions     map[string]json.RawMessage `json:"extensions"`
	// custom properties written by ExportSTIX on vulnerability objects
	XValidFrom  string `json:"x_ghostwire_valid_from"`
	XValidUntil string `json:"x_ghostwire_valid_until"`
}

// marking is what a marking-definition in the bundle says.
type marking struct {
	tlp       TLP    // zero if not a TLP marking
	statement string // a statement marking's text
	unknown   string // why it is neither
}

type stixBundle struct {
	typ, spec string
	markings  map[string]marking
	// failed and stated name the last object given a failure and a
	// statement issue (stixResolve).
	failed, stated string
}

func (im *importer) stixKey(b *stixBundle, k string) error {
	switch k {
	case "type":
		if err := im.decode(&b.typ); err != nil {
			return err
		}
		if b.typ != "bundle" {
			return fmt.Errorf("%w: a STIX document must be a bundle, not type %q", ErrFormat, b.typ)
		}
		return nil
	case "spec_version":
		return im.decode(&b.spec)
	}
	if im.prescan {
		return im.skip()
	}
	return im.array(func(i int) error {
		var o stixObject
		if err := im.decode(&o); err != nil {
			return err
		}
		im.counted()
		im.stixObject(b, &o, fmt.Sprintf("objects[%d]", i))
		return nil
	})
}

func (im *importer) stixObject(b *stixBundle, o *stixObject, where string) {
	switch o.Type {
	case "marking-definition":
		b.markings[o.ID] = readMarking(o)
	case "indicator":
		im.stixIndicator(b, o, where)
	case "vulnerability":
		im.stixVulnerability(b, o, where)
	case "sighting":
		im.issue(Skipped, where, o.ID, o.Type, notMappedSighting)
	case "":
		im.issue(Failed, where, o.ID, "", "object has no type")
	default:
		im.issue(Skipped, where, o.ID, o.Type, "object type "+o.Type+" is not an indicator")
	}
}

func readMarking(o *stixObject) marking {
	if ext, ok := o.Extensions[tlp2Extension]; ok {
		var e struct {
			TLP string `json:"tlp_2_0"`
		}
		if json.Unmarshal(ext, &e) == nil {
			if m, err := ParseTLP(e.TLP); err == nil && e.TLP != "white" {
				return marking{tlp: m}
			}
		}
		return marking{unknown: "TLP 2.0 extension with an unknown level"}
	}
	switch o.DefinitionType {
	case "tlp":
		var level string
		if json.Unmarshal(o.Definition["tlp"], &level) == nil {
			if m, err := ParseTLP(level); err == nil {
				return marking{tlp: m}
			}
		}
		return marking{unknown: "TLP 1.0 definition with an unknown level"}
	case "statement":
		var text string
		json.Unmarshal(o.Definition["statement"], &text)
		return marking{statement: text}
	}
	return marking{unknown: "marking of unknown type"}
}

func parseStixTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q is not RFC 3339", s)
	}
	return msTime(t), nil
}

// stixCommon reads the properties indicators and vulnerabilities share.
func (im *importer) stixCommon(o *stixObject, where string) (Record, bool) {
	r := Record{Confidence: NoConfidence, Description: o.Description}
	if r.Description == "" {
		r.Description = o.Name
	}
	if o.Confidence != nil {
		c, err := o.Confidence.Int64()
		if err != nil || c < 0 || c > 100 {
			im.issue(Failed, where, o.ID, o.Type, "confidence "+o.Confidence.String()+" outside 0..100")
			return r, false
		}
		r.Confidence = int(c)
	}
	for _, l := range o.Labels {
		switch {
		case strings.HasPrefix(l, `misp:to_ids="`):
			r.Informational = strings.EqualFold(l, `misp:to_ids="False"`)
		case strings.HasPrefix(l, "misp:type=") || strings.HasPrefix(l, "misp:category="):
			// Read as the value's type, not kept as a tag.
		default:
			r.Tags = append(r.Tags, l)
		}
	}
	var lost []string
	for _, e := range o.ExternalRefs {
		if e.URL != "" {
			r.References = append(r.References, e.URL)
		}
	}
	r.References = canonStrings(r.References)
	if len(r.References) > MaxReferences {
		lost = append(lost, fmt.Sprintf("%d external references beyond the first %d", len(r.References)-MaxReferences, MaxReferences))
		r.References = r.References[:MaxReferences]
	}
	r.Tags = canonStrings(r.Tags)
	if len(r.Tags) > MaxTags {
		lost = append(lost, fmt.Sprintf("%d labels beyond the first %d", len(r.Tags)-MaxTags, MaxTags))
		r.Tags = r.Tags[:MaxTags]
	}
	if len(r.Description) > MaxDescription {
		lost = append(lost, "description cut to 8 KiB")
		r.Description = truncUTF8(r.Description, MaxDescription)
	}
	if len(lost) > 0 {
		im.issue(Partial, where, o.ID, o.Type, strings.Join(lost, "; "))
	}
	return r, true
}

func truncUTF8(s string, n int) string {
	for n > 0 && n < len(s) && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}

func (im *importer) stixIndicator(b *stixBundle, o *stixObject, where string) {
	fail := func(why string) { im.issue(Failed, where, o.ID, o.Type, why) }
	if o.Pattern == nil {
		fail("indicator has no pattern")
		return
	}
	pt := o.PatternType
	if pt == "" && (b.spec == "2.0" || o.SpecVersion == "") {
		pt = "stix" // STIX 2.0 had only STIX patterns and no pattern_type
	}
	if pt != "stix" {
		fail(fmt.Sprintf("pattern_type %q is not represented (only stix)", o.PatternType))
		return
	}
	hostname := slices.Contains(o.Labels, `misp:type="hostname"`) || slices.Contains(o.Labels, `misp:type="hostname|port"`)
	vals, lost, err := patternValues(*o.Pattern, hostname)
	if err != nil {
		fail(strings.TrimPrefix(err.Error(), "ioc: "))
		return
	}
	base, ok := im.stixCommon(o, where)
	if !ok {
		return
	}
	var errT error
	if base.ValidFrom, errT = parseStixTime(o.ValidFrom); errT == nil {
		base.ValidUntil, errT = parseStixTime(o.ValidUntil)
	}
	if errT != nil {
		fail(errT.Error())
		return
	}
	if !base.ValidUntil.IsZero() && base.ValidUntil.Equal(base.ValidFrom) {
		// STIX 2.1 requires valid_until after valid_from; 2.0 does not,
		// and MISP's STIX 2.0 export writes them equal on every indicator.
		// Read literally, each would expire the moment it began.
		base.ValidUntil = time.Time{}
		im.issue(Partial, where, o.ID, o.Type, "valid_until equal to valid_from (as MISP's STIX 2.0 export writes it) read as no stated expiry")
	}
	if len(lost) > 0 {
		im.issue(Partial, where, o.ID, o.Type, "pattern not fully represented: "+strings.Join(firstN(lost, 5), "; "))
	}
	im.stixPend(b, o, base, vals, where)
}

// stixPend queues an object's records until their markings are known. A
// streaming import resolves them at once when every marking they name is
// known already (the TLP ids, or definitions earlier in the bundle), so
// only records naming a definition still to come wait, at most
// ImportOptions.MaxPending of them.
func (im *importer) stixPend(b *stixBundle, o *stixObject, base Record, vals []typedValue, where string) {
	refs := slices.Clone(o.MarkingRefs)
	for _, g := range o.GranularMarkings {
		refs = append(refs, g.MarkingRef)
	}
	now := im.stream != nil
	for _, ref := range refs {
		if _, ok := knownMarkings[ref]; !ok {
			if _, ok := b.markings[ref]; !ok {
				now = false
			}
		}
	}
	for _, v := range vals {
		r := base
		r.Type, r.Value = v.t, v.value
		p := pending{rec: r, refs: refs, where: where, id: o.ID, typ: o.Type}
		if now {
			im.stixResolve(b, p)
			continue
		}
		im.pend = append(im.pend, p)
		im.checkPending(len(im.pend))
	}
}

func (im *importer) stixVulnerability(b *stixBundle, o *stixObject, where string) {
	cve := ""
	if _, err := Normalize(TypeCVE, o.Name); err == nil {
		cve = o.Name
	}
	for _, e := range o.ExternalRefs {
		if strings.EqualFold(e.SourceName, "cve") && e.ExternalID != "" {
			cve = e.ExternalID
		}
	}
	if cve == "" {
		im.issue(Skipped, where, o.ID, o.Type, "vulnerability without a CVE id")
		return
	}
	base, ok := im.stixCommon(o, where)
	if !ok {
		return
	}
	if base.Description == o.Name {
		base.Description = ""
	}
	var err error
	if base.ValidFrom, err = parseStixTime(o.XValidFrom); err == nil {
		base.ValidUntil, err = parseStixTime(o.XValidUntil)
	}
	if err != nil {
		im.issue(Failed, where, o.ID, o.Type, err.Error())
		return
	}
	im.stixPend(b, o, base, []typedValue{{TypeCVE, cve}}, where)
}

// stixFinish resolves each pending record's markings (docs/ioc.md §4.3):
// the strictest TLP among them; a statement is reported, not enforced; an
// unknown marking fails the object rather than be read as something weaker.
func (im *importer) stixFinish(b *stixBundle) error {
	if b.typ != "bundle" {
		return fmt.Errorf("%w: STIX input without \"type\": \"bundle\"", ErrFormat)
	}
	for i := range im.pend {
		p := im.pend[i]
		im.pend[i] = pending{} // let the garbage collector have it as we go
		im.stixResolve(b, p)
	}
	im.pend = nil
	return nil
}

// stixResolve gives a pending record its TLP from its markings and adds it
// (docs/ioc.md §4.3). An object's records are resolved one after the
// other, so remembering the last object reported keeps each object to one
// failure and one statement issue, in constant memory.
func (im *importer) stixResolve(b *stixBundle, p pending) {
	var level TLP
	var unknown, statements []string
	for _, ref := range p.refs {
		if m, ok := knownMarkings[ref]; ok {
			level = max(level, m)
			continue
		}
		m, ok := b.markings[ref]
		switch {
		case !ok:
			unknown = append(unknown, ref+" (not defined in the bundle)")
		case m.tlp != 0:
			level = max(level, m.tlp)
		case m.unknown != "":
			unknown = append(unknown, ref+" ("+m.unknown+")")
		default:
			statements = append(statements, fmt.Sprintf("%q", m.statement))
		}
	}
	key := p.where
	switch {
	case len(unknown) > 0:
		if b.failed != key {
			im.issue(Failed, p.where, p.id, p.typ, "unknown marking "+strings.Join(unknown, ", ")+"; refused rather than read as weaker")
		}
		b.failed = key
		return
	case level == 0 && im.opts.DefaultTLP == 0:
		if b.failed != key {
			im.issue(Failed, p.where, p.id, p.typ, "no TLP marking; give a TLP for unmarked objects")
		}
		b.failed = key
		return
	case level == 0:
		level = im.opts.DefaultTLP
	}
	if len(statements) > 0 && b.stated != key {
		im.issue(Partial, p.where, p.id, p.typ, "statement marking not carried: "+strings.Join(statements, ", "))
		b.stated = key
	}
	p.rec.TLP = level
	im.add(p.rec, p.where, p.id, p.typ)
}
