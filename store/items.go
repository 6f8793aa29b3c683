package store

import (
	"errors"
	"fmt"

	"github.com/ghostwire/ghostwire/item"
)

// Buckets for items (see PutItems for the invariants they keep).
const (
	bucketItem  = "item"  // item ID → canonical item bytes
	bucketDead  = "dead"  // target ID ‖ tombstone ID → empty: deletions seen
	bucketScope = "scope" // scope ‖ item ID → empty: the sets sync reconciles
	bucketSpace = "space" // space ‖ created (8, big-endian) ‖ item ID → empty: listing order
)

// Entry is an item to store with the scopes it belongs to.
type Entry struct {
	Item   *item.Item
	Scopes []item.Scope
}

// maxTxnBytes bounds one write transaction of PutItems (estimated as the
// items' bytes plus their keys): badger refuses a transaction above about
// 1.2 MB with our memtable size, and a sync frame carries up to 1 MiB of
// items.
const maxTxnBytes = 512 << 10

// PutItems stores verified items durably, in write transactions of bounded
// size, and applies tombstones. Invariants:
//   - an item's bytes never change once stored (same ID, same bytes);
//   - a tombstoned target is removed, and the same item offered again later
//     is refused (not an error: the caller acknowledges it, and the peer
//     stops offering it), if the tombstone is by the target's author;
//   - a dead target's ID stays in its scopes, so two peers that both know
//     of the deletion hold the same sets.
//
// Each entry is stored whole or not at all; when it returns an error, the
// entries before the failing transaction may be stored. Calls are
// serialised, so each sees every tombstone an earlier call stored.
//
// It returns how many entries were new. The caller must have verified every
// item (item.Verify); the store does not check signatures.
func (db *DB) PutItems(entries []Entry) (added int, err error) {
	db.putMu.Lock()
	defer db.putMu.Unlock()
	// Tombstones of this call by target: the dead bucket is read from a
	// snapshot, which does not hold the transaction's own writes. Scanning
	// inside the write transaction instead would sort all its pending
	// writes for every item (badger), quadratic in the batch.
	batchDead := map[item.ID][]*item.Item{}
	for len(entries) > 0 {
		n, size := 0, 0
		for n < len(entries) && (n == 0 || size+entrySize(entries[n]) <= maxTxnBytes) {
			size += entrySize(entries[n])
			n++
		}
		chunk := entries[:n]
		entries = entries[n:]
		indexed := map[item.Scope][]item.ID{}
		chunkAdded := 0
		err = db.Update(func(tx *Tx) error {
			clear(indexed)
			chunkAdded = 0
			snap := &Tx{db.bdb.NewTransaction(false)}
			defer snap.txn.Discard()
			for _, e := range chunk {
				n, err := putItem(tx, snap, batchDead, indexed, e)
				if err != nil {
					return err
				}
				chunkAdded += n
			}
			return nil
		})
		if err != nil {
			return added, err
		}
		added += chunkAdded
		db.notifyIndexed(indexed)
	}
	return added, nil
}

// entrySize estimates what an entry adds to a transaction: its bytes and
// its keys (item, space and scope index entries).
func entrySize(e Entry) int { return e.Item.Size() + (3+len(e.Scopes))*96 }

// putItem stores one entry in tx. snap is a read-only snapshot taken after
// every earlier write of this PutItems call was committed; batchDead holds
// the tombstones written since, by target. The IDs it adds to scopes are
// appended to indexed.
func putItem(tx, snap *Tx, batchDead map[item.ID][]*item.Item, indexed map[item.Scope][]item.ID, e Entry) (int, error) {
	it := e.Item
	id := it.ID()
	if _, err := tx.Get(bucketItem, id[:]); err == nil {
		return 0, nil
	} else if !errors.Is(err, ErrNotFound) {
		return 0, err
	}
	// A deletion that arrived first keeps this item out, but only if the
	// tombstone really deletes it (same author, same space): a tombstone
	// forged by someone else deletes nothing.
	for _, t := range batchDead[id] {
		if item.Deletes(t, it) {
			return 0, nil
		}
	}
	deleted := false
	err := snap.ScanKeys(bucketDead, id[:], func(k []byte) error {
		raw, err := snap.Get(bucketItem, k[len(id):])
		if err != nil {
			return err
		}
		t, err := item.Decode(raw)
		if err != nil {
			return err
		}
		if item.Deletes(t, it) {
			deleted = true
			return ErrStop
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if deleted {
		return 0, nil
	}
	if it.Kind() == item.KindTombstone {
		target, err := item.TombstoneTarget(it)
		if err != nil {
			return 0, err
		}
		if raw, err := tx.Get(bucketItem, target[:]); err == nil {
			old, derr := item.Decode(raw)
			if derr != nil {
				return 0, fmt.Errorf("store: stored item %x does not decode: %w", target[:4], derr)
			}
			if item.Deletes(it, old) {
				if err := tx.Delete(bucketItem, target[:]); err != nil {
					return 0, err
				}
				if err := tx.Delete(bucketSpace, spaceKey(old)); err != nil {
					return 0, err
				}
			}
		} else if !errors.Is(err, ErrNotFound) {
			return 0, err
		}
		if err := tx.Put(bucketDead, append(target[:], id[:]...), nil); err != nil {
			return 0, err
		}
		batchDead[item.ID(target)] = append(batchDead[item.ID(target)], it)
		// The target's ID joins the tombstone's scopes as a marker, so
		// every peer that knows of the deletion holds the same set whether
		// or not it ever held the target.
		for _, s := range e.Scopes {
			if err := tx.Put(bucketScope, append(s[:], target[:]...), nil); err != nil {
				return 0, err
			}
			indexed[s] = append(indexed[s], target)
		}
	}
	if err := tx.Put(bucketItem, id[:], it.Bytes()); err != nil {
		return 0, err
	}
	if err := tx.Put(bucketSpace, spaceKey(it), nil); err != nil {
		return 0, err
	}
	for _, s := range e.Scopes {
		if err := tx.Put(bucketScope, append(s[:], id[:]...), nil); err != nil {
			return 0, err
		}
		indexed[s] = append(indexed[s], id)
	}
	return 1, nil
}

func spaceKey(it *item.Item) []byte {
	sp, id, c := it.Space(), it.ID(), it.CreatedMillis()
	k := make([]byte, 0, len(sp)+8+len(id))
	k = append(k, sp[:]...)
	k = append(k, byte(c>>56), byte(c>>48), byte(c>>40), byte(c>>32), byte(c>>24), byte(c>>16), byte(c>>8), byte(c))
	return append(k, id[:]...)
}

// GetItem returns a stored item. For an ID known only as deleted it
// returns a tombstone naming it and dead = true, so a peer asking for it
// learns of the deletion. ErrNotFound if neither is held.
func (db *DB) GetItem(id item.ID) (it *item.Item, dead bool, err error) {
	err = db.View(func(tx *Tx) error {
		raw, err := tx.Get(bucketItem, id[:])
		if errors.Is(err, ErrNotFound) {
			var getErr error
			err = tx.ScanKeys(bucketDead, id[:], func(k []byte) error {
				raw, getErr = tx.Get(bucketItem, k[len(id):])
				dead = true
				return ErrStop
			})
			if err == nil {
				err = getErr
			}
			if err == nil && !dead {
				err = ErrNotFound
			}
		}
		if err != nil {
			return err
		}
		it, err = item.Decode(raw)
		return err
	})
	return it, dead, err
}

// ScopeIDs calls fn with every item ID in scope, in ascending order,
// including the IDs of deleted items (see PutItems).
func (db *DB) ScopeIDs(s item.Scope, fn func(id item.ID) error) error {
	return db.View(func(tx *Tx) error {
		return tx.ScanKeys(bucketScope, s[:], func(k []byte) error {
			return fn(item.ID(k[len(s):]))
		})
	})
}

// SpaceItems calls fn with every live item in space, oldest first.
func (db *DB) SpaceItems(sp item.Space, fn func(it *item.Item) error) error {
	return db.View(func(tx *Tx) error {
		return tx.ScanKeys(bucketSpace, sp[:], func(k []byte) error {
			id := k[len(sp)+8:]
			raw, err := tx.Get(bucketItem, id)
			if err != nil {
				return err
			}
			it, err := item.Decode(raw)
			if err != nil {
				return err
			}
			return fn(it)
		})
	})
}

// IndexItem adds a stored item to one more scope (for example our own
// recipient-key certificate when a peer is added).
func (db *DB) IndexItem(id item.ID, s item.Scope) error {
	err := db.Update(func(tx *Tx) error {
		if _, err := tx.Get(bucketItem, id[:]); err != nil {
			return err
		}
		return tx.Put(bucketScope, append(s[:], id[:]...), nil)
	})
	if err == nil {
		db.notifyIndexed(map[item.Scope][]item.ID{s: {id}})
	}
	return err
}

// OnIndexed registers fn to be told, after every committed write, which
// item IDs joined which scopes (by PutItems, including the IDs of deleted
// targets, and by IndexItem). A cache of scope sets kept beside the store
// stays exact this way. Register before the DB is used concurrently; fn
// runs on the writer's goroutine and must not call back into the DB.
func (db *DB) OnIndexed(fn func(s item.Scope, ids []item.ID)) { db.onIndexed = fn }

func (db *DB) notifyIndexed(indexed map[item.Scope][]item.ID) {
	if db.onIndexed == nil {
		return
	}
	for s, ids := range indexed {
		db.onIndexed(s, ids)
	}
}

// CountItems returns how many live items are stored.
func (db *DB) CountItems() (int, error) {
	n := 0
	err := db.View(func(tx *Tx) error {
		return tx.ScanKeys(bucketItem, nil, func([]byte) error { n++; return nil })
	})
	return n, err
}
