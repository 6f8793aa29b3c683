package item

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/wire"
)

// Specification constants, docs/protocol.md §5.
const (
	// signLabel prefixes the signing input (§5.2) so an item signature can
	// never be mistaken for a signature over any other GhostWire structure.
	signLabel = "ghostwire item v1\x00"

	// MaxPayload is the largest payload an item may carry (§5.4).
	MaxPayload = 64 << 10
	// MaxSize is the largest encoded item (§5.4): the payload plus room for
	// the other fields, which take at most 290 bytes with a subkey
	// certificate (§5.9). Decode refuses longer input before parsing it.
	MaxSize = MaxPayload + 512
	// MaxFutureSkew is how far ahead of the verifier's clock an item's
	// creation time may be (§5.4). Tor hides no clocks but peers drift; ten
	// minutes tolerates drift and still stops an author from pinning an
	// update in the far future, where it would win every LWW contest.
	MaxFutureSkew = 10 * time.Minute
	// SpaceSize is the size of a space identifier.
	SpaceSize = 32
	// IDSize is the size of an item ID.
	IDSize = sha256.Size
	// SigSize is the size of the Ed25519 signature.
	SigSize = 64
)

// Errors. Callers branch on them: a malformed or forged item marks the peer
// that sent it as misbehaving, a future one may simply be retried later.
var (
	// ErrMalformed: the bytes are not a canonical item encoding, or a field
	// has the wrong size or an invalid value.
	ErrMalformed = errors.New("item: malformed")
	// ErrTooLarge: the item or its payload exceeds MaxSize or MaxPayload.
	ErrTooLarge = errors.New("item: too large")
	// ErrBadSignature: the signature does not verify under the author.
	ErrBadSignature = errors.New("item: bad signature")
	// ErrFuture: the creation time is more than MaxFutureSkew ahead of the
	// verifier's clock.
	ErrFuture = errors.New("item: created in the future")
)

// Space says which conversation, room or collection an item belongs to. Sync
// reconciles per space (docs/protocol.md §6).
type Space [SpaceSize]byte

// Scope names one set of item IDs that two peers reconcile as a unit: a
// space seen through one visibility class (docs/protocol.md §10.1). The node
// decides which scopes an item belongs to and which a peer may see, the
// store indexes items by scope, and the sync session reconciles them.
type Scope [32]byte

// ID identifies an item: SHA-256 of its canonical encoding (§5.3).
type ID [IDSize]byte

// String returns the ID in lower-case hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Compare orders IDs by their bytes.
func (id ID) Compare(o ID) int { return bytes.Compare(id[:], o[:]) }

// Item is a signed record. Its fields are read-only: an Item is immutable
// once made, and the accessors return copies where a caller could otherwise
// change it. An Item is safe for concurrent use.
type Item struct {
	author  identity.ID
	kind    Kind
	space   Space
	created uint64 // Unix milliseconds
	payload []byte
	sig     []byte
	cert    *Cert // nil when the author signed; else the subkey that did (§5.9)
	raw     []byte
	id      ID
}

// Signer is what New needs of a key: ID is the item's author, Sign makes
// its signature. *identity.PrivateKey (the identity signing for itself) and
// *Subkey (a certified subkey signing for it) implement it.
type Signer interface {
	ID() identity.ID
	Sign(msg []byte) []byte
}

// certifiedSigner is a Signer whose signatures verify under a subkey, not
// under ID: New carries its certificate in the item.
type certifiedSigner interface {
	Signer
	Cert() Cert
}

// New builds and signs an item. created is rounded down to the millisecond
// (the wire resolution) and must not be before the Unix epoch. A *Subkey
// signer puts its certificate in the item and must cover created (else
// ErrBadSigner).
func New(key Signer, kind Kind, space Space, created time.Time, payload []byte) (*Item, error) {
	if kind == 0 {
		return nil, fmt.Errorf("%w: kind 0", ErrMalformed)
	}
	if len(payload) > MaxPayload {
		return nil, fmt.Errorf("%w: payload is %d bytes, limit %d", ErrTooLarge, len(payload), MaxPayload)
	}
	ms := created.UnixMilli()
	if ms < 0 {
		return nil, fmt.Errorf("%w: created before 1970", ErrMalformed)
	}
	w := wireItem{
		Author:  key.ID().Bytes(),
		Kind:    uint64(kind),
		Space:   bytes.Clone(space[:]),
		Created: uint64(ms),
		Payload: bytes.Clone(payload),
	}
	if cs, ok := key.(certifiedSigner); ok {
		c := cs.Cert()
		if ms < c.NotBefore.UnixMilli() || ms > c.NotAfter.UnixMilli() {
			return nil, fmt.Errorf("%w: created %s, outside the subkey's window %s to %s", ErrBadSigner,
				created.UTC().Format(time.RFC3339), c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339))
		}
		w.Cert = c.toWire()
	}
	msg, err := signingInput(&w)
	if err != nil {
		return nil, err
	}
	w.Sig = key.Sign(msg)
	raw, err := wire.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("item: encode: %w", err)
	}
	if len(raw) > MaxSize {
		panic("bug: item over MaxSize with payload under MaxPayload")
	}
	return fromWire(&w, raw)
}

// Decode parses an item's canonical encoding. It checks the encoding, the
// sizes and the author's key, but not the signature or the clock: call
// Verify. Decode keeps its own copy of b.
func Decode(b []byte) (*Item, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), MaxSize)
	}
	var w wireItem
	if err := wire.UnmarshalCanonical(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return fromWire(&w, bytes.Clone(b))
}

func fromWire(w *wireItem, raw []byte) (*Item, error) {
	author, err := identity.NewID(w.Author)
	if err != nil {
		return nil, fmt.Errorf("%w: author: %v", ErrMalformed, err)
	}
	switch {
	case w.Kind == 0 || w.Kind > uint64(^Kind(0)):
		return nil, fmt.Errorf("%w: kind %d", ErrMalformed, w.Kind)
	case len(w.Space) != SpaceSize:
		return nil, fmt.Errorf("%w: space is %d bytes, want %d", ErrMalformed, len(w.Space), SpaceSize)
	case len(w.Sig) != SigSize:
		return nil, fmt.Errorf("%w: signature is %d bytes, want %d", ErrMalformed, len(w.Sig), SigSize)
	case w.Created > maxCreated:
		return nil, fmt.Errorf("%w: creation time out of range", ErrMalformed)
	case len(w.Payload) > MaxPayload:
		return nil, fmt.Errorf("%w: payload is %d bytes, limit %d", ErrTooLarge, len(w.Payload), MaxPayload)
	}
	var cert *Cert
	if w.Cert != nil {
		c, err := certFromWire(w.Cert)
		if err != nil {
			return nil, err
		}
		cert = &c
	}
	it := &Item{
		cert:    cert,
		author:  author,
		kind:    Kind(w.Kind),
		created: w.Created,
		payload: w.Payload,
		sig:     w.Sig,
		raw:     raw,
		id:      sha256.Sum256(raw),
	}
	copy(it.space[:], w.Space)
	return it, nil
}

// maxCreated keeps creation times representable as a time.Time and an int64
// of milliseconds (year 292 million); anything later is malformed.
const maxCreated = 1<<63 - 1

// Verify checks the signature, that the item was not created more than
// MaxFutureSkew after now, and the payload of the kinds this package defines
// (tombstones). When a subkey signed, it first checks the certificate
// (§5.9): signed by the author, for item signing, covering the creation
// time. It does not know about revocations: that is the trust service's
// check, on Signer. It wraps ErrBadSigner, ErrBadSignature, ErrFuture or
// ErrMalformed.
func (it *Item) Verify(now time.Time) error {
	if it.cert != nil {
		if err := it.cert.check(it.author, it.created); err != nil {
			return err
		}
	}
	w := it.toWire()
	w.Sig = nil
	msg, err := signingInput(&w)
	if err != nil {
		return err
	}
	if !it.Signer().Verify(msg, it.sig) {
		return ErrBadSignature
	}
	if it.kind == KindTombstone {
		if _, err := TombstoneTarget(it); err != nil {
			return err
		}
	}
	if limit := now.Add(MaxFutureSkew).UnixMilli(); int64(it.created) > limit {
		return fmt.Errorf("%w: created %s, %s ahead of this clock (limit %s)",
			ErrFuture, it.Created().UTC().Format(time.RFC3339), it.Created().Sub(now).Round(time.Second), MaxFutureSkew)
	}
	return nil
}

// signingInput is the byte string the signer signs (§5.2): the label, then
// the canonical encoding of every field except the signature (the subkey
// certificate included).
func signingInput(w *wireItem) ([]byte, error) {
	if w.Sig != nil {
		panic("bug: signing input with a signature")
	}
	body, err := wire.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("item: encode: %w", err)
	}
	return append([]byte(signLabel), body...), nil
}

func (it *Item) toWire() wireItem {
	w := wireItem{
		Author:  it.author.Bytes(),
		Kind:    uint64(it.kind),
		Space:   it.space[:],
		Created: it.created,
		Payload: it.payload,
		Sig:     it.sig,
	}
	if it.cert != nil {
		w.Cert = it.cert.toWire()
	}
	return w
}

// ID returns the item's ID.
func (it *Item) ID() ID { return it.id }

// Author returns the identity the item is by: the signer, or the identity
// that certified the subkey that signed it.
func (it *Item) Author() identity.ID { return it.author }

// Signer returns the key whose signature the item carries: the author, or
// the certified subkey. The trust service checks it against revocations.
func (it *Item) Signer() identity.ID {
	if it.cert != nil {
		return it.cert.Key
	}
	return it.author
}

// Cert returns the subkey certificate the item carries, or false when the
// author signed it directly.
func (it *Item) Cert() (Cert, bool) {
	if it.cert == nil {
		return Cert{}, false
	}
	return *it.cert, true
}

// Kind returns the item's kind.
func (it *Item) Kind() Kind { return it.kind }

// Space returns the space the item belongs to.
func (it *Item) Space() Space { return it.space }

// Created returns the creation time (millisecond resolution, UTC).
func (it *Item) Created() time.Time { return time.UnixMilli(int64(it.created)).UTC() }

// CreatedMillis returns the creation time in Unix milliseconds, as encoded.
func (it *Item) CreatedMillis() uint64 { return it.created }

// Payload returns a copy of the payload.
func (it *Item) Payload() []byte { return bytes.Clone(it.payload) }

// Bytes returns a copy of the canonical encoding, the bytes the ID hashes.
func (it *Item) Bytes() []byte { return bytes.Clone(it.raw) }

// Size returns the length of the canonical encoding.
func (it *Item) Size() int { return len(it.raw) }
