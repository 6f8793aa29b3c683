package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, testKey(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *Tx) error { return tx.Put("items", []byte("a"), []byte("alpha")) }); err != nil {
		t.Fatal(err)
	}
	b := db.NewBatch()
	for i := range 5000 {
		if err := b.Put("idx", fmt.Appendf(nil, "k%05d", i), bytes.Repeat([]byte{byte(i)}, 300)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := db.View(func(*Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("View after Close: %v", err)
	}

	db, err = Open(dir, testKey(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *Tx) error {
		v, err := tx.Get("items", []byte("a"))
		if err != nil || string(v) != "alpha" {
			return fmt.Errorf("get a: %q %v", v, err)
		}
		if _, err := tx.Get("items", []byte("b")); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("get b: %v", err)
		}
		n := 0
		if err := tx.ScanKeys("idx", []byte("k"), func(k []byte) error {
			if want := fmt.Sprintf("k%05d", n); string(k) != want {
				return fmt.Errorf("key %d = %q, want %q", n, k, want)
			}
			n++
			return nil
		}); err != nil {
			return err
		}
		if n != 5000 {
			return fmt.Errorf("scanned %d keys, want 5000", n)
		}
		// Buckets do not bleed into each other.
		m := 0
		tx.Scan("items", nil, func(k, v []byte) error { m++; return nil })
		if m != 1 {
			return fmt.Errorf("items bucket has %d keys", m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSecondOpenIsInUse(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, testKey(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = Open(dir, testKey(1), nil)
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second open: %v, want ErrInUse", err)
	}
}

func TestWrongKey(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, testKey(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *Tx) error { return tx.Put("b", []byte("k"), []byte("v")) })
	db.Close()
	if _, err := Open(dir, testKey(2), nil); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("open with wrong key: %v", err)
	}
	// The right key still opens it: nothing was lost.
	db, err = Open(dir, testKey(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
}

// TestNoPlaintextOnDisk writes a marker through the store, as key and as
// value, small (in the LSM tree) and large (in the value log), and greps
// every file in the directory for it.
func TestNoPlaintextOnDisk(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, testKey(7), nil)
	if err != nil {
		t.Fatal(err)
	}
	marker := []byte("GHOSTWIRE-PLAINTEXT-MARKER-7f3a")
	err = db.Update(func(tx *Tx) error {
		if err := tx.Put("b", marker, []byte("small")); err != nil {
			return err
		}
		if err := tx.Put("b", []byte("small"), marker); err != nil {
			return err
		}
		return tx.Put("b", []byte("large"), bytes.Repeat(marker, 200))
	})
	if err != nil {
		t.Fatal(err)
	}
	// Enough data to force a memtable flush into SST files as well.
	b := db.NewBatch()
	for i := range 40000 {
		b.Put("fill", fmt.Appendf(nil, "%08d", i), append(bytes.Repeat([]byte{'x'}, 200), marker...))
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	files, ssts := 0, 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		if filepath.Ext(p) == ".sst" {
			ssts++
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, marker) || bytes.Contains(data, []byte("xxxxxxxxxxxxxxxx")) {
			t.Errorf("%s contains plaintext", filepath.Base(p))
		}
		return nil
	})
	if ssts == 0 {
		t.Fatal("no SST file written; the test did not exercise the LSM tree")
	}
	if files < 3 {
		t.Fatalf("only %d files on disk; the test did not exercise the tree", files)
	}
}
