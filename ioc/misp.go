package ioc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// mispAttribute holds the attribute properties import reads.
type mispAttribute struct {
	Type    string    `json:"type"`
	Value   string    `json:"value"`
	Comment string    `json:"comment"`
	ToIDs   flexBool  `json:"to_ids"`
	UUID    string    `json:"uuid"`
	Tag     []mispTag `json:"Tag"`
	// Sighting is only counted: see notMappedSighting.
	Sighting []json.RawMessage `json:"Sighting"`
}

type mispTag struct {
	Name string `json:"name"`
}

type mispObject struct {
	Name      string          `json:"name"`
	UUID      string          `json:"uuid"`
	Attribute []mispAttribute `json:"Attribute"`
}

// flexBool reads MISP's to_ids, which is a JSON boolean in current MISP
// and "0"/"1" in older exports. Absent means true (MISP's default).
type flexBool struct{ set, v bool }

func (f *flexBool) UnmarshalJSON(b []byte) error {
	switch string(bytes.TrimSpace(b)) {
	case "true", `"1"`, `"true"`, "1":
		*f = flexBool{true, true}
	case "false", `"0"`, `"false"`, "0":
		*f = flexBool{true, false}
	case "null":
	default:
		return fmt.Errorf("to_ids %s is not a boolean", b)
	}
	return nil
}

// mispTypes maps MISP attribute types to ours. A composite type
// ("filename|sha256") names which half is the indicator; the other half is
// kept in the description as "<name>: <value>".
var mispTypes = map[string]struct {
	t    Type // 0: an IP of either family or a CIDR, decided by the value
	half int  // for composites, the index of the indicator half
	ctx  string
}{
	"ip-src": {}, "ip-dst": {},
	"ip-src|port": {half: 0, ctx: "port"}, "ip-dst|port": {half: 0, ctx: "port"},
	"domain": {t: TypeDomain}, "hostname": {t: TypeHostname},
	"domain|ip":     {t: TypeDomain, ctx: "ip"},
	"hostname|port": {t: TypeHostname, ctx: "port"},
	"url":           {t: TypeURL},
	"email":         {t: TypeEmail}, "email-src": {t: TypeEmail}, "email-dst": {t: TypeEmail},
	"email-reply-to": {t: TypeEmail}, "whois-registrant-email": {t: TypeEmail},
	"md5": {t: TypeMD5}, "sha1": {t: TypeSHA1}, "sha256": {t: TypeSHA256},
	"filename|md5":    {t: TypeMD5, half: 1, ctx: "filename"},
	"filename|sha1":   {t: TypeSHA1, half: 1, ctx: "filename"},
	"filename|sha256": {t: TypeSHA256, half: 1, ctx: "filename"},
	"vulnerability":   {t: TypeCVE},
}

// mispEvent accumulates one event's attributes until its end, because the
// event's tags (and so its TLP) may come after its attributes in the JSON.
type mispEvent struct {
	im    *importer
	where string
	tags  []string
	recs  []pending
	// known: the event's tags were read by a prescan (ImportStreamPrescan),
	// so its attributes are resolved as they are read, not held.
	known bool
}

func newMispEvent(im *importer, where string) *mispEvent {
	ev := &mispEvent{im: im, where: where}
	if tags, ok := im.eventTags[where]; ok {
		ev.tags, ev.known = tags, true
	}
	return ev
}

// mispElement reads one element of an event list: {"Event": …},
// {"Object": …} (misp-stix test files), or a bare event.
func (im *importer) mispElement(where string) error {
	if err := im.expect(json.Delim('{')); err != nil {
		return err
	}
	return im.mispElementBody(where)
}

// mispElementBody reads an element's keys, after its '{'.
func (im *importer) mispElementBody(where string) error { return im.mispElementFrom(where, "", false) }

// mispElementFrom reads an element whose first key k was read already
// (read false: none was).
func (im *importer) mispElementFrom(where, k string, read bool) error {
	ev := newMispEvent(im, where)
	for {
		if !read {
			next, ok, err := im.key()
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			k = next
		}
		var err error
		switch k {
		case "Event":
			err = im.mispEventValue(where + ".Event")
		case "Object":
			// A lone object: an array (event shape) or one object.
			err = ev.objects()
		default:
			err = ev.field(k)
		}
		if err != nil {
			return err
		}
		read = false
	}
	ev.finish()
	return nil
}

// mispEventValue reads {…} as an event.
func (im *importer) mispEventValue(where string) error {
	if err := im.expect(json.Delim('{')); err != nil {
		return err
	}
	ev := newMispEvent(im, where)
	for {
		k, ok, err := im.key()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if err := ev.field(k); err != nil {
			return err
		}
	}
	ev.finish()
	return nil
}

// field reads the value of one event key.
func (ev *mispEvent) field(k string) error {
	im := ev.im
	switch k {
	case "Attribute", "Object":
		if im.prescan {
			return im.skip()
		}
	}
	switch k {
	case "Attribute":
		return im.array(func(i int) error {
			var a mispAttribute
			if err := im.decode(&a); err != nil {
				return err
			}
			im.counted()
			ev.attribute(&a, fmt.Sprintf("%s.Attribute[%d]", ev.where, i), nil)
			return nil
		})
	case "Object":
		return ev.objects()
	case "Tag":
		if ev.known {
			return im.skip() // read by the prescan
		}
		var tags []mispTag
		if err := im.decode(&tags); err != nil {
			return err
		}
		for _, t := range tags {
			ev.tags = append(ev.tags, t.Name)
		}
		return nil
	}
	return im.skip()
}

// objects reads an Object value: an array of objects or a single one.
func (ev *mispEvent) objects() error {
	im := ev.im
	t, err := im.token()
	if err != nil {
		return err
	}
	one := func(i int) error {
		var o mispObject
		if err := im.decode(&o); err != nil {
			return err
		}
		im.counted()
		ev.object(&o, fmt.Sprintf("%s.Object[%d]", ev.where, i))
		return nil
	}
	switch t {
	case nil:
		return nil
	case json.Delim('['):
		for i := 0; im.dec.More(); i++ {
			if err := one(i); err != nil {
				return err
			}
		}
		_, err := im.token()
		return err
	case json.Delim('{'):
		// A single object: its keys are read here, one value at a time.
		var o mispObject
		for {
			k, ok, err := im.key()
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			switch k {
			case "name":
				err = im.decode(&o.Name)
			case "uuid":
				err = im.decode(&o.UUID)
			case "Attribute":
				err = im.decode(&o.Attribute)
			default:
				err = im.skip()
			}
			if err != nil {
				return err
			}
		}
		im.counted()
		ev.object(&o, ev.where+".Object")
		return nil
	}
	return fmt.Errorf("%w: Object is neither an array nor an object", ErrFormat)
}

// object flattens an object's attributes whose types map; the rest are
// reported with the object.
func (ev *mispEvent) object(o *mispObject, where string) {
	var skipped []string
	n := 0
	for i := range o.Attribute {
		a := &o.Attribute[i]
		if _, ok := mispTypes[a.Type]; !ok {
			skipped = append(skipped, a.Type)
			continue
		}
		ev.attribute(a, fmt.Sprintf("%s.Attribute[%d]", where, i), &n)
	}
	switch {
	case n == 0:
		ev.im.issue(Skipped, where, o.UUID, o.Name, "object has no attribute of an indicator type")
	case len(skipped) > 0:
		ev.im.issue(Partial, where, o.UUID, o.Name, "attributes not represented: "+strings.Join(skipped, ", "))
	}
}

// attribute converts one attribute. Inside an object, unmapped types are
// reported by object and n counts the attributes kept.
func (ev *mispEvent) attribute(a *mispAttribute, where string, n *int) {
	im := ev.im
	m, ok := mispTypes[a.Type]
	if !ok {
		im.issue(Skipped, where, a.UUID, a.Type, "attribute type "+a.Type+" is not an indicator type")
		return
	}
	if len(a.Sighting) > 0 {
		im.issue(Partial, where, a.UUID, a.Type, fmt.Sprintf("%d sightings not imported: %s", len(a.Sighting), notMappedSighting))
	}
	value, desc := a.Value, a.Comment
	var extra []typedValue
	if strings.Contains(a.Type, "|") {
		parts := strings.SplitN(a.Value, "|", 2)
		if len(parts) != 2 {
			im.issue(Failed, where, a.UUID, a.Type, "composite value without |")
			return
		}
		value = parts[m.half]
		other := parts[1-m.half]
		if a.Type == "domain|ip" {
			extra = append(extra, typedValue{0, other})
		} else {
			if desc != "" {
				desc += "\n"
			}
			desc += m.ctx + ": " + other
		}
	}
	r := Record{Confidence: NoConfidence, Description: desc, Informational: a.ToIDs.set && !a.ToIDs.v}
	var tlpTags []string
	for _, t := range a.Tag {
		tlpTags = append(tlpTags, t.Name)
	}
	for _, tv := range append([]typedValue{{m.t, value}}, extra...) {
		rec := r
		rec.Type, rec.Value = tv.t, tv.value
		if rec.Type == 0 {
			rec.Type = ipType(tv.value)
		}
		p := pending{rec: rec, refs: tlpTags, where: where, id: a.UUID, typ: a.Type}
		if ev.known && im.stream != nil {
			ev.resolve(p)
		} else {
			ev.recs = append(ev.recs, p)
			ev.im.checkPending(len(ev.recs))
		}
		if n != nil {
			*n++
		}
	}
}

// ipType tells an IPv4, IPv6 or CIDR value apart for MISP's ip-* types.
func ipType(v string) Type {
	switch {
	case strings.Contains(v, "/"):
		return TypeCIDR
	case strings.Contains(v, ":"):
		return TypeIPv6
	}
	return TypeIPv4
}

// splitTags separates tlp: tags from the others. An unknown tlp: value
// (tlp:ex:chr, tlp:unclear) is returned in bad: it is never read as a
// weaker marking.
func splitTags(tags []string) (level TLP, rest, bad []string) {
	for _, t := range tags {
		if len(t) >= 4 && strings.EqualFold(t[:4], "tlp:") {
			m, err := ParseTLP(t)
			if err != nil {
				bad = append(bad, t)
				continue
			}
			level = max(level, m)
			continue
		}
		rest = append(rest, t)
	}
	return level, rest, bad
}

// finish applies the event's tags to the attributes that waited for them:
// the strictest tlp: tag of the event and the attribute gives the TLP
// (docs/ioc.md §6). In a prescan it only notes the event's tags.
func (ev *mispEvent) finish() {
	if ev.im.prescan {
		if ev.im.eventTags == nil {
			ev.im.eventTags = map[string][]string{}
		}
		if len(ev.im.eventTags) < maxPrescanEvents {
			ev.im.eventTags[ev.where] = ev.tags
		}
		return
	}
	for _, p := range ev.recs {
		ev.resolve(p)
	}
	ev.recs = nil
}

// resolve gives one attribute's record its TLP and tags from its own tags
// and the event's, and adds it.
func (ev *mispEvent) resolve(p pending) {
	im := ev.im
	evLevel, evTags, evBad := splitTags(ev.tags)
	level, tags, bad := splitTags(p.refs)
	level = max(level, evLevel)
	bad = append(bad, evBad...)
	switch {
	case len(bad) > 0:
		im.issue(Failed, p.where, p.id, p.typ, "unknown TLP tag "+strings.Join(bad, ", ")+"; refused rather than read as weaker")
		return
	case level == 0 && im.opts.DefaultTLP == 0:
		im.issue(Failed, p.where, p.id, p.typ, "no tlp: tag; give a TLP for untagged events")
		return
	case level == 0:
		level = im.opts.DefaultTLP
	}
	p.rec.TLP = level
	p.rec.Tags = append(append([]string(nil), evTags...), tags...)
	p.rec.Tags = canonStrings(p.rec.Tags)
	if len(p.rec.Tags) > MaxTags {
		im.issue(Partial, p.where, p.id, p.typ, fmt.Sprintf("%d tags beyond the first %d not carried", len(p.rec.Tags)-MaxTags, MaxTags))
		p.rec.Tags = p.rec.Tags[:MaxTags]
	}
	if len(p.rec.Description) > MaxDescription {
		im.issue(Partial, p.where, p.id, p.typ, "comment cut to 8 KiB")
		p.rec.Description = truncUTF8(p.rec.Description, MaxDescription)
	}
	im.add(p.rec, p.where, p.id, p.typ)
}
