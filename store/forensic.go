package store

import (
	"fmt"
	"log/slog"

	"github.com/dgraph-io/badger/v4"
)

// ScanAllVersions opens the closed store in dir with the data key and calls
// fn with every version badger still holds of every key, live, overwritten,
// deleted or expired alike (deleted is true for a deletion marker or an
// expired version), until fn returns an error. It is what someone holding
// the data dir and the passphrase can read through badger itself: the
// burn test (docs/storage.md "Burn") uses it to show that a burnt message
// is unreadable in all of them, not only gone from the live view.
//
// It opens badger read-only where it can; a store that must first replay
// its write-ahead log after a crash is opened for writing, which replays
// it and compacts nothing (the caller should pass a copy it may change).
func ScanAllVersions(dir string, key []byte, fn func(k, v []byte, deleted bool) error) error {
	opts := badgerOptions(dir, key, sizesFor(0), slog.New(slog.DiscardHandler))
	opts.CompactL0OnClose = false
	bdb, err := openBadger(opts.WithReadOnly(true))
	if err != nil {
		if bdb, err = openBadger(opts); err != nil {
			return err
		}
	}
	defer bdb.Close()
	return bdb.View(func(txn *badger.Txn) error {
		o := badger.DefaultIteratorOptions
		o.AllVersions = true
		o.PrefetchValues = false
		it := txn.NewIterator(o)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			bi := it.Item()
			// A deletion marker has no value; an unreadable one shows nothing.
			v, err := bi.ValueCopy(nil)
			if err != nil {
				v = nil
			}
			if err := fn(bi.KeyCopy(nil), v, bi.IsDeletedOrExpired()); err != nil {
				return fmt.Errorf("store: scan: %w", err)
			}
		}
		return nil
	})
}
