package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ghostwire/ghostwire/item"
)

// Report is what Check found, and what Salvage copied. Its JSON form is
// the output of `ghostwire check --json`: fields may be added, never
// renamed.
type Report struct {
	// Items counts the item records walked; Verified those that decode and
	// whose signatures verify.
	Items    int `json:"items"`
	Verified int `json:"verified"`
	// Unreadable items are records whose bytes badger could not read;
	// Malformed do not decode as items; BadSignature decode but do not
	// verify (altered bytes).
	Unreadable   int `json:"unreadable"`
	Malformed    int `json:"malformed"`
	BadSignature int `json:"bad_signature"`
	// Missing is how many items the store's record counts beyond those the
	// walk found: lost with a damaged table.
	Missing int `json:"missing"`
	// Records counts the other records (indexes, peers, outbox, settings),
	// UnreadableRecords those badger could not read.
	Records           int `json:"records"`
	UnreadableRecords int `json:"unreadable_records"`
	// Problems are findings about the store as a whole, in words.
	Problems []string `json:"problems,omitempty"`
	// Salvaged and SalvagedRecords count what Salvage copied.
	Salvaged        int `json:"salvaged,omitempty"`
	SalvagedRecords int `json:"salvaged_records,omitempty"`
	// Rebuilt says badger could not open the store as it is, so its files
	// were read one by one (rebuild.go); Files says what was read of each.
	Rebuilt bool         `json:"rebuilt,omitempty"`
	Files   []FileReport `json:"files,omitempty"`
	// KeysLost says the key registry is gone or does not read: no file of
	// the store can be decrypted, and only a backup brings it back.
	KeysLost bool `json:"keys_lost,omitempty"`
	// NoStore says there is no store at all (deleted or emptied).
	NoStore bool `json:"no_store,omitempty"`
}

// Clean reports whether Check found nothing wrong.
func (r *Report) Clean() bool {
	return r.Unreadable == 0 && r.Malformed == 0 && r.BadSignature == 0 && r.Missing == 0 &&
		r.UnreadableRecords == 0 && len(r.Problems) == 0
}

func (r *Report) problem(format string, a ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, a...))
}

// Check verifies the store in dir without changing it: the marker and
// badger's files, then every record, decoding every item and verifying its
// signature. The directory must not be in use. When badger could only
// open it by changing it (tables its MANIFEST does not name, which it
// would delete, or a write-ahead log to recover after a crash), Check
// works on a copy in the temporary directory instead.
//
// It returns an error only when it could not check at all (wrong key, in
// use); damage is in the Report.
func Check(dir string, key []byte) (*Report, error) {
	return walkStore(dir, key, nil)
}

// Salvage is Check that also copies every readable record into a new
// store at out (which must not exist yet, or be empty), with the same data
// key: every item that verifies, the indexes of those items, and every
// other readable record. The new store gets its own record and marker, so
// it opens as a store of its own; to use it, put it (and out+".id") in
// place of the damaged one.
func Salvage(dir string, key []byte, out string) (*Report, error) {
	if files, err := listFiles(out); err != nil {
		return nil, err
	} else if !files.empty() {
		return nil, fmt.Errorf("store: %s already holds a store; salvage writes only into a new directory", out)
	}
	if _, err := os.Stat(markerPath(out)); err == nil {
		return nil, fmt.Errorf("store: %s exists; salvage writes only a new store", markerPath(out))
	}
	dst, err := OpenConfig(out, key, Config{})
	if err != nil {
		return nil, err
	}
	r, err := walkStore(dir, key, dst)
	if err != nil {
		// Nothing was checked (wrong key, in use): take back the empty
		// store this call made, so that the same command can run again.
		dst.Close()
		os.RemoveAll(out)
		os.Remove(markerPath(out))
		return nil, err
	}
	err = dst.recount()
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	return r, err
}

// walkStore is Check, copying into dst when it is not nil.
func walkStore(dir string, key []byte, dst *DB) (*Report, error) {
	r := &Report{}
	mk, err := readMarker(dir)
	if err != nil {
		r.problem("%v", err)
	}
	files, unnamed, torn, err := preflight(dir)
	switch {
	case err != nil && errors.Is(err, ErrDamaged):
		return walkRebuilt(dir, key, dst, r, mk, err)
	case err != nil:
		return nil, err
	case files.empty() && mk != nil:
		r.NoStore = true
		r.problem("%v", missing(dir, "the store recorded in %s is not there", markerPath(dir)))
		return r, nil
	case files.empty():
		r.NoStore = true
		r.problem("%v", missing(dir, "there is no store"))
		return r, nil
	}
	if mk != nil {
		if err := checkVlogs(dir, mk.vlog); err != nil {
			r.problem("%v", err)
		}
	}
	if len(unnamed) > 0 {
		// Badger would delete them: a MANIFEST that lost its entries
		// (truncated) still reads, and names none of the tables that hold
		// the data. Read every table instead.
		return walkRebuilt(dir, key, dst, r, mk,
			fmt.Errorf("%d table files are not named by the MANIFEST (a truncated MANIFEST, or left by a crash)", len(unnamed)))
	}
	bdb, cleanup, err := openForCheck(dir, key, torn)
	if err != nil {
		if errors.Is(err, ErrDamaged) {
			return walkRebuilt(dir, key, dst, r, mk, err)
		}
		return nil, err
	}
	defer cleanup()
	r.compare(dir, mk, walk(bdb, r, dst))
	return r, nil
}

// walkRebuilt is walkStore on a copy of dir rebuilt from the files that
// read (rebuild.go), for a store badger cannot open as it is; cause says
// why.
func walkRebuilt(dir string, key []byte, dst *DB, r *Report, mk *marker, cause error) (*Report, error) {
	tmp, files, err := rebuildCopy(dir, key)
	switch {
	case errors.Is(err, ErrWrongKey) || err != nil && !errors.Is(err, ErrDamaged):
		return nil, err
	case err != nil:
		// Lost keys say more than what badger made of them.
		r.KeysLost = true
		r.problem("%v", err)
		return r, nil
	}
	r.problem("%v", cause)
	defer os.RemoveAll(tmp)
	r.Rebuilt, r.Files = true, files
	tables := 0
	for _, f := range files {
		if strings.HasSuffix(f.Name, ".sst") && f.Lost == "" {
			tables++
		}
	}
	bdb, err := openRebuilt(tmp, key, tables)
	if err != nil {
		r.problem("badger cannot open even the files that read: %v", err)
		return r, nil
	}
	rec := walk(bdb, r, dst)
	if err := bdb.Close(); err != nil {
		r.problem("closing the rebuilt copy: %v", err)
	}
	r.compare(dir, mk, rec)
	return r, nil
}

// compare checks the store's record rec (nil if none was read) against
// the marker mk and the items the walk found.
func (r *Report) compare(dir string, mk *marker, rec *record) {
	switch {
	case rec == nil && mk != nil:
		r.problem("its record is gone though %s names it", markerPath(dir))
	case rec == nil:
		// A store made before records: nothing to compare.
	default:
		if mk != nil && mk.id != rec.id {
			r.problem("it is not the store %s names", markerPath(dir))
		}
		if mk != nil && rec.puts < mk.puts {
			r.problem("it has stored %d items where %d were recorded", rec.puts, mk.puts)
		}
		if found := uint64(r.Items); rec.live > found {
			r.Missing = int(rec.live - found)
		}
	}
}

// openForCheck opens dir read-only, or a copy of it when badger would have
// to change it to open it.
func openForCheck(dir string, key []byte, needCopy bool) (bdb *badger.DB, cleanup func(), err error) {
	if !needCopy {
		bdb, err = openBadger(checkOptions(dir, key))
		if err == nil {
			return bdb, func() { bdb.Close() }, nil
		}
		if !errors.Is(err, badger.ErrTruncateNeeded) && !errors.Is(err, ErrDamaged) {
			return nil, nil, err
		}
	}
	tmp, err := os.MkdirTemp("", "ghostwire-check-")
	if err != nil {
		return nil, nil, fmt.Errorf("store: a copy to check: %w", err)
	}
	if err := copyDir(dir, tmp); err != nil {
		os.RemoveAll(tmp)
		return nil, nil, fmt.Errorf("store: a copy to check: %w", err)
	}
	opts := checkOptions(tmp, key)
	opts.ReadOnly = false
	bdb, err = openBadger(opts)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, nil, err
	}
	return bdb, func() { bdb.Close(); os.RemoveAll(tmp) }, nil
}

// copyDir copies the files at the top of src into dst.
func copyDir(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || e.Name() == "LOCK" {
			continue
		}
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// verifyAt is the clock items are verified against: stored items were
// verified when they arrived, so Check asks only whether their bytes still
// carry a valid signature, not whether the clock has reached them.
var verifyAt = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// maxRestarts bounds how often the walk resumes after badger panics on a
// damaged block.
const maxRestarts = 1000

// walk reads every record of bdb into r, copying readable ones into dst
// (when not nil), and returns the store's record if it could read one.
// Items come first: the indexes of items that were not salvaged are not
// copied.
func walk(bdb *badger.DB, r *Report, dst *DB) *record {
	var rec *record
	salvaged := map[item.ID]bool{}
	var batch *Batch
	if dst != nil {
		batch = dst.NewBatch()
		defer batch.Cancel()
	}
	copyRecord := func(bucket string, k, v []byte) {
		if batch == nil {
			return
		}
		if err := batch.Put(bucket, k, v); err != nil {
			r.problem("salvage: %v", err)
			batch = nil
		}
	}
	// Pass 1: items. Pass 2: everything else.
	for pass := 1; pass <= 2; pass++ {
		prefix := []byte(nil)
		if pass == 1 {
			prefix = key(bucketItem, nil)
		}
		walkKeys(bdb, prefix, r, func(bucket string, k []byte, value func() ([]byte, error)) {
			if pass == 2 && bucket == bucketItem {
				return
			}
			v, err := value()
			if bucket == bucketItem {
				r.Items++
				it, ok := checkItem(k, v, err, r)
				if ok {
					r.Verified++
					salvaged[it.ID()] = true
					copyRecord(bucket, k, v)
					if batch != nil {
						r.Salvaged++
					}
				}
				return
			}
			r.Records++
			if err != nil {
				r.UnreadableRecords++
				return
			}
			if bucket == bucketFormat && string(k) == recordKey {
				if got, ok := parseRecord(v); ok {
					rec = &got
				} else {
					r.problem("its record is malformed")
				}
				return // the salvaged store counts its own
			}
			if !indexOfKept(bucket, k, salvaged) {
				return
			}
			copyRecord(bucket, k, v)
			if batch != nil {
				r.SalvagedRecords++
			}
		})
	}
	if batch != nil {
		if err := batch.Flush(); err != nil {
			r.problem("salvage: %v", err)
		}
	}
	return rec
}

// checkItem decodes and verifies one item record.
func checkItem(k, v []byte, err error, r *Report) (*item.Item, bool) {
	if err != nil {
		r.Unreadable++
		return nil, false
	}
	it, derr := item.Decode(v)
	if derr != nil {
		r.Malformed++
		return nil, false
	}
	if id := it.ID(); !bytes.Equal(k, id[:]) {
		r.Malformed++ // bytes of another item, or altered ones
		return nil, false
	}
	if err := it.Verify(verifyAt); err != nil {
		r.BadSignature++
		return nil, false
	}
	return it, true
}

// indexOfKept reports whether a record may be salvaged: records of the
// item indexes only when their item was.
func indexOfKept(bucket string, k []byte, kept map[item.ID]bool) bool {
	idAt := func(off int) bool {
		return off >= 0 && off+item.IDSize <= len(k) && kept[item.ID(k[off:off+item.IDSize])]
	}
	switch bucket {
	case bucketScope, bucketSpace:
		return idAt(len(k) - item.IDSize)
	case bucketItemScope:
		return idAt(0)
	case bucketDead:
		return idAt(item.IDSize) // target ‖ tombstone: kept with its tombstone
	}
	return true
}

// walkKeys calls fn with every record under prefix: its bucket, its key
// and a function reading its value. When badger panics on a damaged block,
// it notes the problem and resumes after the last key it read; when that
// makes no progress, it stops there.
func walkKeys(bdb *badger.DB, prefix []byte, r *Report, fn func(bucket string, k []byte, value func() ([]byte, error))) {
	next := bytes.Clone(prefix)
	for restarts := 0; ; restarts++ {
		done, last := walkFrom(bdb, prefix, next, fn)
		if done {
			return
		}
		if last == nil || restarts == maxRestarts {
			r.problem("badger failed reading after key %x; the records beyond it were not checked", next)
			return
		}
		r.problem("badger failed reading after key %x; resumed past it", last)
		next = append(last, 0) // the next possible key
	}
}

// walkFrom walks from the key from; last is the last key it handed to fn
// (nil if none).
func walkFrom(bdb *badger.DB, prefix, from []byte, fn func(bucket string, k []byte, value func() ([]byte, error))) (done bool, last []byte) {
	defer func() {
		if recover() != nil {
			done = false
		}
	}()
	err := bdb.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = prefix
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(from); it.ValidForPrefix(prefix); it.Next() {
			bi := it.Item()
			k := bi.KeyCopy(nil)
			last = k
			bucket, rest, ok := bytes.Cut(k, []byte{0})
			if !ok || len(bucket) == 0 {
				continue
			}
			fn(string(bucket), rest, func() ([]byte, error) { return valueOf(bi) })
		}
		return nil
	})
	return err == nil, last
}

// valueOf reads a value, turning a panic into an error.
func valueOf(it *badger.Item) (v []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("badger: %v", r)
		}
	}()
	return it.ValueCopy(nil)
}

// recount sets the record from the items the store holds: Salvage copies
// records raw, so its store counts what it received.
func (db *DB) recount() error {
	n, err := db.CountItems()
	if err != nil {
		return err
	}
	db.putMu.Lock()
	defer db.putMu.Unlock()
	db.rec.live, db.rec.puts = uint64(n), uint64(n)
	return db.Update(func(tx *Tx) error { return tx.Put(bucketFormat, []byte(recordKey), db.rec.bytes()) })
}
