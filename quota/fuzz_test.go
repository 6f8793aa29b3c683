package quota

import (
	"bytes"
	"testing"

	"github.com/ghostwire/ghostwire/wire"
)

// FuzzUsage: a stored count, read back from whatever the disk holds, never
// panics, and what decodes re-encodes to a form that decodes to the same.
func FuzzUsage(f *testing.F) {
	for _, u := range []usage{{}, {Items: 1, Bytes: 300}, {Items: 50_000, Bytes: 128 << 20}} {
		b, err := wire.Marshal(u)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var u usage
		if wire.Unmarshal(b, &u) != nil {
			return
		}
		enc, err := wire.Marshal(u)
		if err != nil {
			t.Fatal(err)
		}
		var v usage
		if err := wire.Unmarshal(enc, &v); err != nil || v != u {
			t.Fatalf("round trip: %+v → %+v (%v)", u, v, err)
		}
		if again, _ := wire.Marshal(v); !bytes.Equal(enc, again) {
			t.Fatalf("re-encoding changed: %x → %x", enc, again)
		}
	})
}
