// Package stixschema checks STIX 2.1 JSON against the official OASIS STIX
// 2.1 JSON schemas (cti-stix2-json-schemas, vendored in testdata with their
// BSD-3 licence). It is for tests only: rules_test.go lets no other
// non-test package import it, and only it imports the schema validator.
package stixschema

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed testdata/schemas
var schemas embed.FS

// Validator holds the compiled schemas.
type Validator struct {
	byType map[string]*jsonschema.Schema
	bundle *jsonschema.Schema
}

// base is the schemas' $id prefix: each file's $id is base + its path.
const base = "http://raw.githubusercontent.com/oasis-open/cti-stix2-json-schemas/stix2.1/"

// New compiles the schemas.
func New() (*Validator, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	err := fs.WalkDir(schemas, "testdata/schemas", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		raw, err := schemas.ReadFile(p)
		if err != nil {
			return err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		return c.AddResource(base+strings.TrimPrefix(p, "testdata/"), doc)
	})
	if err != nil {
		return nil, err
	}
	v := &Validator{byType: map[string]*jsonschema.Schema{}}
	for typ, p := range map[string]string{
		"indicator": "schemas/sdos/indicator.json", "vulnerability": "schemas/sdos/vulnerability.json",
		"identity": "schemas/sdos/identity.json", "marking-definition": "schemas/common/marking-definition.json",
		"sighting": "schemas/sros/sighting.json", "relationship": "schemas/sros/relationship.json",
	} {
		s, err := c.Compile(base + p)
		if err != nil {
			return nil, fmt.Errorf("compiling %s: %w", p, err)
		}
		v.byType[typ] = s
	}
	if v.bundle, err = c.Compile(base + "schemas/common/bundle.json"); err != nil {
		return nil, err
	}
	return v, nil
}

// Object checks one STIX object; a type without a schema here is an error.
func (v *Validator) Object(raw []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return err
	}
	s, ok := v.byType[head.Type]
	if !ok {
		return fmt.Errorf("no schema here for STIX type %q", head.Type)
	}
	return s.Validate(doc)
}

// Bundle checks a bundle and each object in it, returning every error.
// The bundle schema (whose objects are a oneOf over every STIX type) is
// checked on the bundle cut to its first objects; every object is checked
// against its own type's schema.
func (v *Validator) Bundle(raw []byte) []error {
	var b map[string]json.RawMessage
	if err := json.Unmarshal(raw, &b); err != nil {
		return []error{err}
	}
	var objects []json.RawMessage
	if err := json.Unmarshal(b["objects"], &objects); err != nil {
		return []error{fmt.Errorf("bundle objects: %w", err)}
	}
	var errs []error
	head, _ := json.Marshal(objects[:min(len(objects), 20)])
	b["objects"] = head
	cut, _ := json.Marshal(b)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(cut))
	if err != nil {
		return []error{err}
	}
	if err := v.bundle.Validate(doc); err != nil {
		errs = append(errs, fmt.Errorf("bundle: %w", err))
	}
	for i, o := range objects {
		if err := v.Object(o); err != nil {
			errs = append(errs, fmt.Errorf("objects[%d]: %w", i, err))
		}
	}
	return errs
}
