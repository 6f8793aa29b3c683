package syncproto

import (
	"bytes"
	"strings"
	"testing"
)

// TestExporter: both ends of a connection export the same bytes; another
// label, context, length or session gives unrelated ones; nil and empty
// contexts are the same; the limits hold at their edges.
func TestExporter(t *testing.T) {
	checkLeaks(t)
	c1, s1 := establish(t, nil)
	c2, s2 := establish(t, nil) // the same two identities, a second session

	type input struct {
		label   string
		context []byte
		length  int
	}
	inputs := map[string]input{
		"base":          {"ghostwire test exporter", []byte("context"), 32},
		"other label":   {"ghostwire other exporter", []byte("context"), 32},
		"other context": {"ghostwire test exporter", []byte("context2"), 32},
		"empty context": {"ghostwire test exporter", []byte{}, 32},
		"longer":        {"ghostwire test exporter", []byte("context"), 64},
		"longest":       {"x", nil, MaxExporterLength},
		"longest label": {strings.Repeat("l", MaxExporterLabel), nil, 1},
	}
	seen := map[string]string{} // first 16 bytes of every output → who made it
	for name, in := range inputs {
		for _, sess := range []struct {
			name string
			c, s *Conn
		}{{"session 1", c1, s1}, {"session 2", c2, s2}} {
			a, err := sess.c.Exporter(in.label, in.context, in.length)
			if err != nil {
				t.Fatalf("%s, %s: initiator: %v", name, sess.name, err)
			}
			b, err := sess.s.Exporter(in.label, in.context, in.length)
			if err != nil {
				t.Fatalf("%s, %s: responder: %v", name, sess.name, err)
			}
			if len(a) != in.length || !bytes.Equal(a, b) {
				t.Fatalf("%s, %s: the two ends export %x and %x", name, sess.name, a, b)
			}
			who := name + ", " + sess.name
			if prev, ok := seen[string(a[:min(16, len(a))])]; ok {
				t.Errorf("%s exports what %s does", who, prev)
			}
			seen[string(a[:min(16, len(a))])] = who
		}
	}
	nilCtx, err := c1.Exporter("ghostwire test exporter", nil, 32)
	if err != nil {
		t.Fatal(err)
	}
	empty, _ := s1.Exporter("ghostwire test exporter", []byte{}, 32)
	if !bytes.Equal(nilCtx, empty) {
		t.Error("a nil context and an empty one export different bytes")
	}

	for _, bad := range []input{
		{"", nil, 32},
		{strings.Repeat("l", MaxExporterLabel+1), nil, 32},
		{"ghostwire test exporter", nil, 0},
		{"ghostwire test exporter", nil, -1},
		{"ghostwire test exporter", nil, MaxExporterLength + 1},
	} {
		if out, err := c1.Exporter(bad.label, bad.context, bad.length); err == nil {
			t.Errorf("%d-byte label, length %d: exported %d bytes, want an error", len(bad.label), bad.length, len(out))
		}
	}

	// The exporter outlives the channel: a layer above may derive after
	// the session ended.
	c1.Close()
	if after, err := c1.Exporter("ghostwire test exporter", nil, 32); err != nil || !bytes.Equal(after, nilCtx) {
		t.Errorf("after Close: %x, %v; want %x", after, err, nilCtx)
	}
}
