package item

import (
	"fmt"
	"time"

	"github.com/ghostwire/ghostwire/wire"
)

// NewTombstone signs a deletion of target (docs/protocol.md §5.7). Only the
// target's author can delete it, so key must be that author; the tombstone
// lives in the target's space so that it reaches every peer that may hold the
// target, and no other.
func NewTombstone(key Signer, target *Item, created time.Time) (*Item, error) {
	if key.ID() != target.author {
		return nil, fmt.Errorf("item: only the author can delete an item")
	}
	if !target.kind.Deletable() {
		return nil, fmt.Errorf("item: a %s cannot be deleted", target.kind)
	}
	id := target.id
	payload, err := wire.Marshal(&wireTombstone{Target: id[:]})
	if err != nil {
		return nil, fmt.Errorf("item: encode: %w", err)
	}
	return New(key, KindTombstone, target.space, created, payload)
}

// TombstoneTarget returns the ID a tombstone deletes. It fails with
// ErrMalformed if t is not a tombstone or its payload is not the canonical
// encoding §5.7 defines.
func TombstoneTarget(t *Item) (ID, error) {
	if t.kind != KindTombstone {
		return ID{}, fmt.Errorf("%w: kind %d is not a tombstone", ErrMalformed, t.kind)
	}
	var w wireTombstone
	if err := wire.UnmarshalCanonical(t.payload, &w); err != nil {
		return ID{}, fmt.Errorf("%w: tombstone payload: %v", ErrMalformed, err)
	}
	if len(w.Target) != IDSize {
		return ID{}, fmt.Errorf("%w: tombstone target is %d bytes, want %d", ErrMalformed, len(w.Target), IDSize)
	}
	return ID(w.Target), nil
}

// Deletes reports whether tombstone t deletes target (§5.7): t is a
// well-formed tombstone naming target's ID, signed by target's author, in
// target's space, and target's kind is deletable (tombstones are not: they are
// permanent; to bring a value back, its author publishes a new version).
// Anything else has no effect on target, so a tombstone from someone else
// cannot delete an item. Both items must already be verified.
func Deletes(t, target *Item) bool {
	id, err := TombstoneTarget(t)
	return err == nil && id == target.id && t.author == target.author &&
		t.space == target.space && target.kind.Deletable()
}
