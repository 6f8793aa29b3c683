package syncproto

import (
	"crypto/mlkem"
	"fmt"

	"github.com/ghostwire/ghostwire/wire"
)

// Handshake message types, the first field of every handshake message
// (docs/protocol.md §3.3). A message is refused unless its type is the one
// the receiver's state expects, so a message reflected to its sender or
// played at the wrong step is refused before anything else is looked at.
const (
	typeInitiatorHello = 1
	typeResponderHello = 2
	typeResponderAuth  = 3
	typeInitiatorAuth  = 4
)

// Sizes fixed by the primitives.
const (
	x25519Size  = 32
	mlkemEKSize = mlkem.EncapsulationKeySize768
	mlkemCTSize = mlkem.CiphertextSize768
	sigSize     = 64
	maxVersions = 8
)

// initiatorHello is message 1, sent in clear. docs/protocol.md §3.3.1.
type initiatorHello struct {
	Type     uint   `cbor:"1,keyasint"`
	Versions []uint `cbor:"2,keyasint"`
	X25519   []byte `cbor:"3,keyasint"`
	MLKEM    []byte `cbor:"4,keyasint"`
	Purpose  uint   `cbor:"5,keyasint"`
}

// responderHello is message 2, sent in clear. docs/protocol.md §3.3.2.
type responderHello struct {
	Type    uint   `cbor:"1,keyasint"`
	Version uint   `cbor:"2,keyasint"`
	X25519  []byte `cbor:"3,keyasint"`
	MLKEM   []byte `cbor:"4,keyasint"`
}

// auth is the plaintext of messages 3 and 4, each sealed under its
// sender's handshake key. docs/protocol.md §3.3.3 and §3.3.4.
type auth struct {
	Type      uint   `cbor:"1,keyasint"`
	ID        []byte `cbor:"2,keyasint"`
	Signature []byte `cbor:"3,keyasint"`
}

// decodeInitiatorHello parses and checks message 1's shape: canonical CBOR,
// the right type, 1..8 strictly ascending non-zero versions, exact key
// sizes and a non-zero purpose. Key material is validated later, uniformly,
// by the key exchange; whether the purpose is accepted, by the responder's
// Config.
func decodeInitiatorHello(b []byte) (*initiatorHello, error) {
	var m initiatorHello
	if err := wire.UnmarshalCanonical(b, &m); err != nil {
		return nil, err
	}
	if m.Type != typeInitiatorHello {
		return nil, fmt.Errorf("message type %d, want %d", m.Type, typeInitiatorHello)
	}
	if len(m.Versions) == 0 || len(m.Versions) > maxVersions {
		return nil, fmt.Errorf("%d versions offered, want 1..%d", len(m.Versions), maxVersions)
	}
	for i, v := range m.Versions {
		if v == 0 || (i > 0 && v <= m.Versions[i-1]) {
			return nil, fmt.Errorf("version list not strictly ascending and non-zero")
		}
	}
	if len(m.X25519) != x25519Size || len(m.MLKEM) != mlkemEKSize {
		return nil, fmt.Errorf("key share sizes %d/%d, want %d/%d", len(m.X25519), len(m.MLKEM), x25519Size, mlkemEKSize)
	}
	if m.Purpose == 0 {
		return nil, fmt.Errorf("no purpose named")
	}
	return &m, nil
}

// decodeResponderHello parses and checks message 2's shape.
func decodeResponderHello(b []byte) (*responderHello, error) {
	var m responderHello
	if err := wire.UnmarshalCanonical(b, &m); err != nil {
		return nil, err
	}
	if m.Type != typeResponderHello {
		return nil, fmt.Errorf("message type %d, want %d", m.Type, typeResponderHello)
	}
	if len(m.X25519) != x25519Size || len(m.MLKEM) != mlkemCTSize {
		return nil, fmt.Errorf("key share sizes %d/%d, want %d/%d", len(m.X25519), len(m.MLKEM), x25519Size, mlkemCTSize)
	}
	return &m, nil
}

// decodeAuth parses the plaintext of message 3 or 4 and checks its type
// and field sizes; the identity is checked by the caller.
func decodeAuth(b []byte, typ uint) (*auth, error) {
	var m auth
	if err := wire.UnmarshalCanonical(b, &m); err != nil {
		return nil, err
	}
	if m.Type != typ {
		return nil, fmt.Errorf("message type %d, want %d", m.Type, typ)
	}
	if len(m.Signature) != sigSize {
		return nil, fmt.Errorf("signature is %d bytes, want %d", len(m.Signature), sigSize)
	}
	return &m, nil
}

// mustMarshal encodes a handshake message; our own messages always encode.
func mustMarshal(v any) []byte {
	b, err := wire.Marshal(v)
	if err != nil {
		panic("bug: syncproto: " + err.Error())
	}
	return b
}
