package pairing

// The four pairing messages (docs/protocol.md §12.5.3): their CBOR form and
// strict decoders. Each is one channel frame on a connection of purpose
// pairing.

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ghostwire/ghostwire/wire"
)

// Message types, §12.5.3.
const (
	typeHello   = 1 // joiner → offerer: nameplate, share
	typeReply   = 2 // offerer → joiner: share, confirmation
	typeConfirm = 3 // joiner → offerer: confirmation, name
	typeDone    = 4 // offerer → joiner: name
)

// MaxName bounds the name a device gives itself in pairing, in bytes; the
// same bound as a contact's local name.
const MaxName = 64

// maxMessage bounds a pairing message's frame: the largest, Confirm with a
// 64-byte name, is under 120 bytes.
const maxMessage = 256

// errMessage is wrapped by every decoding failure.
var errMessage = errors.New("pairing: malformed message")

type hello struct {
	Type      uint   `cbor:"1,keyasint"`
	Nameplate string `cbor:"2,keyasint"`
	Share     []byte `cbor:"3,keyasint"`
}

type reply struct {
	Type    uint   `cbor:"1,keyasint"`
	Share   []byte `cbor:"2,keyasint"`
	Confirm []byte `cbor:"3,keyasint"`
}

type confirm struct {
	Type    uint   `cbor:"1,keyasint"`
	Confirm []byte `cbor:"2,keyasint"`
	Name    string `cbor:"3,keyasint,omitempty"`
}

type done struct {
	Type uint   `cbor:"1,keyasint"`
	Name string `cbor:"2,keyasint,omitempty"`
}

// decode reads one message strictly: canonical CBOR (one spelling per
// value), no unknown key, the expected type.
func decode(b []byte, v any, typ uint, got func() uint) error {
	if len(b) > maxMessage {
		return fmt.Errorf("%w: %d bytes", errMessage, len(b))
	}
	if err := wire.UnmarshalCanonical(b, v); err != nil {
		return fmt.Errorf("%w: %v", errMessage, err)
	}
	if got() != typ {
		return fmt.Errorf("%w: type %d where %d was expected", errMessage, got(), typ)
	}
	return nil
}

func decodeHello(b []byte) (*hello, error) {
	var m hello
	if err := decode(b, &m, typeHello, func() uint { return m.Type }); err != nil {
		return nil, err
	}
	if !ValidNameplate(m.Nameplate) || len(m.Share) != ShareSize {
		return nil, fmt.Errorf("%w: hello fields out of range", errMessage)
	}
	return &m, nil
}

func decodeReply(b []byte) (*reply, error) {
	var m reply
	if err := decode(b, &m, typeReply, func() uint { return m.Type }); err != nil {
		return nil, err
	}
	if len(m.Share) != ShareSize || len(m.Confirm) != TagSize {
		return nil, fmt.Errorf("%w: reply fields out of range", errMessage)
	}
	return &m, nil
}

func decodeConfirm(b []byte) (*confirm, error) {
	var m confirm
	if err := decode(b, &m, typeConfirm, func() uint { return m.Type }); err != nil {
		return nil, err
	}
	if len(m.Confirm) != TagSize || !validName(m.Name) {
		return nil, fmt.Errorf("%w: confirm fields out of range", errMessage)
	}
	return &m, nil
}

func decodeDone(b []byte) (*done, error) {
	var m done
	if err := decode(b, &m, typeDone, func() uint { return m.Type }); err != nil {
		return nil, err
	}
	if !validName(m.Name) {
		return nil, fmt.Errorf("%w: done's name out of range", errMessage)
	}
	return &m, nil
}

// validName is what a device may call itself: at most MaxName bytes of
// UTF-8, trimmed, no control or bidi characters (they would act on the
// other side's terminal).
func validName(s string) bool {
	return len(s) <= MaxName && utf8.ValidString(s) && s == strings.TrimSpace(s) &&
		!strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) })
}

// encode marshals a message; our own messages always encode.
func encode(v any) []byte {
	b, err := wire.Marshal(v)
	if err != nil {
		panic("bug: pairing: encoding a message: " + err.Error())
	}
	return b
}
