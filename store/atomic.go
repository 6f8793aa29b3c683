package store

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/ghostwire/ghostwire/item"
)

// MaxAtomicBytes is the most PutItemsAtomic takes in one call, estimated
// as EntrySize does: the store's transaction bound, which follows its
// memtable size (smaller on a small filesystem), with room left for what
// the caller writes beside the items (also).
func (db *DB) MaxAtomicBytes() int { return db.sizes.maxTxn }

// ErrTooBig is returned by PutItemsAtomic for entries that do not fit in
// one transaction; nothing was written.
var ErrTooBig = errors.New("store: too much for one transaction")

// EntrySize estimates what an entry adds to a transaction, for cutting
// batches below MaxAtomicBytes.
func EntrySize(e Entry) int { return entrySize(e) }

// PutItemsAtomic stores entries as PutItems does, but in one transaction
// together with the writes of also (which may be nil): after a crash either
// all of them are stored or none. This is what makes an import's batch and
// its record of progress agree. Entries above MaxAtomicBytes in total are
// refused with ErrTooBig before anything is written.
func (db *DB) PutItemsAtomic(entries []Entry, also func(tx *Tx) error) (added int, err error) {
	size := 0
	for _, e := range entries {
		size += entrySize(e)
	}
	if size > db.MaxAtomicBytes() {
		return 0, fmt.Errorf("%w (%d bytes estimated, at most %d)", ErrTooBig, size, db.MaxAtomicBytes())
	}
	db.putMu.Lock()
	defer db.putMu.Unlock()
	indexed, removed := map[item.Scope][]item.ID{}, map[item.Scope][]item.ID{}
	var rec record
	err = db.Update(func(tx *Tx) error {
		clear(indexed)
		clear(removed)
		var err error
		if added, rec, err = db.putChunk(tx, entries, map[item.ID][]*item.Item{}, indexed, removed); err != nil || also == nil {
			return err
		}
		return also(tx)
	})
	if errors.Is(err, badger.ErrTxnTooBig) {
		return 0, fmt.Errorf("%w: %v", ErrTooBig, err)
	}
	if err != nil {
		return 0, err
	}
	db.rec = rec
	db.notifyIndexed(indexed, removed)
	return added, nil
}

// ItemsWithPrefix calls fn with each live item whose ID starts with
// prefix, at most max of them, in ID order: a seek in the item index, so it
// costs O(log n + max) whatever the store holds.
func (db *DB) ItemsWithPrefix(prefix []byte, max int, fn func(it *item.Item) error) error {
	return db.View(func(tx *Tx) error {
		n := 0
		return tx.Scan(bucketItem, prefix, func(_, v []byte) error {
			if n++; n > max {
				return ErrStop
			}
			it, err := item.Decode(v)
			if err != nil {
				return err
			}
			return fn(it)
		})
	})
}

// putChunk stores entries in tx (putItem, and each entry's With), reading
// earlier deletions from a snapshot taken now, and returns how many were
// new and the store's record as it will be once tx commits.
func (db *DB) putChunk(tx *Tx, entries []Entry, batchDead map[item.ID][]*item.Item, indexed, removed map[item.Scope][]item.ID) (added int, rec record, err error) {
	snap := &Tx{db.bdb.NewTransaction(false)}
	defer snap.txn.Discard()
	deleted, sealed := 0, 0
	for _, e := range entries {
		n, err := db.putItem(tx, snap, batchDead, indexed, removed, &deleted, &sealed, e)
		if err != nil {
			return 0, rec, err
		}
		if e.With != nil {
			if err := e.With(tx); err != nil {
				return 0, rec, err
			}
		}
		added += n
	}
	// The record's counts change in the same transaction as the items, so
	// they stay exact across a crash (guard.go). The caller sets db.rec to
	// rec once the transaction has committed.
	// Sealed items are not counted: the record counts the item bucket,
	// which they never enter (sealed.go).
	rec = db.rec
	rec.puts += uint64(added - sealed)
	rec.live = rec.live + uint64(added-sealed) - uint64(deleted)
	return added, rec, tx.Put(bucketFormat, []byte(recordKey), rec.bytes())
}
