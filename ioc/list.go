package ioc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// This file reads the shapes that are not one STIX bundle or one MISP
// event: a bare JSON array (of STIX objects, as tools write a bundle's
// objects without the bundle, or of MISP events) and MISP's REST
// {"response": …} with a list or a single object.

// stixKeys are properties of a STIX object that no MISP event, object or
// attribute wrapper has at its top level: one of them makes an element of
// a list a STIX object.
var stixKeys = map[string]bool{
	"type": true, "spec_version": true, "pattern": true, "pattern_type": true, "valid_from": true,
	"created_by_ref": true, "object_marking_refs": true, "external_references": true, "labels": true,
	"definition_type": true, "definition": true, "modified": true, "created": true, "source_ref": true, "target_ref": true,
}

// list reads a top-level array, whose '[' was read, to its end.
func (im *importer) list() error {
	var b *stixBundle
	for i := 0; im.dec.More(); i++ {
		if err := im.listElement(fmt.Sprintf("[%d]", i), &b); err != nil {
			return err
		}
	}
	if _, err := im.token(); err != nil {
		return err
	}
	if t, err := im.dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the top-level value (%v)", ErrFormat, t)
	}
	if im.res.Format == 0 {
		return fmt.Errorf("%w: an array with no STIX object and no MISP event in it", ErrFormat)
	}
	if b != nil {
		return im.stixFinish(b)
	}
	return nil
}

// response reads the value of MISP's "response": a list of events, or
// one object ({"Attribute": […]} from an attribute search).
func (im *importer) response() error {
	t, err := im.token()
	if err != nil {
		return err
	}
	switch t {
	case nil:
		return nil
	case json.Delim('['):
		for i := 0; im.dec.More(); i++ {
			if err := im.mispElement(fmt.Sprintf("response[%d]", i)); err != nil {
				return err
			}
		}
		_, err := im.token()
		return err
	case json.Delim('{'):
		return im.mispElementBody("response")
	}
	return fmt.Errorf("%w: \"response\" is neither a list nor an object", ErrFormat)
}

// listElement reads one element of a top-level array. Its keys say what it
// is: a STIX object (stixKeys) is read whole, at most MaxObject bytes, and
// goes into one pseudo-bundle *b; a MISP element (an event, {"Event": …},
// {"Object": …}) is read as mispElement reads one. Keys that say neither,
// read before one that does, are kept (bounded by MaxObject in all) for a
// STIX object and skipped for MISP, which reads none of them. An element
// with no telling key is reported as failed, never dropped silently.
func (im *importer) listElement(where string, b **stixBundle) error {
	if err := im.expect(json.Delim('{')); err != nil {
		return err
	}
	held := map[string]json.RawMessage{}
	var size int64
	for {
		k, ok, err := im.key()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		switch f := topLevelFormat(k); {
		case stixKeys[k]:
			if err := im.setFormat(FormatSTIX); err != nil {
				return err
			}
			if *b == nil {
				*b = &stixBundle{typ: "bundle", markings: map[string]marking{}}
			}
			return im.listSTIX(where, *b, held, k, size)
		case f == FormatMISP || k == "Event" || k == "Object" || k == "uuid":
			if err := im.setFormat(FormatMISP); err != nil {
				return err
			}
			return im.mispElementFrom(where, k, true)
		}
		var v json.RawMessage
		if err := im.decode(&v); err != nil {
			return err
		}
		if size += int64(len(k) + len(v)); size > im.opts.MaxObject {
			return fmt.Errorf("%w: element %s is larger than %d bytes before saying what it is", ErrFormat, where, im.opts.MaxObject)
		}
		held[k] = v
	}
	im.counted()
	im.issue(Failed, where, "", "", "neither a STIX object (no type) nor a MISP event")
	return nil
}

func (im *importer) setFormat(f Format) error {
	if im.res.Format != 0 && im.res.Format != f {
		return fmt.Errorf("%w: a list that mixes STIX objects and MISP events", ErrFormat)
	}
	im.res.Format = f
	return nil
}

// listSTIX reads the rest of a STIX object whose key k is next, after the
// held keys, and imports it as an object of bundle b.
func (im *importer) listSTIX(where string, b *stixBundle, held map[string]json.RawMessage, k string, size int64) error {
	for {
		var v json.RawMessage
		if err := im.decode(&v); err != nil {
			return err
		}
		if size += int64(len(k) + len(v)); size > im.opts.MaxObject {
			return fmt.Errorf("%w: an object near byte %d is larger than %d bytes", ErrFormat, im.dec.InputOffset(), im.opts.MaxObject)
		}
		held[k] = v
		var ok bool
		var err error
		if k, ok, err = im.key(); err != nil {
			return err
		}
		if !ok {
			break
		}
	}
	raw, err := json.Marshal(held)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrFormat, err)
	}
	var o stixObject
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	im.counted()
	if im.prescan {
		return nil
	}
	if err := dec.Decode(&o); err != nil {
		im.issue(Failed, where, "", "", "not a STIX object: "+err.Error())
		return nil
	}
	im.stixObject(b, &o, where)
	return nil
}
