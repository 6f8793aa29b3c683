package room

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/wire"
)

// fuzzKey is the author of the fuzzers' items: decoding is what is fuzzed, not
// signatures.
var fuzzKey = func() *identity.PrivateKey {
	k, err := identity.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	if err != nil {
		panic(err)
	}
	return k
}()

// fuzzSigner puts fuzzKey's ID and a fixed signature on the fuzzers'
// items. The decoders never check signatures (the item layer does, before
// them), and a real Ed25519 signature per input and per prefix was most of
// each input's cost.
type fuzzSigner struct{}

func (fuzzSigner) ID() identity.ID    { return fuzzKey.ID() }
func (fuzzSigner) Sign([]byte) []byte { return make([]byte, ed25519.SignatureSize) }

// fuzzNonce is the nonce of the room the fuzzers' items claim.
var fuzzNonce = bytes.Repeat([]byte{9}, NonceSize)

// fuzzDecoder runs one decoder over payloads: no panic, and whatever it
// accepts is canonical CBOR of its wire form, so it re-encodes to the same
// bytes and no strict prefix of it decodes (docs/protocol.md §13.2).
func fuzzDecoder[W any](f *testing.F, kind item.Kind, decode func(*item.Item) error) {
	for _, v := range loadVectors(f).Items {
		if v.Kind == uint32(kind) {
			it, err := item.Decode(v.Item)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(it.Payload())
		}
	}
	sp := Space(fuzzKey.ID(), fuzzNonce)
	f.Fuzz(func(t *testing.T, payload []byte) {
		it, err := item.New(fuzzSigner{}, kind, sp, time.UnixMilli(1), payload)
		if err != nil {
			return
		}
		if decode(it) != nil {
			return
		}
		var w W
		if err := wire.UnmarshalCanonical(payload, &w); err != nil {
			t.Fatalf("decoded, yet not canonical: %v", err)
		}
		again, err := wire.Marshal(&w)
		if err != nil || !bytes.Equal(again, payload) {
			t.Fatalf("decode→encode changed the bytes")
		}
		// Every decoder starts with this strict unmarshal of the payload
		// into W, so a prefix it refuses cannot decode: only a prefix it
		// accepts needs an item built (which, per byte, was the cost of
		// every accepted input).
		for i := range payload {
			var pw W
			if wire.UnmarshalCanonical(payload[:i], &pw) != nil {
				continue
			}
			if p, err := item.New(fuzzSigner{}, kind, sp, time.UnixMilli(1), payload[:i]); err == nil && decode(p) == nil {
				t.Fatalf("a %d-byte prefix of a %d-byte payload decodes", i, len(payload))
			}
		}
	})
}

func FuzzDecodeState(f *testing.F) {
	fuzzDecoder[wireState](f, KindState, func(it *item.Item) error { _, err := decodeState(it); return err })
}

func FuzzDecodeKeys(f *testing.F) {
	fuzzDecoder[wireKeys](f, KindKeys, func(it *item.Item) error { _, err := decodeKeys(it); return err })
}

func FuzzDecodeInvite(f *testing.F) {
	fuzzDecoder[wireInvite](f, KindInvite, func(it *item.Item) error { _, err := decodeInvite(it); return err })
}

func FuzzDecodeMark(f *testing.F) {
	fuzzDecoder[wireMark](f, KindLeave, func(it *item.Item) error { _, err := decodeMark(it); return err })
}

func FuzzDecodeMessage(f *testing.F) {
	// Timed messages (§13.6): a ttl alone, after-read with one, and the
	// edges of the range, on both sides.
	for _, w := range []wireMessage{{TTL: 600}, {TTL: 3600, AfterRead: true}, {TTL: 59}, {TTL: 31_536_001}, {AfterRead: true}} {
		w.Nonce, w.Ciphertext = make([]byte, 24), make([]byte, 16)
		b, err := wire.Marshal(w)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	fuzzDecoder[wireMessage](f, KindMessage, func(it *item.Item) error { _, err := decodeMessage(it); return err })
}

// FuzzDecodeBody fuzzes the opened body of a message: what a member could
// put under a valid key.
func FuzzDecodeBody(f *testing.F) {
	f.Add([]byte{0xa1, 0x01, 0x62, 'h', 'i'})
	f.Fuzz(func(t *testing.T, pt []byte) {
		if _, err := decodeBody(pt); err != nil {
			return
		}
		var w wireBody
		wire.UnmarshalCanonical(pt, &w)
		if again, _ := wire.Marshal(&w); !bytes.Equal(again, pt) {
			t.Fatal("decode→encode changed the bytes")
		}
	})
}

// FuzzRecord fuzzes the local record of a room as records reads it back
// from a damaged store: no panic, and nothing out of bounds parses.
func FuzzRecord(f *testing.F) {
	b, _ := wire.Marshal(wireRecord{Owner: fuzzKey.ID().Bytes(), Nonce: fuzzNonce, Name: "ops", Status: statusJoined})
	f.Add(b)
	f.Fuzz(func(t *testing.T, v []byte) {
		r, ok := parseRecord(make([]byte, item.SpaceSize), v)
		if ok && (len(r.members) > MaxMembers || r.owner == (identity.ID{})) {
			t.Fatalf("a record with %d members or no owner parsed", len(r.members))
		}
	})
}
