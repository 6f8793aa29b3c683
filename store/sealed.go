package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/ghostwire/ghostwire/item"
)

// Sealed items (docs/storage.md "Burn"). An item that must be destroyable
// (a burnable message) never reaches badger as its own bytes: badger keeps
// old versions of every value until a compaction drops them, and the item
// is sealed to a recipient key that stays on disk. The Sealer registered
// for its kind turns it into bytes only a key kept outside badger opens (a
// vault slot); destroying that key is what erases it. Each kind has its
// own Sealer (direct messages today, room messages later), and what is
// stored names the kind, so each item is read back by the one that
// sealed it. The store keeps such
// an item apart from the plain ones, so the store's record (guard.go),
// check and salvage, which verify item bytes, never see bytes they cannot
// read.
const (
	// bucketSealed: item ID → until (8) ‖ space (32) ‖ created (8) ‖
	// kind (4) ‖ the Sealer's bytes. The metadata lets Burn remove the item's index
	// entries once its key is gone and its bytes no longer open.
	bucketSealed = "sealed"
	// bucketSealedUntil: until (Unix ms, 8) ‖ item ID → empty: sealed
	// items by when they must be burnt at the latest.
	bucketSealedUntil = "sealeduntil"
	// bucketBurned: item ID → until (Unix ms, 8): items burnt here, which
	// PutItems drops if a peer offers them again, until then.
	bucketBurned = "burned"
)

// sealedMeta is the size of a sealed record's metadata (bucketSealed).
const sealedMeta = 8 + len(item.Space{}) + 8 + 4

// Sealer keeps items of one kind at rest under keys the store does not
// hold. Its methods may be called inside a store transaction and must not
// call back into the store.
type Sealer interface {
	// Seal returns what to store for it, and the time it must be burnt by
	// at the latest, with ok true if it is to be kept sealed; ok false
	// stores it as every other item. An error fails the write.
	Seal(it *item.Item) (stored []byte, until time.Time, ok bool, err error)
	// Open returns the item's canonical bytes from what Seal returned; an
	// error once its key was destroyed.
	Open(id item.ID, stored []byte) ([]byte, error)
}

// AddSealer registers s for every later write and read of items of kind
// k, replacing any registered for k. Register sealers before the DB is
// used concurrently.
func (db *DB) AddSealer(k item.Kind, s Sealer) {
	if db.sealers == nil {
		db.sealers = map[item.Kind]Sealer{}
	}
	db.sealers[k] = s
}

// sealItem stores it sealed if its kind's sealer wants it: true when it did.
func (db *DB) sealItem(tx *Tx, it *item.Item) (bool, error) {
	z := db.sealers[it.Kind()]
	if z == nil {
		return false, nil
	}
	stored, until, ok, err := z.Seal(it)
	if err != nil || !ok {
		return false, err
	}
	id, sp := it.ID(), it.Space()
	v := binary.BigEndian.AppendUint64(nil, uint64(max(until.UnixMilli(), 0)))
	v = append(v, sp[:]...)
	v = binary.BigEndian.AppendUint64(v, it.CreatedMillis())
	v = binary.BigEndian.AppendUint32(v, uint32(it.Kind()))
	v = append(v, stored...)
	if err := tx.Put(bucketSealed, id[:], v); err != nil {
		return false, err
	}
	return true, tx.Put(bucketSealedUntil, append(v[:8:8], id[:]...), nil)
}

// getItem returns the canonical bytes of a stored item, plain or sealed.
func (db *DB) getItem(tx *Tx, id item.ID) ([]byte, error) {
	raw, err := tx.Get(bucketItem, id[:])
	if !errors.Is(err, ErrNotFound) || len(db.sealers) == 0 {
		return raw, err
	}
	v, err := tx.Get(bucketSealed, id[:])
	if err != nil {
		return nil, err
	}
	if len(v) < sealedMeta {
		return nil, fmt.Errorf("%w: sealed item %x is %d bytes", ErrDamaged, id[:4], len(v))
	}
	k := item.Kind(binary.BigEndian.Uint32(v[sealedMeta-4:]))
	z := db.sealers[k]
	if z == nil {
		return nil, fmt.Errorf("store: sealed item %x is of kind %d, which nothing here opens", id[:4], k)
	}
	return z.Open(id, v[sealedMeta:])
}

// held reports whether id is stored, plain or sealed.
func held(tx *Tx, id item.ID) (bool, error) {
	for _, b := range []string{bucketItem, bucketSealed} {
		if _, err := tx.Get(b, id[:]); err == nil {
			return true, nil
		} else if !errors.Is(err, ErrNotFound) {
			return false, err
		}
	}
	return false, nil
}

// Burn removes sealed items from the store, from their space and from every
// scope, and remembers each ID until keepUntil so that a peer offering it
// again is ignored (PutItems drops it). The caller destroys the items' keys
// first: that is what erases them; Burn tidies up what can no longer be
// read. IDs not stored sealed are only remembered.
func (db *DB) Burn(ids []item.ID, keepUntil time.Time) error {
	db.putMu.Lock()
	defer db.putMu.Unlock()
	removed := map[item.Scope][]item.ID{}
	until := binary.BigEndian.AppendUint64(nil, uint64(max(keepUntil.UnixMilli(), 0)))
	err := db.Update(func(tx *Tx) error {
		clear(removed)
		for _, id := range ids {
			if err := burnOne(tx, id, removed); err != nil {
				return err
			}
			if err := tx.Put(bucketBurned, id[:], until); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		db.notifyIndexed(nil, removed)
	}
	return err
}

func burnOne(tx *Tx, id item.ID, removed map[item.Scope][]item.ID) error {
	v, err := tx.Get(bucketSealed, id[:])
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(v) < sealedMeta {
		return tx.Delete(bucketSealed, id[:])
	}
	if _, err := unindex(tx, id, removed); err != nil {
		return err
	}
	const spEnd = 8 + len(item.Space{})
	sk := append(append(v[8:spEnd:spEnd], v[spEnd:spEnd+8]...), id[:]...)
	if err := tx.Delete(bucketSpace, sk); err != nil {
		return err
	}
	if err := tx.Delete(bucketSealedUntil, append(v[:8:8], id[:]...)); err != nil {
		return err
	}
	return tx.Delete(bucketSealed, id[:])
}

// SealedDue calls fn with every sealed item due to be burnt at now, and
// returns when the next one not yet due is (zero if none).
func (db *DB) SealedDue(now time.Time, fn func(id item.ID)) (next time.Time, err error) {
	limit := now.UnixMilli()
	err = db.View(func(tx *Tx) error {
		return tx.ScanKeys(bucketSealedUntil, nil, func(k []byte) error {
			if len(k) != 8+item.IDSize {
				return nil
			}
			t := int64(binary.BigEndian.Uint64(k[:8]))
			if t > limit {
				next = time.UnixMilli(t)
				return ErrStop
			}
			fn(item.ID(k[8:]))
			return nil
		})
	})
	return next, err
}

// SealedIDs calls fn with the ID of every sealed item stored.
func (db *DB) SealedIDs(fn func(id item.ID)) error {
	return db.View(func(tx *Tx) error {
		return tx.ScanKeys(bucketSealed, nil, func(k []byte) error {
			if len(k) == item.IDSize {
				fn(item.ID(k))
			}
			return nil
		})
	})
}

// Burned reports whether id was burnt here and is still remembered.
func (db *DB) Burned(id item.ID) bool {
	err := db.View(func(tx *Tx) error {
		_, err := tx.Get(bucketBurned, id[:])
		return err
	})
	return err == nil
}

// ForgetBurned forgets the burnt IDs remembered until before now: by then
// an item of that ID is refused anyway, as expired (the caller chose
// keepUntil so).
func (db *DB) ForgetBurned(now time.Time) error {
	var old [][]byte
	err := db.View(func(tx *Tx) error {
		return tx.Scan(bucketBurned, nil, func(k, v []byte) error {
			if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) < now.UnixMilli() {
				old = append(old, append([]byte(nil), k...))
			}
			return nil
		})
	})
	if err != nil || len(old) == 0 {
		return err
	}
	return db.Update(func(tx *Tx) error {
		for _, k := range old {
			if err := tx.Delete(bucketBurned, k); err != nil {
				return err
			}
		}
		return nil
	})
}
