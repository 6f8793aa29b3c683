package ioc

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/wire"
)

// wireRecord is the CBOR payload of an IOC item, docs/protocol.md §5.8. Every
// optional field is omitted when empty, so its absence is the only encoding
// of "none" and the canonical check holds. Confidence is a pointer because 0
// is a statement ("no confidence") distinct from none stated.
type wireRecord struct {
	Type          uint8    `cbor:"1,keyasint"`
	Value         string   `cbor:"2,keyasint"`
	TLP           uint8    `cbor:"3,keyasint"`
	Confidence    *uint8   `cbor:"4,keyasint,omitempty"`
	Tags          []string `cbor:"5,keyasint,omitempty"`
	Description   string   `cbor:"6,keyasint,omitempty"`
	ValidFrom     uint64   `cbor:"7,keyasint,omitempty"` // Unix ms
	ValidUntil    uint64   `cbor:"8,keyasint,omitempty"` // Unix ms
	References    []string `cbor:"9,keyasint,omitempty"`
	Recipients    [][]byte `cbor:"10,keyasint,omitempty"`
	Informational bool     `cbor:"11,keyasint,omitempty"`
	Collection    string   `cbor:"12,keyasint,omitempty"`
}

// Encode returns the canonical CBOR payload of r (docs/protocol.md §5.8). r must
// be valid (see Validate); Encode checks.
func (r *Record) Encode() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	w := wireRecord{
		Type:          uint8(r.Type),
		Value:         r.Value,
		TLP:           uint8(r.TLP),
		Tags:          r.Tags,
		Description:   r.Description,
		References:    r.References,
		Informational: r.Informational,
		Collection:    r.Collection,
	}
	if r.Confidence != NoConfidence {
		c := uint8(r.Confidence)
		w.Confidence = &c
	}
	if !r.ValidFrom.IsZero() {
		w.ValidFrom = uint64(r.ValidFrom.UnixMilli())
	}
	if !r.ValidUntil.IsZero() {
		w.ValidUntil = uint64(r.ValidUntil.UnixMilli())
	}
	for _, id := range r.Recipients {
		w.Recipients = append(w.Recipients, id.Bytes())
	}
	b, err := wire.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("ioc: encode: %w", err)
	}
	if len(b) > item.MaxPayload {
		return nil, fmt.Errorf("%w: payload is %d bytes, limit %d", ErrInvalid, len(b), item.MaxPayload)
	}
	return b, nil
}

// Decode parses an IOC payload. It is strict: the bytes must be the
// canonical encoding, and the record must pass Validate (in particular the
// value must already be normalised, so one indicator has one encoding).
// Errors wrap ErrInvalid.
func Decode(b []byte) (Record, error) {
	if len(b) > item.MaxPayload {
		return Record{}, fmt.Errorf("%w: payload is %d bytes, limit %d", ErrInvalid, len(b), item.MaxPayload)
	}
	var w wireRecord
	if err := wire.UnmarshalCanonical(b, &w); err != nil {
		return Record{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	r := Record{
		Type:          Type(w.Type),
		Value:         w.Value,
		TLP:           TLP(w.TLP),
		Confidence:    NoConfidence,
		Tags:          w.Tags,
		Description:   w.Description,
		References:    w.References,
		Informational: w.Informational,
		Collection:    w.Collection,
	}
	if w.Confidence != nil {
		r.Confidence = int(*w.Confidence)
	}
	const maxMillis = 1<<53 - 1 // far beyond any real date, and exact in every JSON reader
	for _, p := range []struct {
		ms  uint64
		dst *time.Time
	}{{w.ValidFrom, &r.ValidFrom}, {w.ValidUntil, &r.ValidUntil}} {
		if p.ms > maxMillis {
			return Record{}, fmt.Errorf("%w: time out of range", ErrInvalid)
		}
		if p.ms != 0 {
			*p.dst = time.UnixMilli(int64(p.ms)).UTC()
		}
	}
	for _, raw := range w.Recipients {
		id, err := identity.NewID(raw)
		if err != nil {
			return Record{}, fmt.Errorf("%w: recipient: %v", ErrInvalid, err)
		}
		r.Recipients = append(r.Recipients, id)
	}
	if err := r.Validate(); err != nil {
		return Record{}, err
	}
	return r, nil
}

// ErrSealRequired is returned by NewItem for AMBER, AMBER+STRICT and RED
// records, whose payload must be sealed to the recipients (package
// recipient) and carried in an item.KindIOCSealed item, never in the clear; and by
// FromItem for an item.KindIOCSealed item, which must be opened first.
var ErrSealRequired = errors.New("ioc: restricted TLP payload must be sealed to its recipients")

// NewItem signs a CLEAR or GREEN record as an IOC item in space.
func NewItem(key item.Signer, space item.Space, created time.Time, r *Record) (*item.Item, error) {
	if r.TLP.Restricted() {
		return nil, ErrSealRequired
	}
	p, err := r.Encode()
	if err != nil {
		return nil, err
	}
	return item.New(key, item.KindIOC, space, created, p)
}

// FromItem decodes the record of a plaintext (CLEAR or GREEN) IOC item. A
// restricted record found in the clear is refused: it would mean its author
// published it unsealed.
func FromItem(it *item.Item) (Record, error) {
	if it.Kind() == item.KindIOCSealed {
		return Record{}, ErrSealRequired
	}
	if it.Kind() != item.KindIOC {
		return Record{}, fmt.Errorf("%w: item kind %d is not an IOC", ErrInvalid, it.Kind())
	}
	r, err := Decode(it.Payload())
	if err != nil {
		return Record{}, err
	}
	if r.TLP.Restricted() {
		return Record{}, fmt.Errorf("%w: %s record in the clear", ErrInvalid, r.TLP)
	}
	return r, nil
}

// LogicalKey is the last-writer-wins key of an IOC item, plain or sealed
// (docs/protocol.md §5.8):
// one analyst's newest statement about one indicator in one collection
// supersedes their earlier ones.
func LogicalKey(it *item.Item, r *Record) item.Key {
	c := r.ContentID()
	return item.Key{Author: it.Author(), Kind: item.KindIOC, Space: it.Space(), Name: string(c[:])}
}

// sealLabel starts the additional data of a sealed IOC payload.
const sealLabel = "ghostwire ioc sealed v1\x00"

// SealAAD returns the additional data a sealed IOC payload is bound to
// (docs/protocol.md §5.8, §9.2): the label, the space and the author, so
// a sealed payload copied into another collection or under another
// author does not open.
func SealAAD(space item.Space, author identity.ID) []byte {
	aad := append([]byte(sealLabel), space[:]...)
	return append(aad, author.Bytes()...)
}

// FromSealed decodes the plaintext of a sealed IOC item (kind item.KindIOCSealed)
// once package recipient has opened it. stanzas are the recipients named
// in the sealed payload's stanzas; the record's own recipient list must be
// exactly that set, and its TLP must be restricted, so that what the
// sync engine enforces (the stanzas) is what the author stated (the
// record). The item must already be verified.
func FromSealed(it *item.Item, plaintext []byte, stanzas []identity.ID) (Record, error) {
	if it.Kind() != item.KindIOCSealed {
		return Record{}, fmt.Errorf("%w: item kind %d is not a sealed IOC", ErrInvalid, it.Kind())
	}
	r, err := Decode(plaintext)
	if err != nil {
		return Record{}, err
	}
	if !r.TLP.Restricted() {
		return Record{}, fmt.Errorf("%w: sealed item carries a %s record", ErrInvalid, r.TLP)
	}
	want := slices.Clone(stanzas)
	slices.SortFunc(want, identity.ID.Compare)
	if !slices.Equal(slices.Compact(want), r.Recipients) {
		return Record{}, fmt.Errorf("%w: sealed to other peers than the record names", ErrInvalid)
	}
	if r.Collection != "" && item.CollectionSpace(r.Collection) != it.Space() {
		return Record{}, fmt.Errorf("%w: the record names a collection other than the item's space", ErrInvalid)
	}
	return r, nil
}
