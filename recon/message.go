package recon

import (
	"errors"
	"fmt"

	"github.com/ghostwire/ghostwire/wire"
)

// Type says what a Message is, docs/protocol.md §6.5.
type Type uint8

// Message types, §6.5.
const (
	TypeHello          Type = 1 // I→R: Count, Digest
	TypeEqual          Type = 2 // R→I: the sets are identical
	TypeEstimate       Type = 3 // R→I: Count, Data = sketch
	TypeSymbols        Type = 4 // I→R: Start, Data = coded symbols
	TypeMore           Type = 5 // R→I: decoding needs more symbols
	TypeFallback       Type = 6 // R→I: symbols decoded inconsistently; send a manifest
	TypeManifest       Type = 7 // either way: Count, Start, Data = ascending IDs
	TypeManifestResult Type = 8 // reply to a manifest: Start, Data2 = lacks-bitmap
	TypeResult         Type = 9 // R→I after decoding: Data2 = I-only IDs
)

// Message is one reconciliation message (§6.5). Which fields are used depends
// on Type; the others are zero. More is true on every message of a round but
// the last.
type Message struct {
	Type   Type
	More   bool
	Count  uint64
	Digest Digest
	Start  uint64
	Data   []byte
	Data2  []byte
}

// wireMessage is Message's CBOR form, §6.5.
type wireMessage struct {
	Type   uint64 `cbor:"1,keyasint"`
	More   bool   `cbor:"2,keyasint,omitempty"`
	Count  uint64 `cbor:"3,keyasint,omitempty"`
	Digest []byte `cbor:"4,keyasint,omitempty"`
	Start  uint64 `cbor:"5,keyasint,omitempty"`
	Data   []byte `cbor:"6,keyasint,omitempty"`
	Data2  []byte `cbor:"7,keyasint,omitempty"`
}

// ErrMalformed is wrapped by every error about a message that is not a valid
// §6.5 encoding.
var ErrMalformed = errors.New("recon: malformed message")

// Encode returns the message's canonical CBOR encoding.
func (m *Message) Encode() []byte {
	w := wireMessage{Type: uint64(m.Type), More: m.More, Count: m.Count, Start: m.Start, Data: m.Data, Data2: m.Data2}
	if m.Type == TypeHello {
		w.Digest = m.Digest[:]
	}
	b, err := wire.Marshal(&w)
	if err != nil {
		panic("bug: recon: encoding a message: " + err.Error())
	}
	return b
}

// fields lists which optional fields each type may carry: Count, Digest,
// Start, Data, Data2.
var fields = map[Type][5]bool{
	TypeHello:          {true, true, false, false, false},
	TypeEqual:          {},
	TypeEstimate:       {true, false, false, true, false},
	TypeSymbols:        {false, false, true, true, false},
	TypeMore:           {},
	TypeFallback:       {},
	TypeManifest:       {true, false, true, true, false},
	TypeManifestResult: {false, false, true, false, true},
	TypeResult:         {false, false, false, false, true},
}

// Decode parses a message. It accepts only the canonical encoding of a
// known type carrying only that type's fields, so decode→encode gives the
// same bytes; sizes within Data are checked by the state machines, which
// know the set sizes.
func Decode(b []byte) (Message, error) {
	var w wireMessage
	if err := wire.UnmarshalCanonical(b, &w); err != nil {
		return Message{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	f, ok := fields[Type(w.Type)]
	if !ok || w.Type > 0xff {
		return Message{}, fmt.Errorf("%w: unknown type %d", ErrMalformed, w.Type)
	}
	has := [5]bool{w.Count != 0, w.Digest != nil, w.Start != 0, w.Data != nil, w.Data2 != nil}
	for i := range has {
		if has[i] && !f[i] {
			return Message{}, fmt.Errorf("%w: type %d carries field %d", ErrMalformed, w.Type, []int{3, 4, 5, 6, 7}[i])
		}
	}
	m := Message{Type: Type(w.Type), More: w.More, Count: w.Count, Start: w.Start, Data: w.Data, Data2: w.Data2}
	if m.Type == TypeHello {
		if len(w.Digest) != len(m.Digest) {
			return Message{}, fmt.Errorf("%w: digest is %d bytes", ErrMalformed, len(w.Digest))
		}
		copy(m.Digest[:], w.Digest)
	}
	return m, nil
}

// messageOverhead bounds the CBOR bytes of a message besides Data and Data2:
// map head, the five small fields, and the two string heads.
const messageOverhead = 1 + 2 + 2 + 10 + 2 + 34 + 10 + 6 + 6
