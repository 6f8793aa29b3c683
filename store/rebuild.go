package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/fb"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2"
	"github.com/dgraph-io/ristretto/v2/z"
)

// Salvage from a store badger will not open (a MANIFEST truncated, altered
// or deleted; a table that does not read; a log badger refuses).
//
// Badger reads its files better than a reader of our own would: it knows
// every version of its formats, takes the newest version of each key,
// honours deletes, follows value pointers into the value logs and checks
// every checksum. What it cannot do is open a directory whose MANIFEST (the
// list of tables, their levels and the data key of each) is gone or wrong,
// or whose tables include one that does not read. So rebuildCopy makes a
// copy that badger can open: every table that reads whole, all at level 0
// (where tables may overlap and a read takes the newest version across all
// of them, so levels need not be known), each with the data key that
// decrypts it (found by trying the key registry's keys: a table does not
// name its key), under a new MANIFEST; every value log whose header names a
// known key; and the intact prefix of each write-ahead log. Badger then
// opens the copy and Check walks it as it walks any store. The damaged
// store is only ever read.

// FileReport says what salvage read of one of badger's files, and what it
// could not.
type FileReport struct {
	Name string `json:"name"`
	// Entries counts what was read intact: a table's keys, a log's entries.
	Entries int `json:"entries"`
	// Lost says what could not be read, in words; empty when the whole file
	// was read.
	Lost string `json:"lost,omitempty"`
}

// keysLost is the damage that loses everything: without the key registry's
// data keys no file of the store can be decrypted.
func keysLost(dir, format string, a ...any) error {
	return damaged(dir, "%s: every file of the store is encrypted with the data keys it held, so nothing can be read or salvaged; restore the store from a backup",
		fmt.Sprintf(format, a...))
}

// dataKeys reads the key registry of dir without changing it.
func dataKeys(dir string, key []byte) ([]*pb.DataKey, error) {
	path := filepath.Join(dir, keyRegistryName)
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, keysLost(dir, "its %s is missing", keyRegistryName)
	case err != nil:
		return nil, fmt.Errorf("store: %w", err)
	case st.Size() == 0:
		return nil, keysLost(dir, "its %s is empty", keyRegistryName)
	}
	kr, err := openKeyRegistry(dir, key)
	if errors.Is(err, badger.ErrEncryptionKeyMismatch) {
		return nil, ErrWrongKey
	}
	if err != nil {
		return nil, keysLost(dir, "its %s does not read (%v)", keyRegistryName, err)
	}
	defer kr.Close()
	// Badger numbers data keys from 1 up, one per rotation.
	var keys []*pb.DataKey
	for id := uint64(1); ; id++ {
		dk, err := kr.DataKey(id)
		if err != nil || dk == nil {
			break
		}
		keys = append(keys, dk)
	}
	if len(keys) == 0 && len(key) > 0 {
		return nil, keysLost(dir, "its %s holds no data key", keyRegistryName)
	}
	return keys, nil
}

func openKeyRegistry(dir string, key []byte) (kr *badger.KeyRegistry, err error) {
	defer func() {
		if r := recover(); r != nil {
			kr, err = nil, fmt.Errorf("badger: %v", r)
		}
	}()
	return badger.OpenKeyRegistry(badger.KeyRegistryOptions{Dir: dir, ReadOnly: true, EncryptionKey: key})
}

// rebuildCopy makes, in a new temporary directory, a copy of the store in
// dir that badger can open (see above), and returns the directory and what
// it read of each file.
func rebuildCopy(dir string, key []byte) (tmp string, files []FileReport, err error) {
	keys, err := dataKeys(dir, key)
	if err != nil {
		return "", nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", nil, fmt.Errorf("store: reading %s: %w", dir, err)
	}
	tmp, err = os.MkdirTemp("", "ghostwire-salvage-")
	if err != nil {
		return "", nil, fmt.Errorf("store: a copy to salvage from: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := copyFile(filepath.Join(dir, keyRegistryName), filepath.Join(tmp, keyRegistryName)); err != nil {
		return "", nil, fmt.Errorf("store: a copy to salvage from: %w", err)
	}
	known := map[uint64]bool{0: len(key) == 0}
	for _, k := range keys {
		known[k.KeyId] = true
	}
	cache, err := ristretto.NewCache(&ristretto.Config[uint64, *fb.TableIndex]{NumCounters: 1 << 10, MaxCost: indexCacheSize, BufferItems: 64})
	if err != nil {
		return "", nil, fmt.Errorf("store: %w", err)
	}
	defer cache.Close()

	var tables []tableEntry
	var maxVlog uint64
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() {
			continue
		}
		src, dst := filepath.Join(dir, name), filepath.Join(tmp, name)
		switch {
		case strings.HasSuffix(name, ".sst"):
			f := FileReport{Name: name}
			t, err := salvageTable(src, dst, keys, cache)
			if err != nil {
				os.Remove(dst)
				f.Lost = fmt.Sprintf("the whole table: %v", err)
			} else {
				f.Entries = t.keys
				tables = append(tables, t)
			}
			files = append(files, f)
		case strings.HasSuffix(name, ".vlog"), strings.HasSuffix(name, ".mem"):
			wal := strings.HasSuffix(name, ".mem")
			f, err := salvageLog(src, dst, wal, known)
			if err != nil {
				return "", nil, err
			}
			files = append(files, f)
			if id, ok := logID(name, ".vlog"); ok && !wal {
				maxVlog = max(maxVlog, id)
			}
		}
	}
	// Badger cuts its newest value log at the first bad entry when it
	// opens; an empty newer one keeps it from cutting away the values that
	// follow a damaged one.
	if maxVlog > 0 || len(tables) > 0 {
		var hdr [logHeaderSize]byte // key ID 0: empty and unencrypted
		if err := os.WriteFile(filepath.Join(tmp, fmt.Sprintf("%06d.vlog", maxVlog+1)), hdr[:], 0o600); err != nil {
			return "", nil, fmt.Errorf("store: a copy to salvage from: %w", err)
		}
	}
	if err := writeManifest(tmp, tables); err != nil {
		return "", nil, err
	}
	return tmp, files, nil
}

func logID(name, suffix string) (uint64, bool) {
	var id uint64
	_, err := fmt.Sscanf(strings.TrimSuffix(name, suffix), "%d", &id)
	return id, err == nil
}

// tableEntry is a table of the rebuilt MANIFEST.
type tableEntry struct {
	id, keyID uint64
	keys      int
}

// salvageTable copies the table src to dst and reads the copy whole with
// each data key until one decrypts it. Badger's table package may delete
// the file it opened (when its last reference goes), so it only sees the
// copy.
func salvageTable(src, dst string, keys []*pb.DataKey, cache *ristretto.Cache[uint64, *fb.TableIndex]) (tableEntry, error) {
	id, ok := table.ParseFileID(src)
	if !ok {
		return tableEntry{}, errors.New("not a table file name")
	}
	if err := checkTable(src); err != nil {
		return tableEntry{}, err
	}
	if err := copyFile(src, dst); err != nil {
		return tableEntry{}, err
	}
	var last error
	for i := len(keys) - 1; i >= 0; i-- { // newest keys first: recent tables are the most
		n, err := readTable(dst, keys[i], cache)
		if err == nil {
			return tableEntry{id: id, keyID: keys[i].KeyId, keys: n}, nil
		}
		last = err
	}
	if len(keys) == 0 {
		n, err := readTable(dst, nil, cache)
		if err == nil {
			return tableEntry{id: id, keys: n}, nil
		}
		last = err
	}
	return tableEntry{}, fmt.Errorf("no block reads with any data key: %v", last)
}

// readTable opens the table at path with the data key and checks every
// block; badger's panics on bytes it does not expect become errors.
func readTable(path string, dk *pb.DataKey, cache *ristretto.Cache[uint64, *fb.TableIndex]) (n int, err error) {
	mf, err := z.OpenMmapFile(path, os.O_RDONLY, 0)
	if err != nil && !errors.Is(err, z.NewFile) {
		return 0, err
	}
	var t *table.Table
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("badger: %v", firstLine(fmt.Sprint(r)))
		}
		if t != nil {
			t.Close(-1)
		}
	}()
	t, err = table.OpenTable(mf, table.Options{
		ReadOnly:   true,
		ChkMode:    options.OnTableAndBlockRead,
		DataKey:    dk,
		IndexCache: cache,
	})
	if err != nil {
		return 0, err
	}
	return int(t.KeyCount()), nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// salvageLog walks the log src and copies it to dst: a value log whole (its
// values are read one at a time, through the tables' pointers, each against
// its checksum), a write-ahead log up to its last complete transaction
// before any damage (what badger would replay). A log whose header is lost
// or names an unknown key is not copied: nothing in it can be decrypted.
func salvageLog(src, dst string, wal bool, known map[uint64]bool) (FileReport, error) {
	f := FileReport{Name: filepath.Base(src)}
	in, err := os.Open(src)
	if err != nil {
		return f, fmt.Errorf("store: %w", err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return f, fmt.Errorf("store: %w", err)
	}
	if st.Size() == 0 {
		return f, nil // made but never written
	}
	w, err := walkLog(in, st.Size())
	switch {
	case err != nil:
		f.Lost = fmt.Sprintf("everything: %v", err)
		return f, nil
	case !known[w.KeyID]:
		f.Lost = fmt.Sprintf("everything: its header names data key %d, which the key registry does not hold", w.KeyID)
		return f, nil
	}
	f.Entries = w.Entries
	keep := st.Size()
	if wal {
		// A transaction a crash left unfinished (a torn tail) was never
		// acknowledged: dropping it, as badger does, loses nothing.
		keep = w.Committed
		if w.Damage != "" && !w.Torn {
			f.Lost = fmt.Sprintf("everything from byte %d on: the transaction holding %s, and every one after it", w.Committed, w.Damage)
		}
	} else if w.Damage != "" {
		f.Lost = fmt.Sprintf("the entries it holds at and after %s, unless each still reads through its pointer", w.Damage)
	}
	if err := copyPrefix(in, dst, keep); err != nil {
		return f, fmt.Errorf("store: a copy to salvage from: %w", err)
	}
	return f, nil
}

// copyPrefix copies the first n bytes of in to a new file dst.
func copyPrefix(in *os.File, dst string, n int64) error {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	buf := make([]byte, 256<<10)
	for off := int64(0); off < n; {
		m := min(int64(len(buf)), n-off)
		if _, err := in.ReadAt(buf[:m], off); err != nil {
			out.Close()
			return err
		}
		if _, err := out.Write(buf[:m]); err != nil {
			out.Close()
			return err
		}
		off += m
	}
	return out.Close()
}

// writeManifest writes a MANIFEST naming tables, all at level 0, in
// badger's format (badger/v4 manifest.go): "Bdgr", two bytes of the
// caller's version (0), two of badger's (8), then one change set: length
// and CRC-32C (big-endian, 4 bytes each) and the pb.ManifestChangeSet,
// whose fields are encoded here (protobuf: tag, varint) rather than by a
// protobuf library the store does not otherwise need. replayManifest reads
// it back as badger will, so a mistake here fails here.
func writeManifest(dir string, tables []tableEntry) error {
	slices.SortFunc(tables, func(a, b tableEntry) int { return int(a.id) - int(b.id) })
	var set []byte
	for _, t := range tables {
		var c []byte
		c = binary.AppendUvarint(append(c, 1<<3), t.id) // Id
		// Op CREATE, Level 0 and EncryptionAlgo aes are all 0: proto3 omits them.
		if t.keyID != 0 {
			c = binary.AppendUvarint(append(c, 4<<3), t.keyID) // KeyId
		}
		set = append(set, 1<<3|2) // changes, length-delimited
		set = binary.AppendUvarint(set, uint64(len(c)))
		set = append(set, c...)
	}
	b := []byte{'B', 'd', 'g', 'r', 0, 0, 0, 8}
	b = binary.BigEndian.AppendUint32(b, uint32(len(set)))
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(set, crc32.MakeTable(crc32.Castagnoli)))
	b = append(b, set...)
	path := filepath.Join(dir, manifestName)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("store: writing a MANIFEST for the copy: %w", err)
	}
	fp, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer fp.Close()
	m, _, err := replayManifest(fp)
	if err != nil || len(m.Tables) != len(tables) {
		return fmt.Errorf("bug: store: the rebuilt MANIFEST does not read back (%v, %d tables of %d)", err, len(m.Tables), len(tables))
	}
	return nil
}

// openRebuilt opens the rebuilt copy with badger. It may write to it
// (badger replays the write-ahead logs into tables), and every table is at
// level 0, so level 0 may hold them all without stalling.
func openRebuilt(tmp string, key []byte, tables int) (*badger.DB, error) {
	opts := checkOptions(tmp, key)
	opts.ReadOnly = false
	opts.NumLevelZeroTables = max(opts.NumLevelZeroTables, tables+numL0Tables)
	opts.NumLevelZeroTablesStall = opts.NumLevelZeroTables + numL0Stall
	opts.NumCompactors = 0 // nothing to gain from compacting a copy read once
	return openBadger(opts)
}
