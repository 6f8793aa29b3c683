package store

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/ghostwire/ghostwire/item"
)

// Buckets for items (see PutItems for the invariants they keep).
const (
	bucketItem      = "item"      // item ID → canonical item bytes
	bucketDead      = "dead"      // target ID ‖ tombstone ID → empty: deletions seen
	bucketScope     = "scope"     // scope ‖ item ID → empty: the sets sync reconciles
	bucketItemScope = "itemscope" // item ID ‖ scope → empty: the same, by item (to take a deleted item out)
	bucketSpace     = "space"     // space ‖ created (8, big-endian) ‖ item ID → empty: listing order
)

// Entry is an item to store with the scopes it belongs to.
type Entry struct {
	Item   *item.Item
	Scopes []item.Scope
	// With, if set, runs in the transaction that stores the item: writes
	// that must commit with it or not at all (a queued message leaving the
	// outbox as it becomes an item), whether or not the item was new.
	With func(tx *Tx) error
}

// PutItems stores verified items durably, in write transactions of bounded
// size, and applies tombstones (docs/protocol.md §5.7). Invariants:
//   - an item's bytes never change once stored (same ID, same bytes); an
//     item stored already joins the entry's scopes it was not in yet;
//   - a scope holds only IDs of items stored live: what a scope's set
//     holds is what the node serves in it, so nothing a peer sends can make
//     an ID join a scope without its item (a tombstone's target does not);
//   - a tombstone that deletes a held target (item.Deletes: same author,
//     same space) removes it and its ID from every scope it was in, and
//     joins those scopes itself, so it reaches every peer that may hold
//     the target; the same target offered again later is dropped (not an
//     error: the caller acknowledges it, and the peer receives the
//     tombstone in the same scope). A tombstone that deletes nothing is an
//     ordinary item of its own scopes, and deletes nothing later either.
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
		for n < len(entries) && (n == 0 || size+entrySize(entries[n]) <= db.sizes.maxTxn) {
			size += entrySize(entries[n])
			n++
		}
		chunk := entries[:n]
		entries = entries[n:]
		indexed, removed := map[item.Scope][]item.ID{}, map[item.Scope][]item.ID{}
		chunkAdded := 0
		var rec record
		err = db.Update(func(tx *Tx) error {
			clear(indexed)
			clear(removed)
			var err error
			chunkAdded, rec, err = db.putChunk(tx, chunk, batchDead, indexed, removed)
			return err
		})
		if err != nil {
			return added, err
		}
		db.rec = rec
		added += chunkAdded
		db.notifyIndexed(indexed, removed)
	}
	return added, nil
}

// entrySize estimates what an entry adds to a transaction: its bytes and
// its keys (item, space and scope index entries).
func entrySize(e Entry) int { return e.Item.Size() + (3+len(e.Scopes))*96 }

// putItem stores one entry in tx. snap is a read-only snapshot taken after
// every earlier write of this PutItems call was committed; batchDead holds
// the tombstones written since, by target. The IDs it adds to scopes are
// appended to indexed, those it takes out of scopes to removed; deleted
// counts the stored items it deletes.
func (db *DB) putItem(tx, snap *Tx, batchDead map[item.ID][]*item.Item, indexed, removed map[item.Scope][]item.ID, deleted, sealed *int, e Entry) (int, error) {
	it := e.Item
	id := it.ID()
	if _, err := tx.Get(bucketItem, id[:]); err == nil {
		return 0, indexScopes(tx, id, e.Scopes, indexed, true)
	} else if !errors.Is(err, ErrNotFound) {
		return 0, err
	}
	if _, err := tx.Get(bucketSealed, id[:]); err == nil {
		return 0, indexScopes(tx, id, e.Scopes, indexed, true)
	} else if !errors.Is(err, ErrNotFound) {
		return 0, err
	}
	// A burnt item offered again is dropped, as a deleted one is (sealed.go).
	if _, err := tx.Get(bucketBurned, id[:]); err == nil {
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
	gone := false
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
			gone = true
			return ErrStop
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if gone {
		return 0, nil
	}
	scopes := e.Scopes
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
				was, err := deleteItem(tx, old, removed)
				if err != nil {
					return 0, err
				}
				*deleted++
				scopes = union(scopes, was)
			}
		} else if !errors.Is(err, ErrNotFound) {
			return 0, err
		}
		if err := tx.Put(bucketDead, append(target[:], id[:]...), nil); err != nil {
			return 0, err
		}
		batchDead[item.ID(target)] = append(batchDead[item.ID(target)], it)
	}
	if ok, err := db.sealItem(tx, it); err != nil {
		return 0, err
	} else if ok {
		*sealed++
	} else if err := tx.Put(bucketItem, id[:], it.Bytes()); err != nil {
		return 0, err
	}
	if err := tx.Put(bucketSpace, spaceKey(it), nil); err != nil {
		return 0, err
	}
	return 1, indexScopes(tx, id, scopes, indexed, false)
}

// indexScopes puts id into scopes (both indexes) and appends it to indexed.
// With check, scopes id is in already are skipped.
func indexScopes(tx *Tx, id item.ID, scopes []item.Scope, indexed map[item.Scope][]item.ID, check bool) error {
	for _, s := range scopes {
		k := append(s[:], id[:]...)
		if check {
			if _, err := tx.Get(bucketScope, k); err == nil {
				continue
			} else if !errors.Is(err, ErrNotFound) {
				return err
			}
		}
		if err := tx.Put(bucketScope, k, nil); err != nil {
			return err
		}
		if err := tx.Put(bucketItemScope, append(id[:], s[:]...), nil); err != nil {
			return err
		}
		indexed[s] = append(indexed[s], id)
	}
	return nil
}

// deleteItem removes a stored item deleted by a tombstone: its bytes, its
// place in its space and its ID from every scope, which it returns (and
// appends to removed).
func deleteItem(tx *Tx, old *item.Item, removed map[item.Scope][]item.ID) ([]item.Scope, error) {
	id := old.ID()
	was, err := unindex(tx, id, removed)
	if err != nil {
		return nil, err
	}
	if err := tx.Delete(bucketItem, id[:]); err != nil {
		return nil, err
	}
	return was, tx.Delete(bucketSpace, spaceKey(old))
}

// unindex takes id out of every scope it is in (both indexes) and returns
// those scopes, also appending id to removed under each.
func unindex(tx *Tx, id item.ID, removed map[item.Scope][]item.ID) ([]item.Scope, error) {
	var was []item.Scope
	err := tx.ScanKeys(bucketItemScope, id[:], func(k []byte) error {
		if len(k) == len(id)+len(item.Scope{}) {
			was = append(was, item.Scope(k[len(id):]))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, s := range was {
		if err := tx.Delete(bucketScope, append(s[:], id[:]...)); err != nil {
			return nil, err
		}
		if err := tx.Delete(bucketItemScope, append(id[:], s[:]...)); err != nil {
			return nil, err
		}
		removed[s] = append(removed[s], id)
	}
	return was, nil
}

// union returns a with the scopes of b it lacks appended.
func union(a, b []item.Scope) []item.Scope {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
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
		raw, err := db.getItem(tx, id)
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

// ScopeIDs calls fn with the ID of every live item in scope, in ascending
// order.
func (db *DB) ScopeIDs(s item.Scope, fn func(id item.ID) error) error {
	return db.View(func(tx *Tx) error {
		return tx.ScanKeys(bucketScope, s[:], func(k []byte) error {
			return fn(item.ID(k[len(s):]))
		})
	})
}

// ScopeItem returns the canonical bytes of item id if it is stored live in
// scope s, and ErrNotFound otherwise: what a session may serve in s. An ID
// deleted since a set was read is no longer in s, so it is not served; the
// tombstone that deleted it is in s and travels in its own right.
func (db *DB) ScopeItem(s item.Scope, id item.ID) ([]byte, error) {
	var raw []byte
	err := db.View(func(tx *Tx) error {
		if _, err := tx.Get(bucketScope, append(s[:], id[:]...)); err != nil {
			return err
		}
		b, err := db.getItem(tx, id)
		raw = b
		return err
	})
	return raw, err
}

// SpaceItems calls fn with every live item in space, oldest first. An item
// whose stored bytes cannot be read or decoded (a damaged disk) is skipped,
// not an error, so one bad item never hides the others: it is logged and
// counted (Skipped), and 'ghostwire check' names it.
func (db *DB) SpaceItems(sp item.Space, fn func(it *item.Item) error) error {
	return db.View(func(tx *Tx) error {
		return tx.ScanKeys(bucketSpace, sp[:], func(k []byte) error {
			if len(k) != len(sp)+8+item.IDSize {
				return nil
			}
			id := item.ID(k[len(sp)+8:])
			it, err := db.readItem(tx, id)
			if err != nil {
				db.SkipDamaged(id, err)
				return nil
			}
			return fn(it)
		})
	})
}

// readItem reads and decodes a stored item, turning a badger panic on
// damaged data into an error.
func (db *DB) readItem(tx *Tx, id item.ID) (it *item.Item, err error) {
	defer func() {
		if r := recover(); r != nil {
			it, err = nil, fmt.Errorf("%w: badger: %v", ErrDamaged, r)
		}
	}()
	raw, err := db.getItem(tx, id)
	if err != nil {
		return nil, err
	}
	return item.Decode(raw)
}

// SkipDamaged records that a listing left out item id because reading it
// failed with err (a damaged disk): it is logged and counted (Skipped), as
// SpaceItems does, so that status and the local API say the listing is
// short. Listings that read items one by one call it instead of failing.
func (db *DB) SkipDamaged(id item.ID, err error) {
	db.skipped.Add(1)
	db.log.Warn("store: skipping an unreadable item; run 'ghostwire check'", "item", id, "err", err)
}

// Skipped is how many unreadable items listings have skipped since the
// store was opened: more than zero means the disk damaged some, and
// 'ghostwire check' tells which.
func (db *DB) Skipped() int64 { return db.skipped.Load() }

// IndexItem adds a stored item to one more scope (for example our own
// recipient-key certificate when a peer is added).
func (db *DB) IndexItem(id item.ID, s item.Scope) error {
	indexed := map[item.Scope][]item.ID{}
	err := db.Update(func(tx *Tx) error {
		clear(indexed)
		if ok, err := held(tx, id); err != nil || !ok {
			return cmp.Or(err, ErrNotFound)
		}
		return indexScopes(tx, id, []item.Scope{s}, indexed, true)
	})
	if err == nil {
		db.notifyIndexed(indexed, nil)
	}
	return err
}

// IndexWatcher is told, after every committed write, which item IDs joined
// and left which scopes, so that a cache of scope sets kept beside the
// store stays exact. Its methods run on the writer's goroutine and must not
// call back into the DB.
type IndexWatcher interface {
	// Indexed: ids joined s (PutItems, IndexItem).
	Indexed(s item.Scope, ids []item.ID)
	// Unindexed: ids left s (their items were deleted by tombstones).
	Unindexed(s item.Scope, ids []item.ID)
}

// OnIndexed registers w. Register before the DB is used concurrently.
func (db *DB) OnIndexed(w IndexWatcher) { db.watcher = w }

func (db *DB) notifyIndexed(indexed, removed map[item.Scope][]item.ID) {
	if db.watcher == nil {
		return
	}
	for s, ids := range removed {
		db.watcher.Unindexed(s, ids)
	}
	for s, ids := range indexed {
		db.watcher.Indexed(s, ids)
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

// bucketFormat holds the store's format version (key "items"), so that an
// older store is brought up to date once, when it is opened.
const bucketFormat = "format"

// itemsFormat 2: scopes hold only live items, indexed both ways
// (bucketItemScope). Format 1 also kept a tombstone's target in its scopes
// as a marker and had no index by item.
const itemsFormat = 2

// upgradeItems brings a format 1 store to format 2: markers leave their
// scopes and every scope entry gets its index by item. It reads the scope
// index once (keeping 64 bytes per entry to change) and writes in
// transactions of bounded size.
func (db *DB) upgradeItems() error {
	var have []byte
	err := db.View(func(tx *Tx) error {
		v, err := tx.Get(bucketFormat, []byte("items"))
		have = v
		return err
	})
	if err == nil && len(have) == 1 && have[0] >= itemsFormat {
		return nil
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	type change struct {
		k    []byte // scope ‖ ID
		live bool
	}
	var changes []change
	err = db.View(func(tx *Tx) error {
		return tx.ScanKeys(bucketScope, nil, func(k []byte) error {
			if len(k) != len(item.Scope{})+item.IDSize {
				return nil
			}
			_, err := tx.Get(bucketItem, k[len(item.Scope{}):])
			if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			changes = append(changes, change{bytes.Clone(k), err == nil})
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("store: upgrading the scope index: %w", err)
	}
	const perTxn = 4096
	for len(changes) > 0 {
		chunk := changes[:min(perTxn, len(changes))]
		changes = changes[len(chunk):]
		err := db.Update(func(tx *Tx) error {
			for _, c := range chunk {
				s, id := c.k[:len(item.Scope{})], c.k[len(item.Scope{}):]
				if !c.live {
					if err := tx.Delete(bucketScope, c.k); err != nil {
						return err
					}
					continue
				}
				if err := tx.Put(bucketItemScope, append(bytes.Clone(id), s...), nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: upgrading the scope index: %w", err)
		}
	}
	return db.Update(func(tx *Tx) error { return tx.Put(bucketFormat, []byte("items"), []byte{itemsFormat}) })
}
