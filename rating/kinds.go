package rating

import (
	"errors"
	"fmt"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/wire"
)

// Verdict codes, docs/protocol.md §5.10. A sighting's are MISP's sighting
// types 0 and 1 plus one; MISP's type 2 (expiration) has no code: only an
// indicator's author says when it expires (valid_until), so a third
// party's "expired" is not a statement about the source.
const (
	Seen          = 1 // sighting: met in the wild (MISP type 0)
	FalsePositive = 2 // sighting: a false positive (MISP type 1)
	Good          = 1 // rating: a source to rely on
	Bad           = 2 // rating: a source not to rely on
)

// ErrInvalid: the payload is not a sighting or rating by §5.10. The reason
// is for our log; a peer that sent it is told nothing more.
var ErrInvalid = errors.New("rating: invalid")

// ErrSelf: a rating whose subject is its author. Nobody vouches for
// themselves: EigenTrust ignores it anyway, and refusing it says so.
var ErrSelf = errors.New("rating: a rating of yourself")

// Sighting is an analyst's verdict on one indicator statement (an IOC
// item), and through it on the statement's author.
type Sighting struct {
	Target  item.ID     // the IOC item
	Source  identity.ID // the IOC item's author
	Verdict int         // Seen or FalsePositive
}

// Rating is an analyst's verdict on a source.
type Rating struct {
	Subject identity.ID
	Verdict int // Good or Bad
}

// NewSighting signs a sighting in the reputation space.
func NewSighting(key item.Signer, s Sighting, created time.Time) (*item.Item, error) {
	if s.Verdict != Seen && s.Verdict != FalsePositive {
		return nil, fmt.Errorf("%w: sighting verdict %d", ErrInvalid, s.Verdict)
	}
	b, err := wire.Marshal(&wireSighting{Target: s.Target[:], Source: s.Source.Bytes(), Verdict: uint64(s.Verdict)})
	if err != nil {
		return nil, err
	}
	return item.New(key, item.KindSighting, item.ReputationSpace(), created, b)
}

// NewRating signs a rating in the reputation space. It fails with ErrSelf
// when key rates itself.
func NewRating(key item.Signer, r Rating, created time.Time) (*item.Item, error) {
	if r.Subject == key.ID() {
		return nil, ErrSelf
	}
	if r.Verdict != Good && r.Verdict != Bad {
		return nil, fmt.Errorf("%w: rating verdict %d", ErrInvalid, r.Verdict)
	}
	b, err := wire.Marshal(&wireRating{Subject: r.Subject.Bytes(), Verdict: uint64(r.Verdict)})
	if err != nil {
		return nil, err
	}
	return item.New(key, item.KindRating, item.ReputationSpace(), created, b)
}

// SightingOf decodes a verified sighting item's payload strictly (§5.10:
// canonical CBOR, no unknown keys, the reputation space, a known verdict).
func SightingOf(it *item.Item) (Sighting, error) {
	if it.Kind() != item.KindSighting || it.Space() != item.ReputationSpace() {
		return Sighting{}, fmt.Errorf("%w: a %s in another space is not a sighting", ErrInvalid, it.Kind())
	}
	return decodeSighting(it.Payload())
}

func decodeSighting(b []byte) (Sighting, error) {
	var w wireSighting
	if err := wire.UnmarshalCanonical(b, &w); err != nil {
		return Sighting{}, fmt.Errorf("%w: sighting: %v", ErrInvalid, err)
	}
	if len(w.Target) != item.IDSize {
		return Sighting{}, fmt.Errorf("%w: sighting target is %d bytes, want %d", ErrInvalid, len(w.Target), item.IDSize)
	}
	src, err := identity.NewID(w.Source)
	if err != nil {
		return Sighting{}, fmt.Errorf("%w: sighting source: %v", ErrInvalid, err)
	}
	if w.Verdict != Seen && w.Verdict != FalsePositive {
		return Sighting{}, fmt.Errorf("%w: sighting verdict %d", ErrInvalid, w.Verdict)
	}
	return Sighting{Target: item.ID(w.Target), Source: src, Verdict: int(w.Verdict)}, nil
}

// RatingOf decodes a verified rating item's payload strictly (§5.10); a
// rating of its own author fails with ErrSelf.
func RatingOf(it *item.Item) (Rating, error) {
	if it.Kind() != item.KindRating || it.Space() != item.ReputationSpace() {
		return Rating{}, fmt.Errorf("%w: a %s in another space is not a rating", ErrInvalid, it.Kind())
	}
	r, err := decodeRating(it.Payload())
	if err == nil && r.Subject == it.Author() {
		return Rating{}, ErrSelf
	}
	return r, err
}

func decodeRating(b []byte) (Rating, error) {
	var w wireRating
	if err := wire.UnmarshalCanonical(b, &w); err != nil {
		return Rating{}, fmt.Errorf("%w: rating: %v", ErrInvalid, err)
	}
	sub, err := identity.NewID(w.Subject)
	if err != nil {
		return Rating{}, fmt.Errorf("%w: rating subject: %v", ErrInvalid, err)
	}
	if w.Verdict != Good && w.Verdict != Bad {
		return Rating{}, fmt.Errorf("%w: rating verdict %d", ErrInvalid, w.Verdict)
	}
	return Rating{Subject: sub, Verdict: int(w.Verdict)}, nil
}

// LogicalKey is a sighting's or rating's key for last writer wins (§5.5):
// one current verdict per author and statement, and per author and
// subject, so changing one's mind replaces the old verdict and repeating
// it adds nothing.
func LogicalKey(it *item.Item) (item.Key, error) {
	k := item.Key{Author: it.Author(), Kind: it.Kind(), Space: it.Space()}
	switch it.Kind() {
	case item.KindSighting:
		s, err := SightingOf(it)
		k.Name = s.Target.String()
		return k, err
	case item.KindRating:
		r, err := RatingOf(it)
		k.Name = r.Subject.Hex()
		return k, err
	}
	return k, fmt.Errorf("%w: a %s is neither a sighting nor a rating", ErrInvalid, it.Kind())
}
