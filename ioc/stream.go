package ioc

import (
	"bufio"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"strconv"
	"time"

	"github.com/ghostwire/ghostwire/identity"
)

// STIXWriter writes a STIX 2.1 bundle one entry at a time, so an export
// holds one object, not the collection (docs/ioc.md §5.3). Each TLP
// marking-definition and each author's identity is written before the
// first object that refers to it. The bundle's id depends on every
// content ID written, so it comes last in the bundle object (JSON objects
// are unordered; STIX does not order a bundle's properties).
//
// The caller gives each content ID at most once (the newest statement, as
// ExportSTIX's pick does), in the order it wants them written.
type STIXWriter struct {
	bw       *bufio.Writer
	ids      hash.Hash // the bundle id's name: every content ID written
	n        int
	markings [tlpEnd]bool
	authors  map[identity.ID]bool
}

// NewSTIXWriter starts a bundle on w.
func NewSTIXWriter(w io.Writer) *STIXWriter {
	h := sha1.New()
	h.Write(exportNamespace[:])
	h.Write([]byte("bundle\x00"))
	sw := &STIXWriter{bw: bufio.NewWriterSize(w, 64<<10), ids: h, authors: map[identity.ID]bool{}}
	// The head goes out at once: a filter that matches little may scan
	// long before the first object, and the reader should see a start.
	sw.bw.WriteString(`{"type":"bundle","objects":[`)
	sw.bw.Flush()
	return sw
}

// Write writes e's object, and the marking and identity it refers to if
// they are not written yet, then e's sightings, each after its sighter's
// identity. A non-zero revoked is when its author retracted
// it (docs/protocol.md §5.7): the object is written revoked, modified then.
func (sw *STIXWriter) Write(e *Entry, revoked time.Time) error {
	if m := e.Record.TLP; m.Valid() && !sw.markings[m] {
		sw.markings[m] = true
		if err := sw.emit(MarkingDefinition(m)); err != nil {
			return err
		}
	}
	if !e.Author.IsZero() && !sw.authors[e.Author] {
		sw.authors[e.Author] = true
		if err := sw.emit(authorIdentity(e.Author, e.Created)); err != nil {
			return err
		}
	}
	c := e.Record.ContentID()
	sw.ids.Write(c[:])
	if err := sw.emit(stixObjectFor(e, revoked)); err != nil {
		return err
	}
	for i := range e.Sightings {
		s := &e.Sightings[i]
		if !sw.authors[s.Sighter] {
			sw.authors[s.Sighter] = true
			if err := sw.emit(authorIdentity(s.Sighter, s.Created)); err != nil {
				return err
			}
		}
		sw.ids.Write([]byte(s.ID))
		if err := sw.emit(sightingFor(e, s)); err != nil {
			return err
		}
	}
	return nil
}

func (sw *STIXWriter) emit(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("ioc: export: %w", err)
	}
	if sw.n > 0 {
		sw.bw.WriteByte(',')
	}
	sw.n++
	sw.bw.WriteByte('\n')
	_, err = sw.bw.Write(b)
	return err
}

// Close ends the bundle and flushes it.
func (sw *STIXWriter) Close() error {
	fmt.Fprintf(sw.bw, "\n],\"id\":\"bundle--%s\"}\n", uuidString(uuidV5Sum(sw.ids.Sum(nil))))
	return sw.bw.Flush()
}

// MarkingDefinition is the TLP 2.0 marking-definition object of m, as
// export writes it and a TAXII collection serves it.
func MarkingDefinition(m TLP) map[string]any {
	return map[string]any{
		"type": "marking-definition", "spec_version": "2.1", "id": tlp2IDs[m],
		"created": "2022-10-01T00:00:00.000Z", "name": m.String(),
		"extensions": map[string]any{tlp2Extension: map[string]string{
			"extension_type": "property-extension", "tlp_2_0": m.Name()}},
	}
}

// MarkingID is the STIX id of TLP 2.0 marking m.
func MarkingID(m TLP) string { return tlp2IDs[m] }

func authorIdentity(a identity.ID, created time.Time) map[string]string {
	t := ts(created)
	return map[string]string{"type": "identity", "spec_version": "2.1",
		"id": authorRef(a), "created": t, "modified": t,
		"name": a.String(), "identity_class": "individual"}
}

func stixObjectFor(e *Entry, revoked time.Time) *stixOut {
	o := stixFor(e)
	if !revoked.IsZero() {
		o.Revoked = true
		if revoked.After(e.Created) {
			o.Modified = ts(revoked)
		}
	}
	return o
}

// STIXObject is one exported STIX object and what a TAXII server says of
// it: its id, type and version (its modified time).
type STIXObject struct {
	ID, Type string
	Modified time.Time
	JSON     json.RawMessage
}

// ObjectOf returns e's STIX object as ExportSTIX writes it (revoked as
// STIXWriter.Write says).
func ObjectOf(e *Entry, revoked time.Time) (STIXObject, error) {
	o := stixObjectFor(e, revoked)
	b, err := json.Marshal(o)
	if err != nil {
		return STIXObject{}, fmt.Errorf("ioc: export: %w", err)
	}
	mod, _ := time.Parse(stixTime, o.Modified)
	return STIXObject{ID: o.ID, Type: o.Type, Modified: mod, JSON: b}, nil
}

// MISPEvent is what a MISPWriter's event says besides its attributes.
type MISPEvent struct {
	// UUID is the event's; empty derives it from every content ID written
	// (two exports of the same indicators agree). A feed gives one per
	// collection, so that re-exporting it updates the same event.
	UUID string
	// Info is the event's title; empty is "GhostWire IOC export".
	Info string
	// Org names the creating organisation (Orgc), which a MISP feed's
	// events carry; empty writes none.
	Org string
}

// MISPWriter writes one MISP event {"Event": …} (docs/ioc.md §6.2) one
// attribute at a time: an attribute per record with its tlp: tag and other
// tags, to_ids = !Informational, the description as comment, and its
// sightings as MISP Sighting entries. Confidence
// and validity have no MISP attribute field and are not written. The
// event is unpublished with distribution 0 (this organisation only), so
// importing it into MISP shares nothing until an analyst decides. Its
// attributes come first and the event's other properties after them,
// since its uuid and timestamp depend on every attribute.
type MISPWriter struct {
	bw     *bufio.Writer
	ev     MISPEvent
	ids    hash.Hash
	n      int
	newest time.Time
}

// NewMISPWriter starts an event on w.
func NewMISPWriter(w io.Writer, ev MISPEvent) *MISPWriter {
	h := sha1.New()
	h.Write(exportNamespace[:])
	h.Write([]byte("event\x00"))
	mw := &MISPWriter{bw: bufio.NewWriterSize(w, 64<<10), ev: ev, ids: h}
	mw.bw.WriteString(`{"Event":{"Attribute":[`)
	mw.bw.Flush() // the head goes out at once, as NewSTIXWriter's
	return mw
}

// Write writes e as one attribute.
func (mw *MISPWriter) Write(e *Entry) error {
	r := &e.Record
	c := r.ContentID()
	mw.ids.Write(c[:])
	if e.Created.After(mw.newest) {
		mw.newest = e.Created
	}
	tc := mispExportTypes[r.Type]
	a := mispOut{UUID: derivedUUID("ioc", c[:]), Type: tc[0], Category: tc[1], Value: r.Value,
		ToIDs: !r.Informational, Comment: r.Description, Timestamp: strconv.FormatInt(e.Created.Unix(), 10),
		Distribution: "5", Tag: []mispTag{{Name: "tlp:" + r.TLP.Name()}}, Sighting: mispSightingsFor(e.Sightings)}
	for _, t := range r.Tags {
		a.Tag = append(a.Tag, mispTag{Name: t})
	}
	b, err := json.Marshal(&a)
	if err != nil {
		return fmt.Errorf("ioc: export: %w", err)
	}
	if mw.n > 0 {
		mw.bw.WriteByte(',')
	}
	mw.n++
	mw.bw.WriteByte('\n')
	_, err = mw.bw.Write(b)
	return err
}

// Close writes the event's properties and flushes it.
func (mw *MISPWriter) Close() error {
	newest := mw.newest
	if newest.IsZero() {
		newest = time.Unix(0, 0)
	}
	id := mw.ev.UUID
	if id == "" {
		id = uuidString(uuidV5Sum(mw.ids.Sum(nil)))
	}
	info := mw.ev.Info
	if info == "" {
		info = "GhostWire IOC export"
	}
	infoJSON, _ := json.Marshal(info)
	fmt.Fprintf(mw.bw, "\n],\"uuid\":\"%s\",\"info\":%s,\"date\":\"%s\",\"timestamp\":\"%d\","+
		`"published":false,"analysis":"2","threat_level_id":"4","distribution":"0","Tag":[]`,
		id, infoJSON, newest.UTC().Format(time.DateOnly), newest.Unix())
	if mw.ev.Org != "" {
		org, _ := json.Marshal(mw.ev.Org)
		fmt.Fprintf(mw.bw, `,"Orgc":{"name":%s,"uuid":"%s"}`, org, derivedUUID("org", []byte(mw.ev.Org)))
	}
	mw.bw.WriteString("}}\n")
	return mw.bw.Flush()
}

// FeedEventUUID is the stable UUID of a collection's event in a MISP feed
// (docs/ioc.md §6.3): the same on every re-export, whatever it holds.
func FeedEventUUID(collection string) string { return derivedUUID("feed-event", []byte(collection)) }
