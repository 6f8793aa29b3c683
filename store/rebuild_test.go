package store

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4/fb"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/badger/v4/y"
	"github.com/dgraph-io/ristretto/v2"
)

// appendLogEntry appends one entry in badger's log layout (see logwalk.go);
// key and value stand for the encrypted bytes, which walkLog never reads.
func appendLogEntry(b []byte, meta byte, k, v []byte) []byte {
	start := len(b)
	b = append(b, meta, 0)
	b = binary.AppendUvarint(b, uint64(len(k)))
	b = binary.AppendUvarint(b, uint64(len(v)))
	b = binary.AppendUvarint(b, 0)
	b = append(append(b, k...), v...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], crc32.MakeTable(crc32.Castagnoli)))
}

// testLog is a log of two transactions of two entries each, then an
// unfinished one, then badger's preallocated zeros.
func testLog() (log []byte, ends []int) {
	log = make([]byte, logHeaderSize)
	binary.BigEndian.PutUint64(log, 7)
	for txn := range 3 {
		log = appendLogEntry(log, logBitTxn, []byte("key-a"), bytes.Repeat([]byte{byte(txn)}, 100))
		ends = append(ends, len(log))
		log = appendLogEntry(log, logBitTxn, []byte("key-b"), []byte("v"))
		ends = append(ends, len(log))
		if txn < 2 {
			log = appendLogEntry(log, logBitFinTxn, []byte("!badger!txn"), []byte("12"))
			ends = append(ends, len(log))
		}
	}
	return append(log, make([]byte, 300)...), ends
}

func TestWalkLog(t *testing.T) {
	log, ends := testLog()
	w, err := walkLog(bytes.NewReader(log), int64(len(log)))
	if err != nil || w.KeyID != 7 || w.Entries != 8 || w.End != int64(ends[7]) || w.Committed != int64(ends[5]) || w.Damage != "" {
		t.Fatalf("whole log: %+v, %v; want 8 entries to %d, committed to %d", w, err, ends[7], ends[5])
	}

	// Cut inside the third transaction: the two before it are committed.
	cut := log[:ends[6]+3]
	if w, err := walkLog(bytes.NewReader(cut), int64(len(cut))); err != nil || w.Entries != 7 || w.Committed != int64(ends[5]) || w.Damage == "" {
		t.Fatalf("cut log: %+v, %v", w, err)
	}

	// A flipped byte in the second transaction's value: only the first
	// transaction counts.
	flipped := bytes.Clone(log)
	flipped[ends[2]+20] ^= 0xff
	if w, _ := walkLog(bytes.NewReader(flipped), int64(len(flipped))); w.Entries != 3 || w.Committed != int64(ends[2]) || !strings.Contains(w.Damage, "checksum") {
		t.Fatalf("flipped log: %+v", w)
	}

	// Something other than zeros after the end is damage, not the end.
	tail := bytes.Clone(log)
	tail[len(tail)-10] = 1
	if w, _ := walkLog(bytes.NewReader(tail), int64(len(tail))); w.Damage == "" {
		t.Fatalf("junk after the last entry passed as badger's zeros: %+v", w)
	}

	if _, err := walkLog(bytes.NewReader(log[:10]), 10); err == nil {
		t.Fatal("a log shorter than its header walked")
	}
}

// TestWalkLogClaimsNoMemory: a header claiming a 4 GiB value costs nothing:
// its length is checked against the file before anything is read, where
// badger's own replay would allocate it.
func TestWalkLogClaimsNoMemory(t *testing.T) {
	log := make([]byte, logHeaderSize)
	log = append(log, 0, 0)
	log = binary.AppendUvarint(log, 10)
	log = binary.AppendUvarint(log, 1<<32-1)
	log = binary.AppendUvarint(log, 0)
	log = append(log, make([]byte, 1000)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	w, err := walkLog(bytes.NewReader(log), int64(len(log)))
	runtime.ReadMemStats(&after)
	if err != nil || w.Entries != 0 || !strings.Contains(w.Damage, "claims") {
		t.Fatalf("walk: %+v, %v", w, err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("walking a 1 KiB log allocated %d bytes", n)
	}
}

// FuzzWalkLog: a log read from a damaged disk. No input panics, what is
// reported stays inside the file, and memory stays bounded (the walk
// streams; TestWalkLogClaimsNoMemory).
func FuzzWalkLog(f *testing.F) {
	log, ends := testLog()
	f.Add(log)
	f.Add(log[:ends[4]+5])
	f.Add(log[:logHeaderSize])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := walkLog(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		// The smallest entry is 10 bytes: meta, userMeta, three one-byte
		// lengths, a one-byte key, the checksum.
		if w.Committed > w.End || w.End > int64(len(b)) || w.Committed < logHeaderSize || int64(w.Entries)*10 > w.End-logHeaderSize {
			t.Fatalf("walk of %d bytes: %+v", len(b), w)
		}
	})
}

// testTable builds a small encrypted table as badger writes one.
func testTable(t testing.TB, dk *pb.DataKey) []byte {
	t.Helper()
	opts := table.Options{BlockSize: 4 << 10, BloomFalsePositive: 0.01, TableSize: 1 << 20, DataKey: dk, Compression: options.None}
	b := table.NewTableBuilder(opts)
	defer b.Close()
	for i := range 200 {
		k := y.KeyWithTs([]byte(strings.Repeat("k", 10)+string(rune('a'+i%26))+string(rune('0'+i/26))), 1)
		b.Add(k, y.ValueStruct{Value: bytes.Repeat([]byte{byte(i)}, 50)}, 0)
	}
	return b.Finish()
}

func testDataKey(id uint64) *pb.DataKey {
	return &pb.DataKey{KeyId: id, Data: bytes.Repeat([]byte{byte(id)}, 32), Iv: make([]byte, 16)}
}

// TestSalvageTableKey: a table is read with the key that decrypts it
// whichever the registry lists first; a table no key decrypts, or one whose
// block was altered, is refused whole.
func TestSalvageTableKey(t *testing.T) {
	dir := t.TempDir()
	cache := newIndexCache(t)
	keys := []*pb.DataKey{testDataKey(1), testDataKey(2), testDataKey(3)}
	src := filepath.Join(dir, "src", "000004.sst")
	os.MkdirAll(filepath.Dir(src), 0o700)
	good := testTable(t, keys[1])
	if err := os.WriteFile(src, good, 0o600); err != nil {
		t.Fatal(err)
	}
	dst := func(sub string) string {
		os.MkdirAll(filepath.Join(dir, sub), 0o700)
		return filepath.Join(dir, sub, "000004.sst")
	}
	te, err := salvageTable(src, dst("a"), keys, cache)
	if err != nil || te.id != 4 || te.keyID != 2 || te.keys != 200 {
		t.Fatalf("salvageTable: %+v, %v; want table 4, key 2, 200 keys", te, err)
	}
	if _, err := os.Stat(src); err != nil {
		t.Fatalf("the damaged store's table is gone: %v", err)
	}
	if _, err := salvageTable(src, dst("b"), []*pb.DataKey{keys[0], keys[2]}, cache); err == nil {
		t.Fatal("a table read with keys that do not decrypt it")
	}
	bad := bytes.Clone(good)
	bad[100] ^= 0xff // inside the first block
	os.WriteFile(src, bad, 0o600)
	if _, err := salvageTable(src, dst("c"), keys, cache); err == nil {
		t.Fatal("a table with an altered block read whole")
	}
}

func newIndexCache(t testing.TB) *ristretto.Cache[uint64, *fb.TableIndex] {
	c, err := ristretto.NewCache(&ristretto.Config[uint64, *fb.TableIndex]{NumCounters: 1 << 10, MaxCost: 1 << 20, BufferItems: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// FuzzSalvageTable: a table file from a damaged disk, read as salvage
// reads it. Badger's table code asserts (panics) on much of what damage
// does; no input may panic out of salvageTable, and a table it accepts has
// no more keys than bytes. Memory is bounded by the file's size: badger
// maps the file and allocates at most a block or the index.
func FuzzSalvageTable(f *testing.F) {
	dk := testDataKey(1)
	good := testTable(f, dk)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(good[len(good)-40:])
	dir := f.TempDir()
	cache := newIndexCache(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		src := filepath.Join(dir, "000001.sst")
		if err := os.WriteFile(src, b, 0o600); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, "copy", "000001.sst")
		os.MkdirAll(filepath.Dir(dst), 0o700)
		os.Remove(dst)
		te, err := salvageTable(src, dst, []*pb.DataKey{dk}, cache)
		if err == nil && te.keys > len(b) {
			t.Fatalf("accepted a %d-byte table of %d keys", len(b), te.keys)
		}
	})
}

// TestSalvageRebuiltNewestAndDeletes: salvage from a store whose MANIFEST
// is gone takes the newest version of each key across tables it no longer
// knows the levels of, and a delete in a newer table keeps the older
// value from coming back.
func TestSalvageRebuiltNewestAndDeletes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	write := func(fn func(tx *Tx) error) {
		t.Helper()
		db, err := Open(dir, testKey(1), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(fn); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil { // flushes a table
			t.Fatal(err)
		}
	}
	write(func(tx *Tx) error {
		for _, k := range []string{"kept", "updated", "deleted"} {
			if err := tx.Put("test", []byte(k), []byte("old")); err != nil {
				return err
			}
		}
		return nil
	})
	write(func(tx *Tx) error {
		if err := tx.Put("test", []byte("updated"), []byte("new")); err != nil {
			return err
		}
		return tx.Delete("test", []byte("deleted"))
	})
	if err := os.Remove(filepath.Join(dir, manifestName)); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "salvaged")
	rep, err := Salvage(dir, testKey(1), out)
	if err != nil || !rep.Rebuilt {
		t.Fatalf("salvage: %+v, %v; want a rebuilt copy", rep, err)
	}
	db, err := Open(out, testKey(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := map[string]string{}
	if err := db.View(func(tx *Tx) error {
		return tx.Scan("test", nil, func(k, v []byte) error { got[string(k)] = string(v); return nil })
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["kept"] != "old" || got["updated"] != "new" {
		t.Fatalf("salvaged %v; want kept=old, updated=new, deleted gone", got)
	}
}

// TestWalkLogTorn: a crash's partial last write, zeros after it, is torn;
// a bad entry with data after it is not.
func TestWalkLogTorn(t *testing.T) {
	log, ends := testLog()
	torn := bytes.Clone(log)
	// The last entry half written: the rest of it, and the tail, zeros.
	for i := ends[6] + (ends[7]-ends[6])/2; i < len(torn); i++ {
		torn[i] = 0
	}
	if w, _ := walkLog(bytes.NewReader(torn), int64(len(torn))); w.Damage == "" || !w.Torn || w.Entries != 7 {
		t.Fatalf("a torn last write: %+v", w)
	}
	mid := bytes.Clone(log)
	mid[ends[2]+20] ^= 0xff
	if w, _ := walkLog(bytes.NewReader(mid), int64(len(mid))); w.Torn {
		t.Fatalf("a flipped byte with entries after it passed as torn: %+v", w)
	}
	cut := log[:ends[6]+3]
	if w, _ := walkLog(bytes.NewReader(cut), int64(len(cut))); w.Torn {
		t.Fatalf("a file cut inside an entry passed as torn: %+v", w)
	}
}
