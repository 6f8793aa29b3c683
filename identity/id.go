package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"golang.org/x/crypto/sha3"
)

// Specification constants: rend-spec-v3 §6 "Encoding onion addresses".
const (
	onionVersion       = 0x03
	onionChecksumLabel = ".onion checksum"
	onionSuffix        = ".onion"
	// OnionLen is the length of an onion address without the ".onion" suffix.
	OnionLen = 56
)

// IDSize is the size of an ID in bytes: an Ed25519 public key.
const IDSize = ed25519.PublicKeySize

// onionEncoding is RFC 4648 base32 without padding, as tor writes it (lower case).
var onionEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// ErrInvalidID is wrapped by every error that rejects an address or public key.
var ErrInvalidID = errors.New("identity: invalid peer id")

// ID is a peer's public identity: the canonical encoding of an Ed25519 point
// of the prime-order subgroup, other than the identity (docs/protocol.md §1.3). The zero ID is not valid; IsZero reports it. ID is a
// comparable value type, so it can key maps.
type ID struct {
	key [IDSize]byte
}

// NewID returns the ID for a raw 32-byte Ed25519 public key, refusing
// non-canonical encodings, points of small order and points with a torsion
// component (docs/protocol.md §1.3).
func NewID(pub []byte) (ID, error) {
	if len(pub) != IDSize {
		return ID{}, fmt.Errorf("%w: public key is %d bytes, want %d", ErrInvalidID, len(pub), IDSize)
	}
	if err := checkPublicKeyCached(pub); err != nil {
		return ID{}, err
	}
	var id ID
	copy(id.key[:], pub)
	return id, nil
}

// ParseID reads an onion address. It forgives upper case, surrounding
// whitespace and a missing ".onion" suffix, and rejects a wrong length, bad
// base32, a wrong version byte, a bad checksum and unusable public keys.
func ParseID(s string) (ID, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimSuffix(s, onionSuffix)
	if len(s) != OnionLen {
		return ID{}, fmt.Errorf("%w: an onion address has %d characters before .onion, got %d", ErrInvalidID, OnionLen, len(s))
	}
	raw, err := onionEncoding.DecodeString(strings.ToUpper(s))
	if err != nil || len(raw) != IDSize+3 {
		return ID{}, fmt.Errorf("%w: not base32", ErrInvalidID)
	}
	pub, sum, ver := raw[:IDSize], raw[IDSize:IDSize+2], raw[IDSize+2]
	if ver != onionVersion {
		return ID{}, fmt.Errorf("%w: onion version %d, only v3 is supported", ErrInvalidID, ver)
	}
	want := onionChecksum(pub)
	if subtle.ConstantTimeCompare(sum, want[:2]) != 1 {
		return ID{}, fmt.Errorf("%w: checksum mismatch (a typo in the address?)", ErrInvalidID)
	}
	return NewID(pub)
}

func onionChecksum(pub []byte) [32]byte {
	h := sha3.New256()
	h.Write([]byte(onionChecksumLabel))
	h.Write(pub)
	h.Write([]byte{onionVersion})
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Onion returns the 56-character service ID without the ".onion" suffix, the
// form tor's control port uses.
func (id ID) Onion() string {
	sum := onionChecksum(id.key[:])
	buf := make([]byte, 0, IDSize+3)
	buf = append(buf, id.key[:]...)
	buf = append(buf, sum[0], sum[1], onionVersion)
	return strings.ToLower(onionEncoding.EncodeToString(buf))
}

// String returns the canonical onion address, "<56 chars>.onion".
func (id ID) String() string { return id.Onion() + onionSuffix }

// Short returns a short form for logs and UIs: the first and last four
// characters of the address. It identifies a peer to its operator without
// writing the full address into logs.
func (id ID) Short() string {
	s := id.Onion()
	return s[:4] + "…" + s[OnionLen-4:]
}

// LogValue logs only the short form.
func (id ID) LogValue() slog.Value { return slog.StringValue(id.Short()) }

// Bytes returns a copy of the raw public key.
func (id ID) Bytes() []byte { return bytes.Clone(id.key[:]) }

// PublicKey returns the key for ed25519.Verify.
func (id ID) PublicKey() ed25519.PublicKey { return ed25519.PublicKey(id.Bytes()) }

// Hex returns the public key in lower-case hex.
func (id ID) Hex() string { return hex.EncodeToString(id.key[:]) }

// IsZero reports whether id is the zero value, which no parser returns.
func (id ID) IsZero() bool { return id == ID{} }

// Compare orders IDs by their raw bytes.
func (id ID) Compare(o ID) int { return bytes.Compare(id.key[:], o.key[:]) }

// Verify reports whether sig is id's valid signature of msg, by the rules of
// docs/protocol.md §1.3: Go's crypto/ed25519 (S < ℓ, R compared with the
// canonical encoding of [S]B − [k]A, no cofactor), and R not of small order.
// Every signature GhostWire checks goes through here. The zero ID verifies
// nothing.
func (id ID) Verify(msg, sig []byte) bool {
	if id.IsZero() || len(sig) != ed25519.SignatureSize || smallOrderEncoding(sig[:32]) {
		return false
	}
	return ed25519.Verify(id.key[:], msg, sig)
}

// MarshalText encodes the canonical onion address.
func (id ID) MarshalText() ([]byte, error) {
	if id.IsZero() {
		return nil, fmt.Errorf("%w: zero id", ErrInvalidID)
	}
	return []byte(id.String()), nil
}

// UnmarshalText parses as ParseID does.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// MarshalBinary returns the raw 32-byte public key; wire formats carry IDs
// this way.
func (id ID) MarshalBinary() ([]byte, error) {
	if id.IsZero() {
		return nil, fmt.Errorf("%w: zero id", ErrInvalidID)
	}
	return id.Bytes(), nil
}

// UnmarshalBinary checks the raw public key as NewID does.
func (id *ID) UnmarshalBinary(b []byte) error {
	v, err := NewID(b)
	if err != nil {
		return err
	}
	*id = v
	return nil
}
