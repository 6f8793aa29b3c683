package keys

import (
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/wire"
)

// MaxReason bounds a revocation's reason (§5.12): a sentence for a person,
// not a document.
const MaxReason = 256

// ErrInvalid: the item is not a revocation by §5.12. The reason is for our
// log; a peer that sent it is told nothing more.
var ErrInvalid = errors.New("keys: invalid revocation")

// ErrNotIdentity: a revocation signed by a subkey. Only the identity key
// revokes, so that a stolen subkey cannot revoke its owner's other keys
// or the identity itself.
var ErrNotIdentity = errors.New("keys: a revocation must be signed by the identity key itself, not by a subkey")

// Revocation is an identity's statement that one of its keys (a subkey, or
// the identity itself) must not be trusted for anything it signed from At
// on.
type Revocation struct {
	Author  identity.ID // who revokes: the item's author
	Subject identity.ID // the revoked key: a subkey of Author, or Author
	At      time.Time   // from when (inclusive, millisecond resolution)
	Reason  string
}

// Identity reports whether the revocation revokes its author's identity.
func (r Revocation) Identity() bool { return r.Subject == r.Author }

// wireRevocation is a revocation's payload, docs/protocol.md §5.12.
type wireRevocation struct {
	Subject []byte `cbor:"1,keyasint"`
	At      uint64 `cbor:"2,keyasint"`
	Reason  string `cbor:"3,keyasint"`
}

// NewRevocation signs, with the identity key, a revocation of subject from
// at on, in the keys space. at may not be after created: a revocation
// states what is already so, and one dated ahead would let the revoked key
// sign on meanwhile.
func NewRevocation(id *identity.PrivateKey, subject identity.ID, at time.Time, reason string, created time.Time) (*item.Item, error) {
	w := wireRevocation{Subject: subject.Bytes(), At: uint64(max(at.UnixMilli(), 0)), Reason: reason}
	if err := checkFields(&w, uint64(created.UnixMilli())); err != nil {
		return nil, err
	}
	b, err := wire.Marshal(&w)
	if err != nil {
		return nil, err
	}
	return item.New(id, item.KindRevocation, item.KeysSpace(), created, b)
}

// RevocationOf reads a verified revocation item (§5.12): the keys space,
// signed by its author's identity key (no subkey certificate), and a
// strictly decoded payload whose time is not after the item's.
func RevocationOf(it *item.Item) (Revocation, error) {
	if it.Kind() != item.KindRevocation || it.Space() != item.KeysSpace() {
		return Revocation{}, fmt.Errorf("%w: a %s outside the keys space is not a revocation", ErrInvalid, it.Kind())
	}
	if _, ok := it.Cert(); ok {
		return Revocation{}, ErrNotIdentity
	}
	w, err := decode(it.Payload())
	if err != nil {
		return Revocation{}, err
	}
	if err := checkFields(w, it.CreatedMillis()); err != nil {
		return Revocation{}, err
	}
	sub, _ := identity.NewID(w.Subject) // checked by decode
	return Revocation{Author: it.Author(), Subject: sub, At: time.UnixMilli(int64(w.At)).UTC(), Reason: w.Reason}, nil
}

// decode reads a payload strictly: canonical CBOR, every key present, no
// other key, a valid subject key and reason.
func decode(b []byte) (*wireRevocation, error) {
	var w wireRevocation
	if err := wire.UnmarshalCanonical(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, err := identity.NewID(w.Subject); err != nil {
		return nil, fmt.Errorf("%w: subject: %v", ErrInvalid, err)
	}
	return &w, checkFields(&w, ^uint64(0)>>1)
}

// checkFields checks what the CBOR decoder cannot: the reason's text and
// length, and that the time is not after created.
func checkFields(w *wireRevocation, created uint64) error {
	switch {
	case w.At > created:
		return fmt.Errorf("%w: revoked from %d, after the revocation was made (%d)", ErrInvalid, w.At, created)
	case w.Reason == "" || len(w.Reason) > MaxReason:
		return fmt.Errorf("%w: the reason is %d bytes; give one of 1 to %d", ErrInvalid, len(w.Reason), MaxReason)
	case !utf8.ValidString(w.Reason):
		return fmt.Errorf("%w: the reason is not UTF-8", ErrInvalid)
	}
	for _, r := range w.Reason {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: the reason has a control character", ErrInvalid)
		}
	}
	return nil
}
