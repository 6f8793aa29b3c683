package pairing

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// seedFuzz adds the recorded messages of one kind (testdata/cpace_v1.json)
// to f's corpus.
func seedFuzz(f *testing.F, kind string) {
	b, err := os.ReadFile(filepath.Join("testdata", "cpace_v1.json"))
	if err != nil {
		f.Fatal(err)
	}
	var v vectorFile
	if err := json.Unmarshal(b, &v); err != nil {
		f.Fatal(err)
	}
	for _, d := range v.Decode {
		if d.Message == kind {
			f.Add([]byte(d.Bytes))
		}
	}
}

// fuzzDecoder is the oracle every pairing decoder is held to: no panic;
// what it accepts re-encodes to the same bytes (one spelling per message);
// no strict prefix of an accepted message is accepted.
func fuzzDecoder[M any](f *testing.F, kind string, dec func([]byte) (*M, error)) {
	seedFuzz(f, kind)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := dec(b)
		if err != nil {
			return
		}
		if again := encode(m); !bytes.Equal(again, b) {
			t.Fatalf("accepted %x, which encodes back as %x", b, again)
		}
		for i := range len(b) {
			if _, err := dec(b[:i]); err == nil {
				t.Fatalf("accepted the %d-byte prefix of %x", i, b)
			}
		}
	})
}

func FuzzDecodeHello(f *testing.F)   { fuzzDecoder(f, "hello", decodeHello) }
func FuzzDecodeReply(f *testing.F)   { fuzzDecoder(f, "reply", decodeReply) }
func FuzzDecodeConfirm(f *testing.F) { fuzzDecoder(f, "confirm", decodeConfirm) }
func FuzzDecodeDone(f *testing.F)    { fuzzDecoder(f, "done", decodeDone) }

// FuzzDecodeShare: a share either decodes to a group element that is not
// the identity and encodes back to the same 32 bytes, or is refused.
func FuzzDecodeShare(f *testing.F) {
	f.Add(make([]byte, 32))
	f.Add(bytes.Repeat([]byte{0xff}, 32))
	seedFuzz(f, "hello")
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeShare(b)
		if err != nil {
			return
		}
		again, _ := e.MarshalBinaryCompress()
		if !bytes.Equal(again, b) || e.IsIdentity() {
			t.Fatalf("accepted share %x (identity %v), which encodes back as %x", b, e.IsIdentity(), again)
		}
	})
}
