package store

import (
	"bytes"
	"testing"
)

// FuzzParseMarker: the marker file is read from disk, where damage can put
// anything. No input panics, and an accepted one is canonical: it formats
// back to the same bytes, so two spellings of one marker cannot both pass.
func FuzzParseMarker(f *testing.F) {
	valid := formatMarker(marker{id: [16]byte{1, 2, 3}, puts: 4500, vlog: vlogStat{max: 3, files: 2, bytes: 2097152}})
	f.Add(valid)
	f.Add(formatMarker(marker{}))
	f.Add(valid[:len(valid)/2])
	f.Add(bytes.Replace(valid, []byte("items"), []byte("items "), 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, ok := parseMarker(b)
		if ok && !bytes.Equal(formatMarker(m), b) {
			t.Fatalf("accepted a non-canonical marker:\n%q\nformats as\n%q", b, formatMarker(m))
		}
	})
}

// TestParseMarkerEdges: every strict prefix of a valid marker, and a
// marker with one byte changed, is refused.
func TestParseMarkerEdges(t *testing.T) {
	valid := formatMarker(marker{id: [16]byte{0xab}, puts: 12, vlog: vlogStat{max: 1, files: 1, bytes: 30}})
	if _, ok := parseMarker(valid); !ok {
		t.Fatalf("refused a valid marker %q", valid)
	}
	for i := range len(valid) {
		if _, ok := parseMarker(valid[:i]); ok {
			t.Errorf("accepted the %d-byte prefix %q", i, valid[:i])
		}
		b := bytes.Clone(valid)
		b[i] ^= 0x01
		if _, ok := parseMarker(b); ok {
			t.Errorf("accepted a marker with byte %d changed: %q", i, b)
		}
	}
}

// FuzzParseChecksum: a table's footer checksum comes from a file that may
// be damaged; no input panics.
func FuzzParseChecksum(f *testing.F) {
	f.Add([]byte{0x08, 0x00, 0x10, 0x96, 0x01})
	f.Add([]byte{0x08, 0x01, 0x10, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{0x10})
	f.Fuzz(func(t *testing.T, b []byte) {
		parseChecksum(b)
	})
}

// FuzzParseRecord: the record inside badger; any 32 bytes are a record,
// and it formats back to them.
func FuzzParseRecord(f *testing.F) {
	f.Add(record{id: [16]byte{9}, puts: 3, live: 2}.bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, ok := parseRecord(b)
		if ok != (len(b) == 32) || ok && !bytes.Equal(r.bytes(), b) {
			t.Fatalf("parseRecord(%x) = %+v, %v", b, r, ok)
		}
	})
}
