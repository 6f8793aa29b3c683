// Package store is GhostWire's on-disk database: badger, encrypted at rest
// with the data key that the identity's key file protects, tuned to use
// little memory. It is the only package that imports badger; everything else
// sees buckets of ordered byte keys.
//
// Writes are durable when Update or a Batch's Flush returns (badger runs
// with SyncWrites), which is what lets the sync engine acknowledge an item
// only once it is stored.
//
// # Damage and a full disk
//
// The one thing to know: the store never starts on what damage left and
// never lets badger delete data to "repair" it. Open checks the directory
// before badger sees it and the store's record after (guard.go), and
// returns ErrDamaged or ErrMissing rather than an empty or partial store;
// Check and Salvage (check.go) verify and copy out what is readable. Every
// write checks free space first and fails with ErrDiskFull while the disk
// is too full for badger to write safely (space.go). docs/storage.md says
// what this promises.
package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/ghostwire/ghostwire/item"
)

// KeySize is the size of the at-rest data key (AES-256, badger's cipher).
const KeySize = 32

// MemoryLimit is the soft Go memory limit (runtime/debug.SetMemoryLimit)
// the node sets unless GOMEMLIMIT is given: badger's buffers live on the Go
// heap, and without a limit the heap grows to twice the live set between
// collections. See BenchmarkWrite1M.
const MemoryLimit = 256 << 20

// Memory settings (see the package benchmark and README for the figures
// they give): small memtables and caches instead of badger's 64 MiB
// memtables ×5, 256 MiB block cache and unbounded index cache.
const (
	numMemtables   = 2
	blockCacheSize = 8 << 20
	indexCacheSize = 8 << 20
	valueThreshold = 1 << 10
	numL0Tables    = 8  // fewer, larger L0→L1 compactions: storing 150k items
	numL0Stall     = 16 // costs 53 µs CPU each instead of 99 (BenchmarkPutItems)
	baseTableSize  = 1 << 20
	numCompactors  = 2
)

// sizes are badger's memtable and value-log file sizes and the largest
// write transaction of PutItems. They also set how much free space badger
// may still fill behind our back (its write-ahead log, value log and new
// tables are mmap'd sparse files that take space only as they are
// written), which the disk-full guard keeps in reserve (space.go). So a
// store on a small filesystem uses small ones, for the reserve to leave
// room for data; elsewhere the large ones cost a third of the CPU and wall
// time per item stored (BenchmarkPutItems, 150k items: 60 µs CPU and 74 µs
// wall per item with the large sizes, 88 and 240 with the small).
type sizes struct {
	memTable int64 // badger's largest transaction is 15 % of it: see maxTxn
	valueLog int64 // values over valueThreshold only
	maxTxn   int   // bounds one PutItems transaction (items.go)
}

// smallFilesystem is the filesystem size under which the store uses the
// small sizes.
const smallFilesystem = 4 << 30

// Small sizes: badger's minimum value-log file, and transactions under
// 15 % of the memtable (314 KiB, or 6,553 keys).
const (
	smallMemTable = 2 << 20
	smallValueLog = 1 << 20
	smallMaxTxn   = 192 << 10
)

// Large sizes.
const (
	largeMemTable = 8 << 20
	largeValueLog = 64 << 20
	// maxTxnBytes: badger refuses a transaction above about 1.2 MB with
	// the large memtable, and a sync frame carries up to 1 MiB of items.
	maxTxnBytes = 512 << 10
)

// sizesFor chooses the sizes for a filesystem of total bytes (0: unknown).
func sizesFor(total int64) sizes {
	if total > 0 && total < smallFilesystem {
		return sizes{memTable: smallMemTable, valueLog: smallValueLog, maxTxn: smallMaxTxn}
	}
	return sizes{memTable: largeMemTable, valueLog: largeValueLog, maxTxn: maxTxnBytes}
}

// engineReserve is what badger may write after a write we let through, at
// most: the rest of the current write-ahead log (a memtable) and the table
// a full memtable is flushed to (another), the rest of the value log (one
// value-log file), and the write itself (a transaction).
func (s sizes) engineReserve() int64 { return 2*s.memTable + s.valueLog + int64(s.maxTxn) }

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
	// ErrDamaged means the store cannot be trusted as it is on disk: a
	// badger file is missing, truncated or altered, the store is not the
	// one recorded beside it, or it holds fewer items than it recorded.
	// Open returns it (as a *DamageError) instead of starting on what is
	// left; Check tells what is readable and Salvage copies it out.
	ErrDamaged = errors.New("store: damaged")
	// ErrMissing means there is no store where one was recorded (or, with
	// Config.MustExist, where one must be): it was deleted or moved.
	ErrMissing = errors.New("store: missing")
	// ErrDiskFull means a write was refused because the filesystem has less
	// free space than the store keeps in reserve (space.go). Nothing was
	// written; reads go on, and writes succeed again once space is freed.
	ErrDiskFull = errors.New("store: disk full")
)

// DamageError is ErrDamaged or ErrMissing with what was found.
type DamageError struct {
	Dir    string
	Reason string
	kind   error // ErrDamaged or ErrMissing
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("%v: %s: %s", e.kind, e.Dir, e.Reason)
}

// Is makes errors.Is(err, ErrDamaged) (or ErrMissing) true.
func (e *DamageError) Is(target error) bool { return target == e.kind }

func damaged(dir, format string, a ...any) error {
	return &DamageError{Dir: dir, Reason: fmt.Sprintf(format, a...), kind: ErrDamaged}
}

func missing(dir, format string, a ...any) error {
	return &DamageError{Dir: dir, Reason: fmt.Sprintf(format, a...), kind: ErrMissing}
}

// Config says how Open treats the directory. The zero value opens or
// creates a store and keeps the default reserve of free space.
type Config struct {
	// Logger gets badger's logs and the store's warnings; nil discards them.
	Logger *slog.Logger
	// MustExist refuses to create a store: an empty or absent directory is
	// ErrMissing. The node sets it, since its store is created once, by
	// init, beside the identity; only init (and Salvage) make new stores.
	MustExist bool
	// Reserve is the free space, in bytes, that writes leave on the
	// filesystem beyond what badger itself may still need (space.go); zero
	// means DefaultReserve, capped at 5 % of the filesystem.
	Reserve int64
}

// DB is an open database. Its methods are safe for concurrent use.
type DB struct {
	dir string
	key []byte
	cfg Config
	log *slog.Logger

	// mu is held shared by every operation and exclusively by Close and by
	// reopen, which swaps bdb when a store opened read-only on a full disk
	// may write again.
	mu       sync.RWMutex
	bdb      *badger.DB
	closed   bool
	readOnly bool     // opened read-only because the disk was full
	sizes    sizes    // chosen at open for the filesystem (sizesFor)
	rec      record   // badger's copy (guard.go); puts and live guarded by putMu
	ident    [16]byte // rec.id, set once at open: Identity reads it unlocked

	putMu sync.Mutex // serialises PutItems (items.go) and guards rec.puts/rec.live

	space   spaceGuard // space.go
	skipped atomic.Int64

	watcher IndexWatcher         // see OnIndexed
	sealers map[item.Kind]Sealer // see AddSealer (sealed.go)
}

// Open opens (creating if needed) the encrypted database in dir with the
// 32-byte data key. A nil logger discards badger's logs. It is OpenConfig
// with only a logger: see there for what it refuses.
func Open(dir string, key []byte, logger *slog.Logger) (*DB, error) {
	return OpenConfig(dir, key, Config{Logger: logger})
}

// OpenConfig opens the encrypted database in dir with the 32-byte data key.
//
// It never starts on what damage left behind: before badger sees the
// directory it checks that badger will find every table it holds (badger
// deletes tables its MANIFEST does not name, and recreates a missing
// MANIFEST or key registry empty); after, it checks the store's record (an
// identity and item counts kept in badger and, beside dir, in the marker
// file dir+".id") against each other and against the items it holds. Any
// mismatch is a *DamageError (ErrDamaged, or ErrMissing for a store that
// is gone), and badger panics while opening become one too. An empty
// directory is a new store unless the marker says one existed there, or
// cfg.MustExist.
//
// On a full disk (less free space than the reserve) it opens read-only:
// reads work, writes return ErrDiskFull, and the first write after space
// returns reopens it for writing.
func OpenConfig(dir string, key []byte, cfg Config) (*DB, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("store: data key is %d bytes, want %d", len(key), KeySize)
	}
	db := &DB{dir: dir, key: bytes.Clone(key), cfg: cfg, log: cfg.Logger}
	if db.log == nil {
		db.log = slog.New(slog.DiscardHandler)
	}
	db.space.init(dir, cfg.Reserve)
	_, total, _ := db.space.stat()
	db.sizes = sizesFor(total)
	db.space.engine = db.sizes.engineReserve()
	if err := db.open(); err != nil {
		return nil, err
	}
	db.ident = db.rec.id
	return db, nil
}

// badgerOptions are the options every open uses.
func badgerOptions(dir string, key []byte, sz sizes, logger *slog.Logger) badger.Options {
	opts := badger.DefaultOptions(dir).
		WithLogger(badgerLogger{logger}).
		WithEncryptionKey(key).
		WithIndexCacheSize(indexCacheSize).
		WithBlockCacheSize(blockCacheSize).
		WithMemTableSize(sz.memTable).
		WithNumMemtables(numMemtables).
		WithValueLogFileSize(sz.valueLog).
		WithValueThreshold(valueThreshold).
		WithNumLevelZeroTables(numL0Tables).
		WithNumLevelZeroTablesStall(numL0Stall).
		WithBaseTableSize(baseTableSize).
		WithNumCompactors(numCompactors).
		WithCompression(options.None). // encrypted data does not compress
		// A damaged block or value is an error on the read that meets it,
		// not garbage decrypted into an item or a panic in badger's decoder.
		WithChecksumVerificationMode(options.OnBlockRead).
		WithVerifyValueChecksum(true).
		WithSyncWrites(true).
		WithDetectConflicts(false).
		WithMetricsEnabled(false)
	// Every level's tables are the same size, so the table builders' buffers
	// (which badger pools) stay at 2 × baseTableSize instead of doubling per level.
	opts.TableSizeMultiplier = 1
	return opts
}

// openBadger opens badger, turning its panics (it asserts on some damaged
// files) and its errors into ours.
func openBadger(opts badger.Options) (bdb *badger.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			bdb, err = nil, damaged(opts.Dir, "badger failed opening it: %v", r)
		}
	}()
	bdb, err = badger.Open(opts)
	if err != nil {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "Cannot acquire directory lock"):
			return nil, fmt.Errorf("%w (%s)", ErrInUse, opts.Dir)
		case errors.Is(err, badger.ErrEncryptionKeyMismatch) || strings.Contains(msg, "Encryption key mismatch"):
			return nil, ErrWrongKey
		case errors.Is(err, fs.ErrPermission):
			return nil, fmt.Errorf("store: open %s: %w", opts.Dir, err)
		case errors.Is(err, syscall.ENOSPC):
			return nil, fmt.Errorf("%w: opening %s: %v", ErrDiskFull, opts.Dir, err)
		case errors.Is(err, badger.ErrTruncateNeeded):
			// Read-only, after a crash: badger must write to recover its log.
			return nil, fmt.Errorf("store: %s must recover its write-ahead log after a crash: %w", opts.Dir, err)
		}
		return nil, damaged(opts.Dir, "badger cannot open it: %v", err)
	}
	return bdb, nil
}

// Close flushes and closes the database. It is idempotent.
func (db *DB) Close() error {
	// The count is read first: PutItems holds putMu while it waits for mu,
	// so taking putMu under mu could deadlock. A write that lands after
	// this read only makes the marker's count a lower bound, which is all
	// it claims.
	db.putMu.Lock()
	m := marker{id: db.rec.id, puts: db.rec.puts}
	db.putMu.Unlock()
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil
	}
	db.closed = true
	err := db.bdb.Close()
	if err == nil && !db.readOnly {
		// Every write is now in badger's files, at their final sizes: the
		// marker may claim them.
		if m.vlog, err = statVlogs(db.dir, 0); err == nil {
			err = writeMarker(db.dir, m)
		}
	}
	return err
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

// ScanKeysFrom is ScanKeys starting at the first key at or after from
// (which should start with prefix): a cursor resumes a listing by seeking,
// not by scanning what came before it.
func (tx *Tx) ScanKeysFrom(bucket string, prefix, from []byte, fn func(k []byte) error) error {
	return tx.scanFrom(bucket, prefix, from, false, func(k, _ []byte) error { return fn(k) })
}

// ScanFrom is Scan starting at the first key at or after from, with the
// values: an index that keeps what a listing shows in its values is read
// in order, without a lookup per entry.
func (tx *Tx) ScanFrom(bucket string, prefix, from []byte, fn func(k, v []byte) error) error {
	return tx.scanFrom(bucket, prefix, from, true, fn)
}

func (tx *Tx) scanFrom(bucket string, prefix, from []byte, values bool, fn func(k, v []byte) error) error {
	p := key(bucket, prefix)
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = p
	it := tx.txn.NewIterator(opts)
	defer it.Close()
	strip := len(bucket) + 1
	for it.Seek(key(bucket, from)); it.ValidForPrefix(p); it.Next() {
		var v []byte
		if values {
			var err error
			if v, err = it.Item().ValueCopy(nil); err != nil {
				return fmt.Errorf("store: scan: %w", err)
			}
		}
		if err := fn(it.Item().Key()[strip:], v); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
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
// badger's; callers with many writes use NewBatch. On a full disk it
// returns ErrDiskFull without running fn.
func (db *DB) Update(fn func(tx *Tx) error) error {
	if err := db.writable(); err != nil {
		return err
	}
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
	if err := b.db.space.check(); err != nil {
		return err
	}
	if err := b.wb.Set(key(bucket, k), bytes.Clone(v)); err != nil {
		return fmt.Errorf("store: batch: %w", err)
	}
	return nil
}

// Flush durably commits every queued write and leaves the batch ready for
// more. After Flush returns nil, the writes survive a crash.
func (b *Batch) Flush() error {
	if err := b.db.writable(); err != nil {
		return err
	}
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
