package contacts

import (
	"bytes"
	"testing"

	"github.com/ghostwire/ghostwire/wire"
)

// The book's records are read back from the store, which a damaged disk
// (or another build) may have written: decoding them must never panic,
// and what decodes must survive a round trip byte for byte.

func FuzzRecord(f *testing.F) {
	for _, r := range []record{{}, {Name: "bob", Added: 1700000000}, {Name: "alice", Added: 1, State: uint8(Verified), Verified: 2}, {State: uint8(Revoked)}} {
		b, err := wire.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r record
		if wire.Unmarshal(b, &r) != nil {
			return
		}
		_ = State(r.State).String()
		_ = verifiedAt(r)
		roundTrip(t, r, new(record))
	})
}

func FuzzRequestRecord(f *testing.F) {
	for _, r := range []requestRecord{{}, {First: 1700000000, Last: 1700000060}} {
		b, err := wire.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r requestRecord
		if wire.Unmarshal(b, &r) != nil {
			return
		}
		roundTrip(t, r, new(requestRecord))
	})
}

// roundTrip encodes v, decodes it into fresh, and checks the second
// encoding is the first.
func roundTrip[T any](t *testing.T, v T, fresh *T) {
	t.Helper()
	enc, err := wire.Marshal(v)
	if err != nil {
		t.Fatalf("a decoded record does not encode: %v", err)
	}
	if err := wire.Unmarshal(enc, fresh); err != nil {
		t.Fatalf("a record's own encoding does not decode: %v", err)
	}
	again, err := wire.Marshal(*fresh)
	if err != nil || !bytes.Equal(enc, again) {
		t.Fatalf("round trip changed the encoding: %x → %x (%v)", enc, again, err)
	}
}
