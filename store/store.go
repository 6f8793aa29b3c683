// Package store is GhostWire's on-disk database: badger, encrypted at rest
// with the data key that the identity's key file protects, tuned to use
// little memory. It is the only package that imports badger; everything else
// sees buckets of ordered byte keys.
//
// Writes are durable when Update or a Batch's Flush returns (badger runs
// with SyncWrites), which is what lets the sync engine acknowledge an item
// only once it is stored.
package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// KeySize is the size of the at-rest data key (AES-256, badger's cipher).
const KeySize = 32

// MemoryLimit is the soft Go memory limit (runtime/debug.SetMemoryLimit)
// the node sets unless GOMEMLIMIT is given: badger's buffers live on the Go
// heap, and without a limit the heap grows to twice the live set between
// collections. See BenchmarkWrite1M.
const MemoryLimit = 256 << 20

// Memory settings (see the package benchmark and README for the figures they
// give): small memtables and caches instead of badger's 64 MiB memtables ×5,
// 256 MiB block cache and unbounded index cache.
const (
	memTableSize   = 8 << 20
	numMemtables   = 2
	blockCacheSize = 8 << 20
	indexCacheSize = 8 << 20
	valueLogSize   = 64 << 20
	valueThreshold = 1 << 10
	numL0Tables    = 8  // fewer, larger L0→L1 compactions: storing 150k items
	numL0Stall     = 16 // costs 53 µs CPU each instead of 99 (BenchmarkPutItems)
	baseTableSize  = 1 << 20
	numCompactors  = 2
)

// Errors callers branch on.
var (
	// ErrInUse means another process (or another DB in this one) holds the directory.
	ErrInUse = errors.New("store: the database is in use by another process")
	// ErrWrongKey means the data key does not open this database.
	ErrWrongKey = errors.New("store: the data key does not open this database")
	// ErrNotFound is returned by Get for a missing key.
	ErrNotFound = errors.New("store: not found")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("store: closed")
)

// DB is an open database. Its methods are safe for concurrent use.
type DB struct {
	bdb *badger.DB

	mu     sync.RWMutex // guards closed; held shared by every operation
	closed bool

	putMu sync.Mutex // serialises PutItems (items.go)

	watcher IndexWatcher // see OnIndexed
}

// Open opens (creating if needed) the encrypted database in dir with the
// 32-byte data key. A nil logger discards badger's logs.
func Open(dir string, key []byte, logger *slog.Logger) (*DB, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("store: data key is %d bytes, want %d", len(key), KeySize)
	}
	opts := badger.DefaultOptions(dir).
		WithLogger(badgerLogger{logger}).
		WithEncryptionKey(key).
		WithIndexCacheSize(indexCacheSize).
		WithBlockCacheSize(blockCacheSize).
		WithMemTableSize(memTableSize).
		WithNumMemtables(numMemtables).
		WithValueLogFileSize(valueLogSize).
		WithValueThreshold(valueThreshold).
		WithNumLevelZeroTables(numL0Tables).
		WithNumLevelZeroTablesStall(numL0Stall).
		WithBaseTableSize(baseTableSize).
		WithNumCompactors(numCompactors).
		WithCompression(options.None). // encrypted data does not compress
		WithSyncWrites(true).
		WithDetectConflicts(false).
		WithMetricsEnabled(false)
	// Every level's tables are the same size, so the table builders' buffers
	// (which badger pools) stay at 2 × baseTableSize instead of doubling per level.
	opts.TableSizeMultiplier = 1
	bdb, err := badger.Open(opts)
	if err != nil {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "Cannot acquire directory lock"):
			return nil, fmt.Errorf("%w (%s)", ErrInUse, dir)
		case errors.Is(err, badger.ErrEncryptionKeyMismatch) || strings.Contains(msg, "Encryption key mismatch"):
			return nil, ErrWrongKey
		}
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	db := &DB{bdb: bdb}
	if err := db.upgradeItems(); err != nil {
		bdb.Close()
		return nil, err
	}
	return db, nil
}

// Close flushes and closes the database. It is idempotent.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil
	}
	db.closed = true
	return db.bdb.Close()
}

// key builds the badger key: bucket name, 0x00, then the caller's key.
// Bucket names must not contain 0x00.
func key(bucket string, k []byte) []byte {
	if strings.IndexByte(bucket, 0) >= 0 || bucket == "" {
		panic("bug: store: bad bucket name")
	}
	out := make([]byte, 0, len(bucket)+1+len(k))
	out = append(out, bucket...)
	out = append(out, 0)
	return append(out, k...)
}

// Tx is a transaction view handed to View and Update callbacks; it must not
// be used after the callback returns.
type Tx struct {
	txn *badger.Txn
}

// Get returns a copy of the value, or ErrNotFound.
func (tx *Tx) Get(bucket string, k []byte) ([]byte, error) {
	it, err := tx.txn.Get(key(bucket, k))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get: %w", err)
	}
	return it.ValueCopy(nil)
}

// Put sets k to v in bucket.
func (tx *Tx) Put(bucket string, k, v []byte) error {
	if err := tx.txn.Set(key(bucket, k), v); err != nil {
		return fmt.Errorf("store: put: %w", err)
	}
	return nil
}

// Delete removes k from bucket; a missing key is not an error.
func (tx *Tx) Delete(bucket string, k []byte) error {
	if err := tx.txn.Delete(key(bucket, k)); err != nil {
		return fmt.Errorf("store: delete: %w", err)
	}
	return nil
}

// Scan calls fn for each key in bucket that starts with prefix, in
// ascending key order, with the key (bucket stripped) and value. The slices
// are valid only during the call. fn returning a non-nil error stops the
// scan and Scan returns that error; return ErrStop to stop without one.
func (tx *Tx) Scan(bucket string, prefix []byte, fn func(k, v []byte) error) error {
	return tx.scan(bucket, prefix, true, fn)
}

// ScanKeys is Scan without reading values: cheaper for index buckets.
func (tx *Tx) ScanKeys(bucket string, prefix []byte, fn func(k []byte) error) error {
	return tx.scan(bucket, prefix, false, func(k, _ []byte) error { return fn(k) })
}

// ErrStop ends a Scan early without error.
var ErrStop = errors.New("store: stop scan")

func (tx *Tx) scan(bucket string, prefix []byte, values bool, fn func(k, v []byte) error) error {
	p := key(bucket, prefix)
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = values
	opts.PrefetchSize = 16
	opts.Prefix = p
	it := tx.txn.NewIterator(opts)
	defer it.Close()
	strip := len(bucket) + 1
	for it.Seek(p); it.ValidForPrefix(p); it.Next() {
		item := it.Item()
		var v []byte
		if values {
			var err error
			if v, err = item.ValueCopy(nil); err != nil {
				return fmt.Errorf("store: scan: %w", err)
			}
		}
		if err := fn(item.Key()[strip:], v); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// View runs fn in a read-only snapshot.
func (db *DB) View(fn func(tx *Tx) error) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	return db.bdb.View(func(txn *badger.Txn) error { return fn(&Tx{txn}) })
}

// Update runs fn in a read-write transaction and commits it durably if fn
// returns nil. A transaction too large for badger returns an error wrapping
// badger's; callers with many writes use NewBatch.
func (db *DB) Update(fn func(tx *Tx) error) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	return db.bdb.Update(func(txn *badger.Txn) error { return fn(&Tx{txn}) })
}

// Batch collects writes and commits them in chunks of badger's maximum
// transaction size (about 1.2 MB with our memtable size), so bulk imports
// hold no more than that in memory. Not safe for concurrent use.
type Batch struct {
	db *DB
	wb *badger.WriteBatch
}

// NewBatch starts a batch. Call Flush, or Cancel to drop unflushed writes.
func (db *DB) NewBatch() *Batch { return &Batch{db: db, wb: db.bdb.NewWriteBatch()} }

// Put queues a write; badger commits full chunks in the background.
func (b *Batch) Put(bucket string, k, v []byte) error {
	if err := b.wb.Set(key(bucket, k), bytes.Clone(v)); err != nil {
		return fmt.Errorf("store: batch: %w", err)
	}
	return nil
}

// Flush durably commits every queued write and leaves the batch ready for
// more. After Flush returns nil, the writes survive a crash.
func (b *Batch) Flush() error {
	b.db.mu.RLock()
	defer b.db.mu.RUnlock()
	if b.db.closed {
		return ErrClosed
	}
	err := b.wb.Flush()
	b.wb = b.db.bdb.NewWriteBatch()
	if err != nil {
		return fmt.Errorf("store: batch: %w", err)
	}
	return nil
}

// Cancel drops writes not yet committed.
func (b *Batch) Cancel() { b.wb.Cancel() }

// badgerLogger sends badger's logs to slog at DEBUG (INFO and below) and
// WARN; a nil slog.Logger discards them.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) log(level slog.Level, f string, a ...any) {
	if b.l != nil {
		b.l.Log(context.Background(), level, "badger: "+strings.TrimSpace(fmt.Sprintf(f, a...)))
	}
}
func (b badgerLogger) Errorf(f string, a ...any)   { b.log(slog.LevelError, f, a...) }
func (b badgerLogger) Warningf(f string, a ...any) { b.log(slog.LevelWarn, f, a...) }
func (b badgerLogger) Infof(f string, a ...any)    { b.log(slog.LevelDebug, f, a...) }
func (b badgerLogger) Debugf(f string, a ...any)   { b.log(slog.LevelDebug, f, a...) }
