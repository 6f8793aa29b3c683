package ioc

import (
	"crypto/sha1"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/ghostwire/ghostwire/identity"
)

// Entry is a record as a node holds it: the record and the facts of its
// signed item that export writes.
type Entry struct {
	Record  Record
	Author  identity.ID // zero: exported without created_by_ref
	Created time.Time   // the item's creation time
	// SourceTrust is the author's trust score in [0, 1] as the exporting
	// node computes it (docs/reputation.md); nil leaves the stated confidence as
	// it is. STIX export writes it into confidence (Confidence).
	SourceTrust *float64
	// Sightings are the current sightings of the indicator's statements
	// (docs/taxii.md, "Sightings"), written after its object.
	Sightings []Sighting
}

// Confidence is what STIX export writes as confidence (STIX 2.1 §3.2,
// 0–100): the author's stated confidence discounted by our trust in the
// author, trust × stated, or trust × 100 when none is stated. STIX's
// confidence is the producer's, and the exporting node is the producer:
// it should not repeat a source's claim at full strength when it does not
// trust the source, nor invent certainty the source did not claim. Without
// a trust score it is the stated confidence, or false when none.
func (e *Entry) Confidence() (int, bool) {
	c := e.Record.Confidence
	if e.SourceTrust == nil {
		if c == NoConfidence {
			return 0, false
		}
		return c, true
	}
	if c == NoConfidence {
		c = 100
	}
	t := min(max(*e.SourceTrust, 0), 1)
	return int(math.Round(t * float64(c))), true
}

// exportNamespace is the UUIDv5 namespace of every UUID export derives
// (docs/ioc.md §5.3): the UUIDv5 of the URL "urn:ghostwire:ioc" in the
// RFC 9562 URL namespace, written out so nobody has to recompute it.
var exportNamespace = uuidV5([16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}, []byte("urn:ghostwire:ioc"))

// uuidV5 is RFC 9562 §5.5: SHA-1 of namespace and name, version 5.
func uuidV5(ns [16]byte, name []byte) [16]byte {
	h := sha1.New()
	h.Write(ns[:])
	h.Write(name)
	return uuidV5Sum(h.Sum(nil))
}

// uuidV5Sum makes a version 5 UUID of a SHA-1 sum, for a name hashed as
// it streams (STIXWriter).
func uuidV5Sum(sum []byte) [16]byte {
	var u [16]byte
	copy(u[:], sum)
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return u
}

func uuidString(u [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// derivedUUID names an exported object by what it describes, so export →
// import → export writes the same ids.
func derivedUUID(kind string, name []byte) string {
	return uuidString(uuidV5(exportNamespace, append([]byte(kind+"\x00"), name...)))
}

// pick keeps one entry per content ID, the newest (ties: larger author
// bytes), sorted by content ID: a STIX id belongs to one object, and the
// order must not depend on the caller's.
func pick(entries []Entry) []Entry {
	best := map[ContentID]int{}
	for i := range entries {
		c := entries[i].Record.ContentID()
		j, ok := best[c]
		if !ok {
			best[c] = i
			continue
		}
		a, b := &entries[i], &entries[j]
		if a.Created.After(b.Created) || a.Created.Equal(b.Created) && a.Author.Compare(b.Author) > 0 {
			best[c] = i
		}
	}
	out := make([]Entry, 0, len(best))
	for _, i := range best {
		out = append(out, entries[i])
	}
	slices.SortFunc(out, func(a, b Entry) int {
		ca, cb := a.Record.ContentID(), b.Record.ContentID()
		return slices.Compare(ca[:], cb[:])
	})
	return out
}

const stixTime = "2006-01-02T15:04:05.000Z"

func ts(t time.Time) string { return t.UTC().Format(stixTime) }

type stixExtRef struct {
	SourceName string `json:"source_name"`
	URL        string `json:"url,omitempty"`
	ExternalID string `json:"external_id,omitempty"`
}

// stixOut is an exported indicator or vulnerability; field order is the
// JSON order.
type stixOut struct {
	Type           string       `json:"type"`
	SpecVersion    string       `json:"spec_version"`
	ID             string       `json:"id"`
	CreatedByRef   string       `json:"created_by_ref,omitempty"`
	Created        string       `json:"created"`
	Modified       string       `json:"modified"`
	Name           string       `json:"name,omitempty"`
	Description    string       `json:"description,omitempty"`
	Pattern        string       `json:"pattern,omitempty"`
	PatternType    string       `json:"pattern_type,omitempty"`
	PatternVersion string       `json:"pattern_version,omitempty"`
	ValidFrom      string       `json:"valid_from,omitempty"`
	ValidUntil     string       `json:"valid_until,omitempty"`
	Labels         []string     `json:"labels,omitempty"`
	Confidence     *int         `json:"confidence,omitempty"`
	ExternalRefs   []stixExtRef `json:"external_references,omitempty"`
	Revoked        bool         `json:"revoked,omitempty"`
	MarkingRefs    []string     `json:"object_marking_refs"`
	XValidFrom     string       `json:"x_ghostwire_valid_from,omitempty"`
	XValidUntil    string       `json:"x_ghostwire_valid_until,omitempty"`
}

// ExportSTIX writes entries as a STIX 2.1 bundle (docs/ioc.md §5.3): one
// indicator per record (a vulnerability for a CVE), an identity per
// author, and the TLP 2.0 marking-definitions used. Object ids are UUIDv5
// of the content ID, so two exports of the same indicators agree. When
// several entries share a content ID the newest is written. Recipients are
// not exported: they name GhostWire peers, which other tools do not know.
// A node's export streams through STIXWriter instead, which needs no slice.
func ExportSTIX(w io.Writer, entries []Entry) error {
	sw := NewSTIXWriter(w)
	for _, e := range pick(entries) {
		if err := sw.Write(&e, time.Time{}); err != nil {
			return err
		}
	}
	return sw.Close()
}

func stixFor(e *Entry) *stixOut {
	r := &e.Record
	c := r.ContentID()
	o := &stixOut{SpecVersion: "2.1", Created: ts(e.Created), Modified: ts(e.Created),
		Description: r.Description, MarkingRefs: []string{tlp2IDs[r.TLP]}}
	if !e.Author.IsZero() {
		o.CreatedByRef = authorRef(e.Author)
	}
	o.Labels = slices.Clone(r.Tags)
	if r.Type == TypeHostname {
		o.Labels = append(o.Labels, `misp:type="hostname"`)
	}
	if r.Informational {
		o.Labels = append(o.Labels, `misp:to_ids="False"`)
	}
	if v, ok := e.Confidence(); ok {
		o.Confidence = &v
	}
	for _, u := range r.References {
		o.ExternalRefs = append(o.ExternalRefs, stixExtRef{SourceName: "reference", URL: u})
	}
	if r.Type == TypeCVE {
		o.Type, o.ID, o.Name = "vulnerability", "vulnerability--"+derivedUUID("ioc", c[:]), r.Value
		o.ExternalRefs = append([]stixExtRef{{SourceName: "cve", ExternalID: r.Value}}, o.ExternalRefs...)
		if !r.ValidFrom.IsZero() {
			o.XValidFrom = ts(r.ValidFrom)
		}
		if !r.ValidUntil.IsZero() {
			o.XValidUntil = ts(r.ValidUntil)
		}
		return o
	}
	o.Type, o.ID = "indicator", "indicator--"+derivedUUID("ioc", c[:])
	o.Pattern, o.PatternType, o.PatternVersion = patternFor(r.Type, r.Value), "stix", "2.1"
	from := r.ValidFrom
	if from.IsZero() {
		from = e.Created
		// STIX requires valid_until after valid_from.
		if !r.ValidUntil.IsZero() && !r.ValidUntil.After(from) {
			from = r.ValidUntil.Add(-time.Millisecond)
		}
	}
	o.ValidFrom = ts(from)
	if !r.ValidUntil.IsZero() {
		o.ValidUntil = ts(r.ValidUntil)
	}
	return o
}

// mispOut is an exported MISP attribute.
type mispOut struct {
	UUID         string         `json:"uuid"`
	Type         string         `json:"type"`
	Category     string         `json:"category"`
	Value        string         `json:"value"`
	ToIDs        bool           `json:"to_ids"`
	Comment      string         `json:"comment"`
	Timestamp    string         `json:"timestamp"`
	Distribution string         `json:"distribution"`
	Tag          []mispTag      `json:"Tag"`
	Sighting     []mispSighting `json:"Sighting,omitempty"`
}

// mispExportTypes gives the MISP type and category export writes per type.
var mispExportTypes = map[Type][2]string{
	TypeIPv4: {"ip-dst", "Network activity"}, TypeIPv6: {"ip-dst", "Network activity"},
	TypeCIDR: {"ip-dst", "Network activity"}, TypeDomain: {"domain", "Network activity"},
	TypeHostname: {"hostname", "Network activity"}, TypeURL: {"url", "Network activity"},
	TypeEmail: {"email-src", "Payload delivery"}, TypeMD5: {"md5", "Payload delivery"},
	TypeSHA1: {"sha1", "Payload delivery"}, TypeSHA256: {"sha256", "Payload delivery"},
	TypeCVE: {"vulnerability", "External analysis"},
}

// ExportMISP writes entries as one MISP event {"Event": …} (docs/ioc.md
// §6.2) through MISPWriter, the newest entry per content ID.
func ExportMISP(w io.Writer, entries []Entry) error {
	mw := NewMISPWriter(w, MISPEvent{})
	for _, e := range pick(entries) {
		if err := mw.Write(&e); err != nil {
			return err
		}
	}
	return mw.Close()
}
