package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/item"
)

// tmpfs mounts a tmpfs of size bytes on a new directory and unmounts it
// when the test ends. It needs root (CI and the dev container run as
// root); without it the test fails and says so rather than skipping: a
// full disk is only tested on a real full filesystem.
func tmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("mounting a %d-byte tmpfs for the full-disk test needs root: %v: %s", size, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// ballast writes a file of n bytes (really allocated: tmpfs pages).
func ballast(t *testing.T, path string, n int64) {
	t.Helper()
	if err := os.WriteFile(path, bytes.Repeat([]byte{0x5a}, int(n)), 0o600); err != nil {
		t.Fatalf("ballast of %d bytes: %v", n, err)
	}
}

// fill stores items (a mix of small ones and ones big enough for the value
// log) until PutItems fails, and returns what was acknowledged and the
// error. It fails the test if the disk never fills.
func fill(t *testing.T, db *DB, from int) (acked []*item.Item, err error) {
	t.Helper()
	alice := author(t, 4)
	for i := from; i < from+100000; i += 20 {
		var batch []Entry
		var items []*item.Item
		for j := range 20 {
			n := i + j
			payload := fmt.Appendf(nil, "message %d ", n)
			if n%4 == 0 {
				payload = append(payload, bytes.Repeat([]byte{byte(n)}, 1500)...) // over valueThreshold
			} else {
				payload = append(payload, bytes.Repeat([]byte{byte(n)}, 300)...)
			}
			it, err := item.New(alice, 7, damageSpace, t0.Add(time.Duration(n)*time.Millisecond), payload)
			if err != nil {
				t.Fatal(err)
			}
			batch = append(batch, Entry{Item: it, Scopes: []item.Scope{{9}}})
			items = append(items, it)
		}
		if _, err := db.PutItems(batch); err != nil {
			return acked, err
		}
		acked = append(acked, items...)
	}
	t.Fatal("stored 100,000 items on a small tmpfs without the disk filling")
	return nil, nil
}

// listAll lists the test space, failing the test on an error or a skip.
func listAll(t *testing.T, db *DB) int {
	t.Helper()
	n := 0
	if err := db.SpaceItems(damageSpace, func(*item.Item) error { n++; return nil }); err != nil {
		t.Fatalf("listing: %v", err)
	}
	if db.Skipped() != 0 {
		t.Fatalf("listing skipped %d items", db.Skipped())
	}
	return n
}

// TestDiskFull fills an 8 MiB tmpfs: writes stop with ErrDiskFull before
// the filesystem is exhausted (no SIGBUS from badger's mmap'd files, which
// would kill this test's process), the store stays open and serves every
// acknowledged item, and writes succeed again once space is freed.
func TestDiskFull(t *testing.T) {
	mnt := tmpfs(t, 8<<20)
	spare := filepath.Join(mnt, "spare")
	ballast(t, spare, 2<<20)
	db, err := Open(filepath.Join(mnt, "store"), testKey(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	acked, err := fill(t, db, 0)
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("filling the disk: %v after %d items, want ErrDiskFull", err, len(acked))
	}
	t.Logf("full after %d items: %v", len(acked), err)
	if free, need := freeBytes(t, mnt), db.sizes.engineReserve(); free < need {
		t.Errorf("writes stopped with %d bytes free, less than the %d badger may still need", free, need)
	}
	if !db.Full() {
		t.Error("Full() is false after a write was refused for space")
	}
	if err := db.Update(func(tx *Tx) error { return tx.Put("b", []byte("k"), []byte("v")) }); !errors.Is(err, ErrDiskFull) {
		t.Errorf("Update on a full disk: %v, want ErrDiskFull", err)
	}
	if n := listAll(t, db); n != len(acked) {
		t.Fatalf("the full store lists %d items, want the %d acknowledged", n, len(acked))
	}

	if err := os.Remove(spare); err != nil {
		t.Fatal(err)
	}
	more, err := fill(t, db, len(acked))
	if len(more) == 0 {
		t.Fatalf("no write succeeded after space was freed: %v", err)
	}
	if db.Full() != errors.Is(err, ErrDiskFull) {
		t.Errorf("Full() = %v after %v", db.Full(), err)
	}
	if n := listAll(t, db); n != len(acked)+len(more) {
		t.Fatalf("the store lists %d items, want the %d acknowledged", n, len(acked)+len(more))
	}
}

// TestOpenOnFullDisk: a store opened on a full disk opens read-only, serves
// reads, refuses writes with ErrDiskFull, and writes again once space is
// freed, without being reopened by its user.
func TestOpenOnFullDisk(t *testing.T) {
	mnt := tmpfs(t, 8<<20)
	dir := filepath.Join(mnt, "store")
	db, err := Open(dir, testKey(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	alice := author(t, 5)
	var stored []Entry
	for i := range 200 {
		stored = append(stored, Entry{Item: mustItem(t, alice, i, 200), Scopes: []item.Scope{{9}}})
	}
	if _, err := db.PutItems(stored); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	spare := filepath.Join(mnt, "spare")
	ballast(t, spare, freeBytes(t, mnt)-1<<20)

	db, err = Open(dir, testKey(1), nil)
	if err != nil {
		t.Fatalf("open on a full disk: %v", err)
	}
	defer db.Close()
	if !db.Full() {
		t.Error("Full() is false for a store opened on a full disk")
	}
	if n := listAll(t, db); n != len(stored) {
		t.Fatalf("lists %d items on a full disk, want %d", n, len(stored))
	}
	next := []Entry{{Item: mustItem(t, alice, 1000, 200), Scopes: []item.Scope{{9}}}}
	if _, err := db.PutItems(next); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("write on a full disk: %v, want ErrDiskFull", err)
	}
	if err := os.Remove(spare); err != nil {
		t.Fatal(err)
	}
	if added, err := db.PutItems(next); err != nil || added != 1 {
		t.Fatalf("write after space was freed: %d added, %v", added, err)
	}
	if db.Full() {
		t.Error("Full() is still true after a write succeeded")
	}
	if n := listAll(t, db); n != len(stored)+1 {
		t.Fatalf("lists %d items, want %d", n, len(stored)+1)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(dir, testKey(1), nil) // and the store checks whole after all this
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	db.Close()
}

func mustItem(t *testing.T, k item.Signer, n, size int) *item.Item {
	t.Helper()
	it, err := item.New(k, 7, damageSpace, t0.Add(time.Duration(n)*time.Millisecond), bytes.Repeat([]byte{byte(n)}, size))
	if err != nil {
		t.Fatal(err)
	}
	return it
}
