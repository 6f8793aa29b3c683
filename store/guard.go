package store

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/badger/v4/y"
)

// How the store tells a new store from a damaged or missing one (see
// docs/storage.md): a record kept twice, where one kind of damage cannot
// erase both copies.
//
//   - In badger (bucketFormat, key "record"): a random store identity, the
//     number of items ever stored (puts, which only grows) and the number
//     stored live now (live). PutItems updates it in the same transaction as
//     the items, so it is exact after any crash.
//   - Beside the directory, in the marker file dir+".id": the identity and
//     a lower bound of puts, written atomically (a new file renamed over
//     the old) when the store is created, opened and closed.
//
// A lost table or a truncated MANIFEST takes badger's copy with it or
// leaves it counting items that are gone; a deleted or emptied directory
// leaves the marker naming a store that is not there. Either way Open
// refuses with a *DamageError rather than start on what is left.

// recordKey is the record's key in bucketFormat.
const recordKey = "record"

// Identity is the store's random identity, kept in its record. A store
// salvaged from another (Salvage) has its own, so a caller whose records
// copy item data can tell that they were carried into a store that may
// lack some of those items.
func (db *DB) Identity() [16]byte { return db.ident }

// record is the store's identity and counts.
type record struct {
	id   [16]byte
	puts uint64 // items ever stored; never decreases
	live uint64 // items stored and not deleted
}

func (r record) bytes() []byte {
	b := append([]byte(nil), r.id[:]...)
	b = binary.BigEndian.AppendUint64(b, r.puts)
	return binary.BigEndian.AppendUint64(b, r.live)
}

func parseRecord(b []byte) (record, bool) {
	var r record
	if len(b) != 32 {
		return r, false
	}
	copy(r.id[:], b)
	r.puts = binary.BigEndian.Uint64(b[16:])
	r.live = binary.BigEndian.Uint64(b[24:])
	return r, true
}

// badgerFiles is what a store directory holds, by badger's file kinds.
type badgerFiles struct {
	manifest, keyRegistry bool
	tables                map[uint64]bool // .sst by ID
	vlogs, wals           int
}

func (f badgerFiles) empty() bool {
	return !f.manifest && !f.keyRegistry && len(f.tables) == 0 && f.vlogs == 0 && f.wals == 0
}

// Badger's file names (badger/v4: manifest.go, key_registry.go, table.go).
const (
	manifestName    = "MANIFEST"
	keyRegistryName = "KEYREGISTRY"
)

// listFiles reads dir; a missing dir is empty.
func listFiles(dir string) (badgerFiles, error) {
	f := badgerFiles{tables: map[uint64]bool{}}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("store: reading %s: %w", dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == manifestName:
			f.manifest = true
		case name == keyRegistryName:
			f.keyRegistry = true
		case strings.HasSuffix(name, ".sst"):
			if id, err := strconv.ParseUint(strings.TrimSuffix(name, ".sst"), 10, 64); err == nil {
				f.tables[id] = true
			}
		case strings.HasSuffix(name, ".vlog"):
			f.vlogs++
		case strings.HasSuffix(name, ".mem"):
			f.wals++
		}
	}
	return f, nil
}

// preflight checks dir before badger opens it, for what badger would
// "repair" by deleting or starting over: a missing MANIFEST or key
// registry (badger makes new empty ones), and tables the MANIFEST does not
// name (badger deletes them). It returns the files, and the tables the
// MANIFEST does not name, which the caller must keep from badger; torn
// says the MANIFEST ends in a partial entry, which badger cuts off.
func preflight(dir string) (files badgerFiles, unnamed []uint64, torn bool, err error) {
	files, err = listFiles(dir)
	if err != nil || files.empty() {
		return files, nil, false, err
	}
	if !files.manifest {
		return files, nil, false, damaged(dir, "its %s (badger's list of tables) is missing; badger would start empty and delete its %d table files", manifestName, len(files.tables))
	}
	if !files.keyRegistry {
		return files, nil, false, damaged(dir, "its %s (the keys its files are encrypted with) is missing", keyRegistryName)
	}
	fp, err := os.Open(filepath.Join(dir, manifestName))
	if err != nil {
		return files, nil, false, fmt.Errorf("store: reading %s: %w", dir, err)
	}
	defer fp.Close()
	m, end, err := replayManifest(fp)
	if err != nil {
		return files, nil, false, damaged(dir, "its %s does not read: %v", manifestName, err)
	}
	if st, err := fp.Stat(); err == nil && end < st.Size() {
		torn = true
	}
	for id := range m.Tables {
		if !files.tables[id] {
			return files, nil, false, damaged(dir, "table %06d.sst, named by its %s, is missing", id, manifestName)
		}
		if err := checkTable(filepath.Join(dir, fmt.Sprintf("%06d.sst", id))); err != nil {
			return files, nil, false, damaged(dir, "table %06d.sst is damaged: %v", id, err)
		}
	}
	for id := range files.tables {
		if _, ok := m.Tables[id]; !ok {
			unnamed = append(unnamed, id)
		}
	}
	slices.Sort(unnamed)
	if err := checkWALs(dir); err != nil {
		return files, nil, false, err
	}
	return files, unnamed, torn, nil
}

// checkWALs walks badger's write-ahead logs (the .mem files: what was
// written since the last table) for damage other than a crash's torn last
// write. Badger replays a log up to its first bad entry and cuts the rest
// off, so a damaged byte in the middle would silently drop every
// transaction after it.
func checkWALs(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("store: reading %s: %w", dir, err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".mem") || !e.Type().IsRegular() {
			continue
		}
		var w LogWalk
		info, err := e.Info()
		if err == nil && info.Size() > 0 {
			w, err = WalkLogFile(filepath.Join(dir, e.Name()))
		}
		switch {
		case errors.Is(err, errLogHeader):
			return damaged(dir, "its write-ahead log %s is %s", e.Name(), err)
		case err != nil:
			return fmt.Errorf("store: reading %s: %w", e.Name(), err)
		case w.Damage != "" && !w.Torn:
			return damaged(dir, "its write-ahead log %s has %s, and data after it that badger would drop", e.Name(), w.Damage)
		}
	}
	return nil
}

// tornManifest is where open keeps a MANIFEST that ends in a partial entry
// while badger cuts the entry off: put back if the store then checks
// damaged, removed if it checks whole (the cut bytes were a write that
// never completed).
const tornManifest = manifestName + ".torn"

// keepManifest copies a torn MANIFEST aside and returns the function that
// puts it back.
func keepManifest(dir string) (restore func(), err error) {
	from, to := filepath.Join(dir, manifestName), filepath.Join(dir, tornManifest)
	os.Remove(to) // a copy left by an earlier crash: the MANIFEST holds at least as much
	if err := copyFile(from, to); err != nil {
		return nil, fmt.Errorf("store: keeping a copy of the MANIFEST: %w", err)
	}
	return func() { os.Rename(to, from) }, nil
}

// keptSuffix marks the copies keepLogs makes (badger reads only names
// ending in .mem).
const keptSuffix = ".kept"

// keepLogs copies the write-ahead logs aside before an open that may be
// refused, and returns the function that undoes what badger did to the
// directory meanwhile: the logs put back, and the tables badger made from
// them (any table not there before) removed, so that a refused open leaves
// the store as it found it.
func keepLogs(dir string) (restore func(), err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	before := map[string]bool{}
	var kept []string
	for _, e := range entries {
		name := e.Name()
		before[name] = true
		if !strings.HasSuffix(name, ".mem") || !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, name)
		os.Remove(p + keptSuffix) // left by a crash: the log holds at least as much
		if err := copyFile(p, p+keptSuffix); err != nil {
			for _, k := range kept {
				os.Remove(k + keptSuffix)
			}
			return nil, fmt.Errorf("store: keeping a copy of %s: %w", name, err)
		}
		kept = append(kept, p)
	}
	return func() {
		for _, p := range kept {
			os.Rename(p+keptSuffix, p)
		}
		if now, err := os.ReadDir(dir); err == nil {
			for _, e := range now {
				if strings.HasSuffix(e.Name(), ".sst") && !before[e.Name()] {
					os.Remove(filepath.Join(dir, e.Name()))
				}
			}
		}
	}, nil
}

// dropKeptLogs removes keepLogs' copies once the store opened.
func dropKeptLogs(dir string) {
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".mem"+keptSuffix) {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
}

// checkTable checks a table's footer and index against the index's
// checksum, as badger's table.initIndex reads them: badger opens tables in
// goroutines of its own, where a damaged footer is a panic that nothing can
// recover, so it must not see one. Blocks are checked as they are read
// (options.OnBlockRead).
func checkTable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	u32At := func(off int64) (int64, error) {
		var b [4]byte
		if off < 0 || off+4 > size {
			return 0, errors.New("truncated")
		}
		if _, err := f.ReadAt(b[:], off); err != nil {
			return 0, err
		}
		return int64(binary.BigEndian.Uint32(b[:])), nil
	}
	pos := size - 4
	sumLen, err := u32At(pos)
	if err != nil {
		return err
	}
	if pos -= sumLen; sumLen > 64 || pos < 0 {
		return errors.New("truncated or altered footer")
	}
	sumBuf := make([]byte, sumLen)
	if _, err := f.ReadAt(sumBuf, pos); err != nil {
		return err
	}
	algo, sum, ok := parseChecksum(sumBuf)
	if !ok {
		return errors.New("altered footer")
	}
	pos -= 4
	indexLen, err := u32At(pos)
	if err != nil {
		return err
	}
	if pos -= indexLen; pos < 0 {
		return errors.New("truncated or altered index")
	}
	index := make([]byte, indexLen)
	if _, err := f.ReadAt(index, pos); err != nil {
		return err
	}
	if y.CalculateChecksum(index, algo) != sum {
		return errors.New("its index does not match its checksum")
	}
	return nil
}

// parseChecksum reads badger's pb.Checksum (protobuf: field 1 the
// algorithm, field 2 the sum, both varints) without a protobuf decoder.
func parseChecksum(b []byte) (pb.Checksum_Algorithm, uint64, bool) {
	var algo, sum uint64
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, 0, false
		}
		b = b[n:]
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, 0, false
		}
		b = b[n:]
		switch tag {
		case 1<<3 | 0:
			algo = v
		case 2<<3 | 0:
			sum = v
		default:
			return 0, 0, false
		}
	}
	a := pb.Checksum_Algorithm(algo)
	return a, sum, a == pb.Checksum_CRC32C || a == pb.Checksum_XXHash64
}

// replayManifest reads a MANIFEST without changing it, turning badger's
// panics into errors.
func replayManifest(fp *os.File) (m badger.Manifest, trunc int64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("badger: %v", r)
		}
	}()
	return badger.ReplayManifestFile(fp, 0, badger.DefaultOptions(""))
}

// unreferencedDir is where Open moves tables the MANIFEST does not name,
// inside the store directory (badger only looks at its top level).
const unreferencedDir = "unreferenced"

// setAside moves the unnamed tables out of badger's sight. A crash between
// a new table's write and its MANIFEST entry leaves such a table, and then
// its data is still in the write-ahead log; a truncated MANIFEST leaves
// many, holding everything. Badger would delete them either way; we keep
// them until the record check says which it was. It returns a function
// that puts them back.
func setAside(dir string, ids []uint64) (restore func(), err error) {
	if len(ids) == 0 {
		return func() {}, nil
	}
	aside := filepath.Join(dir, unreferencedDir)
	if err := os.MkdirAll(aside, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	var moved []string
	restore = func() {
		for _, name := range moved {
			os.Rename(filepath.Join(aside, name), filepath.Join(dir, name))
		}
		os.Remove(aside) // only if empty
	}
	for _, id := range ids {
		name := fmt.Sprintf("%06d.sst", id)
		if _, err := os.Stat(filepath.Join(aside, name)); err == nil {
			// A file of that name was set aside before: keep both.
			os.Rename(filepath.Join(aside, name), filepath.Join(aside, fmt.Sprintf("%s.%d", name, os.Getpid())))
		}
		if err := os.Rename(filepath.Join(dir, name), filepath.Join(aside, name)); err != nil {
			restore()
			return nil, fmt.Errorf("store: setting aside %s: %w", name, err)
		}
		moved = append(moved, name)
	}
	return restore, nil
}

// open opens db.dir: preflight, badger, then the record check.
func (db *DB) open() error {
	mk, err := readMarker(db.dir)
	if err != nil {
		return err
	}
	files, unnamed, torn, err := preflight(db.dir)
	if err != nil {
		return err
	}
	isNew := files.empty()
	if !isNew && mk != nil {
		if err := checkVlogs(db.dir, mk.vlog); err != nil {
			return err
		}
	}
	if isNew {
		switch {
		case mk != nil:
			return missing(db.dir, "the store recorded in %s is not there (the directory was deleted, emptied or moved)", markerPath(db.dir))
		case db.cfg.MustExist:
			return missing(db.dir, "there is no store")
		}
	}
	restoreManifest := func() {}
	if torn {
		if restoreManifest, err = keepManifest(db.dir); err != nil {
			return err
		}
	}
	restoreTables, err := setAside(db.dir, unnamed)
	if err != nil {
		restoreManifest()
		return err
	}
	restoreLogs := func() {}
	if torn || len(unnamed) > 0 {
		// The open may be refused (the record check decides), and badger,
		// closing, flushes its write-ahead logs into a table and deletes
		// them: keep them to put back.
		if restoreLogs, err = keepLogs(db.dir); err != nil {
			restoreTables()
			restoreManifest()
			return err
		}
	}
	restore := func() { restoreLogs(); restoreTables(); restoreManifest() }
	opts := badgerOptions(db.dir, db.key, db.sizes, db.log)
	opts.ReadOnly = !isNew && db.space.free() < db.space.threshold()
	bdb, err := openBadger(opts)
	if err != nil {
		restore()
		if errors.Is(err, badger.ErrTruncateNeeded) {
			if ferr := db.space.check(); ferr != nil {
				return fmt.Errorf("%w (it needs space to recover from a crash before it can open)", ferr)
			}
		}
		return err
	}
	db.bdb, db.readOnly = bdb, opts.ReadOnly
	if err := db.checkRecord(mk, len(unnamed)); err != nil {
		bdb.Close()
		restore()
		return err
	}
	if torn {
		os.Remove(filepath.Join(db.dir, tornManifest))
	}
	dropKeptLogs(db.dir)
	if len(unnamed) > 0 {
		db.log.Warn("store: moved table files its MANIFEST does not name (left by a crash) aside; the store checked whole without them",
			"dir", filepath.Join(db.dir, unreferencedDir), "tables", len(unnamed))
	}
	if db.readOnly {
		db.log.Warn("store: the disk is full; opened read-only until space is freed", "dir", db.dir)
		return nil
	}
	if err := db.upgradeItems(); err != nil {
		bdb.Close()
		return err
	}
	// The value log's files are open (and the last one preallocated): keep
	// what the last clean close measured until the next one.
	now := marker{id: db.rec.id, puts: db.rec.puts}
	if mk != nil {
		now.vlog = mk.vlog
	}
	if err := writeMarker(db.dir, now); err != nil {
		bdb.Close()
		return err
	}
	return nil
}

// checkRecord reads badger's record and compares it with the marker mk
// (nil if none) and with the items the store holds; a store without a
// record (new, or made before records) gets one, unless tables were set
// aside (unnamed): then it may be a store whose record was lost with them.
func (db *DB) checkRecord(mk *marker, unnamed int) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = damaged(db.dir, "badger failed reading it: %v", r)
		}
	}()
	var raw []byte
	var count uint64
	err = db.bdb.View(func(txn *badger.Txn) error {
		tx := &Tx{txn}
		v, err := tx.Get(bucketFormat, []byte(recordKey))
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		raw = v
		return tx.ScanKeys(bucketItem, nil, func([]byte) error { count++; return nil })
	})
	if err != nil {
		return damaged(db.dir, "reading its record and items: %v", err)
	}
	if raw == nil {
		if mk != nil {
			return damaged(db.dir, "its record is gone though %s names it: badger lost the table that held it", markerPath(db.dir))
		}
		if unnamed > 0 {
			return damaged(db.dir, "it has no record, and %d table files its MANIFEST does not name: the MANIFEST may have lost them", unnamed)
		}
		// A new store, or one made before records: count what it holds.
		db.rec = record{puts: count, live: count}
		if _, err := rand.Read(db.rec.id[:]); err != nil {
			return err
		}
		if db.readOnly {
			return nil
		}
		return db.bdb.Update(func(txn *badger.Txn) error {
			return (&Tx{txn}).Put(bucketFormat, []byte(recordKey), db.rec.bytes())
		})
	}
	rec, ok := parseRecord(raw)
	switch {
	case !ok:
		return damaged(db.dir, "its record is malformed")
	case mk != nil && mk.id != rec.id:
		return damaged(db.dir, "it is not the store %s names (another store was put in its place)", markerPath(db.dir))
	case mk != nil && rec.puts < mk.puts:
		return damaged(db.dir, "it has stored %d items where %d were recorded: it lost writes, or is an older copy", rec.puts, mk.puts)
	case count != rec.live:
		return damaged(db.dir, "it holds %d readable items where its record counts %d", count, rec.live)
	}
	if mk == nil {
		db.log.Warn("store: its marker was missing; writing it again", "marker", markerPath(db.dir))
	}
	db.rec = rec
	return nil
}

// checkOptions are badger's options for Check: read-only, verifying every
// table and block it reads.
func checkOptions(dir string, key []byte) badger.Options {
	var g spaceGuard
	g.init(dir, 0)
	_, total, _ := g.stat()
	opts := badgerOptions(dir, key, sizesFor(total), nil)
	opts.ReadOnly = true
	opts.ChecksumVerificationMode = options.OnTableAndBlockRead
	return opts
}
