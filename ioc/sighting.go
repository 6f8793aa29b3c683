package ioc

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/ghostwire/ghostwire/identity"
)

// Sighting is an analyst's signed verdict on an indicator statement
// (docs/protocol.md §5.10), as export writes it beside the indicator
// (docs/taxii.md, "Sightings"). Only statements in the clear (CLEAR,
// GREEN) can be sighted, so a sighting reveals nothing the indicator's
// audience does not already hold.
type Sighting struct {
	// ID is the sighting item's ID in hex: exported ids derive from it,
	// so two exports of the same sighting agree.
	ID            string
	Sighter       identity.ID // who signed it
	FalsePositive bool        // the verdict: false positive, or seen
	Created       time.Time   // when it was signed
}

// stixSighting is an exported sighting (STIX 2.1 §5.2); field order is
// the JSON order.
//
// STIX has no false-positive property. A false positive is written as a
// sighting with OpenCTI's x_opencti_negative set, which OpenCTI imports as
// a false-positive sighting, and a description saying so for everyone
// else; misp-stix would write an opinion object instead, but then a
// verdict would be a sighting or not depending on its value, and count,
// first_seen and the sighter's where_sighted_refs would be lost
// (docs/taxii.md, "Sightings").
type stixSighting struct {
	Type             string   `json:"type"`
	SpecVersion      string   `json:"spec_version"`
	ID               string   `json:"id"`
	CreatedByRef     string   `json:"created_by_ref"`
	Created          string   `json:"created"`
	Modified         string   `json:"modified"`
	Description      string   `json:"description,omitempty"`
	FirstSeen        string   `json:"first_seen"`
	LastSeen         string   `json:"last_seen"`
	Count            int      `json:"count"`
	SightingOfRef    string   `json:"sighting_of_ref"`
	WhereSightedRefs []string `json:"where_sighted_refs"`
	MarkingRefs      []string `json:"object_marking_refs"`
	XNegative        bool     `json:"x_opencti_negative,omitempty"`
}

// sightingDescription is what a false positive's description says.
const sightingDescription = "false positive: the sighter judged this indicator wrong"

// authorRef is the STIX id of the identity export writes for key a.
func authorRef(a identity.ID) string { return "identity--" + derivedUUID("author", a.Bytes()) }

// sightingFor is s as a STIX sighting of e's object.
func sightingFor(e *Entry, s *Sighting) *stixSighting {
	t := ts(s.Created)
	who := authorRef(s.Sighter)
	o := &stixSighting{Type: "sighting", SpecVersion: "2.1", ID: "sighting--" + derivedUUID("sighting", []byte(s.ID)),
		CreatedByRef: who, Created: t, Modified: t, FirstSeen: t, LastSeen: t, Count: 1,
		SightingOfRef: stixFor(e).ID, WhereSightedRefs: []string{who}, MarkingRefs: []string{tlp2IDs[e.Record.TLP]},
		XNegative: s.FalsePositive}
	if s.FalsePositive {
		o.Description = sightingDescription
	}
	return o
}

// SightingObjectsOf returns the STIX sightings of e's object, as STIXWriter
// writes them after it.
func SightingObjectsOf(e *Entry) ([]STIXObject, error) {
	out := make([]STIXObject, 0, len(e.Sightings))
	for i := range e.Sightings {
		o := sightingFor(e, &e.Sightings[i])
		b, err := json.Marshal(o)
		if err != nil {
			return nil, fmt.Errorf("ioc: export: %w", err)
		}
		out = append(out, STIXObject{ID: o.ID, Type: o.Type, Modified: e.Sightings[i].Created.UTC().Truncate(time.Millisecond), JSON: b})
	}
	return out, nil
}

// mispSighting is an exported MISP sighting on an attribute (MISP core
// format, Sighting): type 0 seen, 1 false positive; the sighter is its
// organisation, named by its GhostWire address.
type mispSighting struct {
	UUID         string  `json:"uuid"`
	Type         string  `json:"type"`
	DateSighting string  `json:"date_sighting"`
	Source       string  `json:"source"`
	Organisation mispOrg `json:"Organisation"`
}

type mispOrg struct {
	Name string `json:"name"`
	UUID string `json:"uuid"`
}

func mispSightingsFor(ss []Sighting) []mispSighting {
	var out []mispSighting
	for _, s := range ss {
		typ := "0"
		if s.FalsePositive {
			typ = "1"
		}
		out = append(out, mispSighting{UUID: derivedUUID("sighting", []byte(s.ID)), Type: typ,
			DateSighting: strconv.FormatInt(s.Created.Unix(), 10), Source: "GhostWire",
			Organisation: mispOrg{Name: s.Sighter.String(), UUID: derivedUUID("org", s.Sighter.Bytes())}})
	}
	return out
}

// notMappedSighting is why import reports a sighting instead of storing
// it, whoever it names as sighter. A GhostWire sighting is a signed
// statement of its sighter that travels to every peer and moves their
// trust in the indicator's source (docs/reputation.md); import cannot
// sign for anyone else, and re-signing one that names us would let any
// file speak for us, since a file's created_by_ref or Organisation proves
// nothing.
const notMappedSighting = "sightings are not imported: a sighting is signed by its sighter; record yours with 'ghostwire ioc sighting ID --seen|--false-positive'"
