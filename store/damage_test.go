package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/item"
)

// damageCorpus is a closed store of real items: small ones (kept in
// badger's tables) and large ones (over valueThreshold, kept in its value
// log), in one space and one scope.
type damageCorpus struct {
	small, large []*item.Item
}

var damageSpace = item.Space{9}

func (c *damageCorpus) all() []*item.Item { return append(slices.Clone(c.small), c.large...) }

func newDamageCorpus(t *testing.T) *damageCorpus {
	t.Helper()
	alice := author(t, 3)
	c := &damageCorpus{}
	for i := range 3000 {
		it, err := item.New(alice, 7, damageSpace, t0.Add(time.Duration(i)*time.Millisecond), fmt.Appendf(nil, "small %d", i))
		if err != nil {
			t.Fatal(err)
		}
		c.small = append(c.small, it)
	}
	for i := range 1500 {
		it, err := item.New(alice, 7, damageSpace, t0.Add(time.Hour+time.Duration(i)*time.Millisecond), bytes.Repeat([]byte{byte(i)}, 2000))
		if err != nil {
			t.Fatal(err)
		}
		c.large = append(c.large, it)
	}
	return c
}

// build writes the corpus into a new store at dir and closes it cleanly.
func (c *damageCorpus) build(t *testing.T, dir string) {
	t.Helper()
	db, err := Open(dir, testKey(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	var entries []Entry
	for _, it := range c.all() {
		entries = append(entries, Entry{Item: it, Scopes: []item.Scope{{9}}})
	}
	if _, err := db.PutItems(entries); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// files lists the regular files of dir by name (LOCK aside: badger's lock
// comes and goes).
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for name := range fileSizes(dir) {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func fileSizes(dir string) map[string]int64 {
	out := map[string]int64{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && e.Name() != "LOCK" && info.Mode().IsRegular() {
			out[e.Name()] = info.Size()
		}
	}
	return out
}

// lost reports what a refused open removed or shrank of before (badger
// may add an empty file of its own before it gives up; that is no loss).
func lost(before, after map[string]int64) []string {
	var out []string
	for name, n := range before {
		if m, ok := after[name]; !ok || m < n {
			out = append(out, name)
		}
	}
	return out
}

// firstWith is the first file of dir (in name order) with the suffix.
func firstWith(t *testing.T, dir, suffix string) string {
	t.Helper()
	for _, f := range files(t, dir) {
		if strings.HasSuffix(f, suffix) {
			return filepath.Join(dir, f)
		}
	}
	t.Fatalf("no %s file in %s (have %v)", suffix, dir, files(t, dir))
	return ""
}

func truncateTo(t *testing.T, p string, size func(int64) int64) {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size(st.Size())); err != nil {
		t.Fatal(err)
	}
}

// flip inverts 64 bytes in the middle of the file and 64 near its end.
func flip(t *testing.T, p string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{len(b) / 2, len(b) - 100} {
		for i := max(at, 0); i < min(at+64, len(b)); i++ {
			b[i] ^= 0xff
		}
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDamageMatrix damages each kind of badger file in each way and opens
// the store as the node does. Every outcome must be a clean ErrDamaged or
// ErrMissing (with no file deleted by the attempt), or a store that holds
// every item; never a panic and never a store that opens with fewer items.
// Check then reports the damage (or nothing, when the store is whole), and
// Salvage copies every item Check found readable into a store that opens.
func TestDamageMatrix(t *testing.T) {
	c := newDamageCorpus(t)
	golden := filepath.Join(t.TempDir(), "store")
	c.build(t, golden)

	size := func(f func(int64) int64) func(*testing.T, string) {
		return func(t *testing.T, p string) { truncateTo(t, p, f) }
	}
	half := size(func(n int64) int64 { return n / 2 })
	ten := size(func(int64) int64 { return 10 })
	zero := size(func(int64) int64 { return 0 })
	remove := func(t *testing.T, p string) {
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
	}
	type damage struct {
		name   string
		target func(t *testing.T, dir string) string
		do     func(t *testing.T, p string)
	}
	named := func(n string) func(*testing.T, string) string {
		return func(_ *testing.T, dir string) string { return filepath.Join(dir, n) }
	}
	suffix := func(s string) func(*testing.T, string) string {
		return func(t *testing.T, dir string) string { return firstWith(t, dir, s) }
	}
	var cases []damage
	for _, f := range []struct {
		kind   string
		target func(*testing.T, string) string
	}{
		{"MANIFEST", named(manifestName)},
		{"KEYREGISTRY", named(keyRegistryName)},
		{"sst", suffix(".sst")},
		{"vlog", suffix(".vlog")},
	} {
		cases = append(cases,
			damage{f.kind + "/truncated to 10 bytes", f.target, ten},
			damage{f.kind + "/truncated to half", f.target, half},
			damage{f.kind + "/emptied", f.target, zero},
			damage{f.kind + "/flipped", f.target, flip},
			damage{f.kind + "/deleted", f.target, remove},
		)
	}
	cases = append(cases,
		damage{"directory/deleted", func(_ *testing.T, dir string) string { return dir }, remove},
		damage{"directory/emptied", func(_ *testing.T, dir string) string { return dir }, func(t *testing.T, p string) {
			for _, f := range files(t, p) {
				remove(t, filepath.Join(p, f))
			}
		}},
		damage{"marker/flipped", func(_ *testing.T, dir string) string { return markerPath(dir) }, flip},
	)

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "store")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := copyDir(golden, dir); err != nil {
				t.Fatal(err)
			}
			if err := copyFile(markerPath(golden), markerPath(dir)); err != nil {
				t.Fatal(err)
			}
			tc.do(t, tc.target(t, dir))
			before := fileSizes(dir)

			var db *DB
			err := noPanic(t, "Open", func() (err error) {
				db, err = OpenConfig(dir, testKey(1), Config{MustExist: true})
				return err
			})
			whole, listed := false, 0
			switch {
			case errors.Is(err, ErrDamaged) || errors.Is(err, ErrMissing) ||
				// A damaged key registry cannot be told from a wrong key.
				strings.HasPrefix(tc.name, "KEYREGISTRY/") && errors.Is(err, ErrWrongKey):
				if gone := lost(before, fileSizes(dir)); len(gone) > 0 {
					t.Errorf("the refused open removed or shrank %v", gone)
				}
				t.Logf("refused: %v", err)
			case err != nil:
				t.Fatalf("open: %v, want ErrDamaged, ErrMissing or a whole store", err)
			default:
				// Opened: every item is there, and listings show each one
				// or skip it and say so (damage inside a file is found when
				// it is read, not when the store opens).
				n, err := db.CountItems()
				if err != nil || n != len(c.all()) {
					t.Errorf("the store opened holding %d items (%v), want all %d: a damaged store must not start", n, err, len(c.all()))
				}
				if err := db.SpaceItems(damageSpace, func(*item.Item) error { listed++; return nil }); err != nil || listed+int(db.Skipped()) != len(c.all()) {
					t.Errorf("listed %d items and skipped %d (%v) of %d", listed, db.Skipped(), err, len(c.all()))
				}
				whole = db.Skipped() == 0
				db.Close()
				t.Logf("opened; %d listed, %d skipped", listed, len(c.all())-listed)
			}

			var rep *Report
			err = noPanic(t, "Check", func() (err error) { rep, err = Check(dir, testKey(1)); return err })
			if strings.HasPrefix(tc.name, "KEYREGISTRY/") && errors.Is(err, ErrWrongKey) {
				return // nothing opens it: check says so, and there is nothing to salvage
			}
			if err != nil {
				t.Fatalf("check: %v", err)
			}
			t.Logf("check: %+v", *rep)
			if rep.Clean() != whole {
				t.Errorf("check says clean=%v of a store that opened=%v", rep.Clean(), whole)
			}
			if rep.Verified > len(c.all()) || (listed > 0 && rep.Verified != listed) {
				t.Errorf("check verified %d items of %d, where %d were listed", rep.Verified, len(c.all()), listed)
			}
			if strings.HasPrefix(tc.name, "vlog/") && rep.Items > 0 && rep.Verified < len(c.small) {
				t.Errorf("a damaged value log cost items kept in the tables: %d verified, %d of them small", rep.Verified, len(c.small))
			}

			out := filepath.Join(t.TempDir(), "salvaged")
			var srep *Report
			if err := noPanic(t, "Salvage", func() (err error) { srep, err = Salvage(dir, testKey(1), out); return err }); err != nil {
				t.Fatalf("salvage: %v", err)
			}
			if srep.Salvaged != rep.Verified {
				t.Errorf("salvaged %d items where check verified %d", srep.Salvaged, rep.Verified)
			}
			sdb, err := OpenConfig(out, testKey(1), Config{MustExist: srep.Salvaged > 0})
			if err != nil {
				t.Fatalf("opening the salvaged store: %v", err)
			}
			defer sdb.Close()
			got := 0
			if err := sdb.SpaceItems(damageSpace, func(*item.Item) error { got++; return nil }); err != nil || got != srep.Salvaged {
				t.Errorf("the salvaged store lists %d items (%v), want the %d salvaged", got, err, srep.Salvaged)
			}
			if ids := scopeSet(t, sdb, item.Scope{9}); len(ids) != srep.Salvaged {
				t.Errorf("the salvaged store's scope holds %d IDs, want the %d salvaged", len(ids), srep.Salvaged)
			}
		})
	}
}

// noPanic runs f and turns a panic into a test failure.
func noPanic(t *testing.T, what string, f func() error) (err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("%s panicked: %v", what, r)
		}
	}()
	return f()
}

// TestMissingStore: a node's store that was never made, or whose
// directory is gone, is ErrMissing; only a store that may be new is made.
func TestMissingStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	if _, err := OpenConfig(dir, testKey(1), Config{MustExist: true}); !errors.Is(err, ErrMissing) {
		t.Fatalf("MustExist on nothing: %v, want ErrMissing", err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Fatalf("a refused open created %s", dir)
	}
	db, err := OpenConfig(dir, testKey(1), Config{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	// Without MustExist too: the marker remembers the store.
	if _, err := OpenConfig(dir, testKey(1), Config{}); !errors.Is(err, ErrMissing) {
		t.Fatalf("open after the directory was deleted: %v, want ErrMissing", err)
	}
}

// TestReplacedStore: another store put in place of the recorded one is
// damage, even though it is whole.
func TestReplacedStore(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	for _, d := range []string{a, b} {
		db, err := Open(d, testKey(1), nil)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	if err := os.RemoveAll(a); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(b, a); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(a, testKey(1), nil); !errors.Is(err, ErrDamaged) {
		t.Fatalf("open of a swapped store: %v, want ErrDamaged", err)
	}
}

// TestMarkerRewritten: a lost marker is written again from badger's record;
// the store is whole.
func TestMarkerRewritten(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	db, err := Open(dir, testKey(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutItems([]Entry{{Item: mk(t, author(t, 1), item.Space{}, 1)}}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	want, err := readMarker(dir)
	if err != nil || want == nil || want.puts != 1 {
		t.Fatalf("marker after one item: %+v, %v", want, err)
	}
	if err := os.Remove(markerPath(dir)); err != nil {
		t.Fatal(err)
	}
	db, err = Open(dir, testKey(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if got, err := readMarker(dir); err != nil || got == nil || got.id != want.id || got.puts != want.puts {
		t.Fatalf("marker written again: %+v, %v; want %+v", got, err, want)
	}
}

// TestNoMarkerTruncatedManifest: a store made before records and markers
// (both removed here) whose MANIFEST lost its tables is refused, not
// adopted as a new empty store.
func TestNoMarkerTruncatedManifest(t *testing.T) {
	c := newDamageCorpus(t)
	dir := filepath.Join(t.TempDir(), "store")
	c.build(t, dir)
	db, err := Open(dir, testKey(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *Tx) error { return tx.Delete(bucketFormat, []byte(recordKey)) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := os.Remove(markerPath(dir)); err != nil {
		t.Fatal(err)
	}
	truncateTo(t, filepath.Join(dir, manifestName), func(int64) int64 { return 10 })
	if _, err := Open(dir, testKey(1), nil); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "no record") {
		t.Fatalf("open: %v, want ErrDamaged for a store with no record and tables set aside", err)
	}
}
