package dm

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/wire"
)

// TestTTL: the spellings ParseTTL reads, and the range every timer is
// checked against (one minute to 365 days): "30s" parses and is refused
// as too short.
func TestTTL(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		inRange bool
	}{
		{"30s", 30 * time.Second, false},
		{"59s", 59 * time.Second, false},
		{"60s", time.Minute, true},
		{"1m", time.Minute, true},
		{"10m", 10 * time.Minute, true},
		{" 24h ", 24 * time.Hour, true},
		{"1h30m", 90 * time.Minute, true},
		{"7d", 7 * 24 * time.Hour, true},
		{"365d", MaxTTL, true},
		{"366d", 366 * 24 * time.Hour, false},
		{"8761h", 8761 * time.Hour, false},
		{"90500ms", 90500 * time.Millisecond, false}, // not whole seconds
	} {
		got, err := ParseTTL(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseTTL(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			continue
		}
		_, err = Timer{TTL: got}.check()
		if (err == nil) != tc.inRange {
			t.Errorf("%q: check says %v, want in range %v", tc.in, err, tc.inRange)
		}
		if err != nil && fault.KindOf(err) != fault.Invalid {
			t.Errorf("%q: %v is not an invalid-request error", tc.in, err)
		}
	}
	for _, bad := range []string{"", "ten minutes", "-5m", "0", "0m", "d", "1.5d", "99999d"} {
		if d, err := ParseTTL(bad); err == nil {
			if _, err := (Timer{TTL: d}).check(); err == nil {
				t.Errorf("%q accepted as %v", bad, d)
			}
		}
	}
	if got, err := (Timer{AfterRead: true}).check(); err != nil || got.TTL != MaxTTL {
		t.Errorf("after-read alone: %v, %v; want the longest timer", got, err)
	}
	for _, d := range []time.Duration{time.Minute, 10 * time.Minute, 24 * time.Hour, 7 * 24 * time.Hour, 90 * time.Minute} {
		if back, err := ParseTTL(FormatTTL(d)); err != nil || back != d {
			t.Errorf("FormatTTL(%v) = %q reads back as %v", d, FormatTTL(d), back)
		}
	}
}

// FuzzBurnPayload: the burnable message payload (docs/protocol.md §5.11)
// decodes only in its canonical form, and what decodes re-encodes to the
// same bytes.
func FuzzBurnPayload(f *testing.F) {
	good, _ := encodeBurn(Timer{AfterRead: true, TTL: time.Hour}, []byte("sealed"))
	f.Add(good)
	plain, _ := encodeBurn(Timer{TTL: MaxTTL}, []byte{1})
	f.Add(plain)
	low, _ := wire.Marshal(burnPayload{TTL: 59, Sealed: []byte{1}})
	f.Add(low)
	var vs []burnVector
	raw, _ := os.ReadFile(burnVectorFile)
	json.Unmarshal(raw, &vs)
	for _, v := range vs {
		if b, err := hex.DecodeString(v.Payload); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tm, sealed, err := decodeBurn(b)
		if err != nil {
			return
		}
		if tm.TTL < MinTTL || tm.TTL > MaxTTL || len(sealed) == 0 {
			t.Fatalf("decoded an out-of-range payload: %+v", tm)
		}
		again, err := encodeBurn(tm, sealed)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("decode→encode changed the bytes: %x → %x", b, again)
		}
		for i := range len(b) {
			if _, _, err := decodeBurn(b[:i]); err == nil {
				t.Fatalf("a strict prefix (%d of %d bytes) decodes", i, len(b))
			}
		}
	})
}
