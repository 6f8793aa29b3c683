package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/store"
)

// damageNode is a data directory whose store holds messages and IOCs in
// every place badger keeps data, as a node killed while running leaves it:
// batch A in a table of its own (and its large messages' values in a value
// log of its own), batch B in another table, and batch C, written in four
// transactions after the last start, only in the write-ahead log.
type damageNode struct {
	dir           string
	a, b, c       itemCounts
	aLarge        int     // A's messages kept in the value log
	aTable, aVlog string  // A's table and value log
	txnEnds       []int64 // where each of C's transactions ends in the .mem file
	txnItems      int     // items per transaction of C
}

type itemCounts struct{ msgs, iocs int }

func (c itemCounts) total() int { return c.msgs + c.iocs }

var (
	damageMsgSpace = item.Space{1}
	damageIOCSpace = item.Space{2}
)

func newDamageNode(t *testing.T) *damageNode {
	t.Helper()
	live := newNode(t, checkPass)
	d := dataDir{live}
	secrets := testSecrets(t, d, checkPass+"\n", "-")
	defer secrets.Destroy()
	key, err := identity.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{9}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	n := &damageNode{}
	seq := 0
	batch := func(msgs, large, iocs int) []store.Entry {
		var out []store.Entry
		for i := range msgs + iocs {
			seq++
			kind, sp, body := item.KindMessage, damageMsgSpace, []byte(fmt.Sprintf("message %d", seq))
			if i < large {
				body = bytes.Repeat([]byte{byte(seq)}, 1500) // over badger's value threshold
			}
			if i >= msgs {
				kind, sp, body = item.KindIOC, damageIOCSpace, []byte(fmt.Sprintf(`{"type":"domain","value":"host%d.example"}`, seq))
			}
			it, err := item.New(key, kind, sp, time.Unix(1_800_000_000, 0).Add(time.Duration(seq)*time.Millisecond), body)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, store.Entry{Item: it, Scopes: []item.Scope{{byte(sp[0])}}})
		}
		return out
	}
	put := func(db *store.DB, e []store.Entry) {
		if _, err := db.PutItems(e); err != nil {
			t.Fatal(err)
		}
	}
	open := func() *store.DB {
		db, err := d.openStore(secrets, nil)
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	// A and B: each closed cleanly, which flushes it into a table.
	s := d.storeDir()
	for i, c := range []*itemCounts{&n.a, &n.b} {
		tables := files(t, s, ".sst")
		db := open()
		put(db, batch(60, 30, 40))
		*c = itemCounts{60, 40}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			// A's are the new table and the one value log with entries.
			n.aTable = added(t, tables, files(t, s, ".sst"))
			for _, v := range files(t, s, ".vlog") {
				if w := walkFile(t, filepath.Join(s, v)); w.Entries > 0 {
					n.aVlog, n.aLarge = v, w.Entries
				}
			}
		}
	}
	if n.aLarge != 30 {
		t.Fatalf("A's value log holds %d entries, want its 30 large messages", n.aLarge)
	}
	// C: four transactions, and then the process "dies": the directory is
	// copied while the store is open.
	db := open()
	defer db.Close()
	n.txnItems = 15
	for range 4 {
		put(db, batch(10, 5, 5))
		n.c.msgs, n.c.iocs = n.c.msgs+10, n.c.iocs+5
		n.txnEnds = append(n.txnEnds, walEnd(t, d.storeDir()))
	}
	n.dir = filepath.Join(t.TempDir(), "golden")
	copyTree(t, live, n.dir)
	if n.aTable == "" || n.aVlog == "" {
		t.Fatalf("A's table (%q) or value log (%q) not found", n.aTable, n.aVlog)
	}
	return n
}

func (n *damageNode) total() int { return n.a.total() + n.b.total() + n.c.total() }

// added is the one name in after that is not in before.
func added(t *testing.T, before, after []string) string {
	t.Helper()
	var out []string
	for _, n := range after {
		if !slices.Contains(before, n) {
			out = append(out, n)
		}
	}
	if len(out) != 1 {
		t.Fatalf("new files %v, want one", out)
	}
	return out[0]
}

// walEnd is where the data of the store's one non-empty write-ahead log
// ends.
func walEnd(t *testing.T, dir string) int64 {
	t.Helper()
	var end int64
	for _, name := range files(t, dir, ".mem") {
		w := walkFile(t, filepath.Join(dir, name))
		if w.Entries > 0 {
			end = w.End
		}
	}
	if end == 0 {
		t.Fatalf("no write-ahead log with entries in %s", dir)
	}
	return end
}

func walkFile(t *testing.T, p string) store.LogWalk {
	t.Helper()
	w, err := store.WalkLogFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// files lists the names in dir with the suffix, in order.
func files(t *testing.T, dir, suffix string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), suffix) {
			if info, err := e.Info(); err == nil && info.Size() > 0 {
				out = append(out, e.Name())
			}
		}
	}
	return out
}

// copyTree copies the data directory src to dst with its modes, leaving
// out badger's LOCK (a process that died leaves none that binds).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		info, err := e.Info()
		if err != nil {
			return err
		}
		switch {
		case e.IsDir():
			return os.MkdirAll(to, info.Mode().Perm())
		case e.Name() == "LOCK" || !info.Mode().IsRegular():
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSalvageMatrix damages each kind of badger file of a node's store —
// truncated, one byte flipped, deleted — and the directory itself. `run`
// must refuse every case cleanly (exit 6 and a hint naming check; never a
// panic, never a start on what is left), except a flipped value-log byte,
// which costs one message and is found when it is read (the node starts;
// listings skip it and say so). A deleted write-ahead log is not in the
// matrix yet: nothing but the log itself knew of its transactions, so the
// node cannot tell it from a store closed cleanly. `check --salvage` must then recover
// exactly the items the damaged file did not hold, into a store that the
// node opens and that lists them.
func TestSalvageMatrix(t *testing.T) {
	n := newDamageNode(t)
	total := n.total()
	all := func(*testing.T, string) int { return total }
	wal := func(t *testing.T, s string) string { return filepath.Join(s, files(t, s, ".mem")[0]) }
	// midWAL is a byte inside C's third transaction.
	midWAL := func() int64 { return (n.txnEnds[1] + n.txnEnds[2]) / 2 }
	afterWAL := n.a.total() + n.b.total() + 2*n.txnItems // C's first two transactions survive
	cases := []struct {
		name   string
		target func(t *testing.T, s string) string
		damage func(t *testing.T, p string)
		runs   bool                             // the node starts: the damage shows only when read
		want   func(t *testing.T, s string) int // items salvage recovers; s is the damaged store
	}{
		{"MANIFEST/truncated", fixed("MANIFEST"), truncate(func(int64) int64 { return 10 }), false, all},
		{"MANIFEST/flipped", fixed("MANIFEST"), flipAt(func(size int64) int64 { return size - 3 }), false, all},
		{"MANIFEST/deleted", fixed("MANIFEST"), remove, false, all},
		{"KEYREGISTRY/truncated", fixed("KEYREGISTRY"), truncate(func(n int64) int64 { return n / 2 }), false, nil},
		{"KEYREGISTRY/flipped", fixed("KEYREGISTRY"), flipAt(func(size int64) int64 { return size - 3 }), false, nil},
		{"KEYREGISTRY/deleted", fixed("KEYREGISTRY"), remove, false, nil},
		// A's table: A's items go with it, its large messages' values
		// being reachable only through it.
		{"sst/truncated", fixed(n.aTable), truncate(func(n int64) int64 { return n / 2 }), false, minus(total, n.a.total())},
		// In its index: the table does not read at all. (A byte flipped in
		// a block costs that block, found when read: store's TestDamageMatrix.)
		{"sst/flipped", fixed(n.aTable), flipAt(func(size int64) int64 { return size - 100 }), false, minus(total, n.a.total())},
		{"sst/deleted", fixed(n.aTable), remove, false, minus(total, n.a.total())},
		// A's value log: the messages whose values it held.
		{"vlog/truncated", fixed(n.aVlog), truncate(func(n int64) int64 { return n / 2 }), false, func(t *testing.T, s string) int {
			kept := walkFile(t, filepath.Join(s, n.aVlog)).Entries
			return total - (n.aLarge - kept)
		}},
		// Inside its data (the file may run on in preallocated zeros).
		{"vlog/flipped", fixed(n.aVlog), func(t *testing.T, p string) {
			end := walkFile(t, p).End
			flipAt(func(int64) int64 { return end / 2 })(t, p)
		}, true, minus(total, 1)},
		{"vlog/deleted", fixed(n.aVlog), remove, false, minus(total, n.aLarge)},
		// C's write-ahead log: the transactions from the damage on.
		{"mem/truncated", wal, truncate(func(int64) int64 { return midWAL() }), false, minus(afterWAL, 0)},
		{"mem/flipped", wal, flipAt(func(int64) int64 { return midWAL() }), false, minus(afterWAL, 0)},
		{"directory/deleted", func(_ *testing.T, s string) string { return s }, remove, false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "node")
			copyTree(t, n.dir, dir)
			s := filepath.Join(dir, "store")
			c.damage(t, c.target(t, s))
			want := 0
			if c.want != nil {
				want = c.want(t, s)
			}

			if !c.runs {
				runStore(t, dir).expect(t, exitCorrupt, "", "ghostwire check --data "+dir)
			}

			out := filepath.Join(t.TempDir(), "salvaged")
			r := gw(t, checkPass+"\n", "check", "--data", dir, "--passphrase-file", "-", "--salvage", out, "--json")
			if r.code != exitCorrupt || strings.Contains(r.stderr, "panic") {
				t.Fatalf("check --salvage: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			var rep store.Report
			if want > 0 || r.stdout != "" {
				if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
					t.Fatalf("check --salvage --json: %v\n%s\n%s", err, r.stdout, r.stderr)
				}
			}
			t.Logf("salvaged %d of %d; problems %q; files %+v", rep.Salvaged, total, rep.Problems, rep.Files)
			if rep.Salvaged != want {
				t.Fatalf("salvaged %d items, want %d (of %d)", rep.Salvaged, want, total)
			}
			if want == 0 {
				if !strings.Contains(r.stderr, "restore") {
					t.Fatalf("nothing salvaged and no word of restoring a backup:\n%s", r.stderr)
				}
				return
			}
			if c.runs {
				// After check: a node that ran on the store may have
				// written over what was damaged.
				runStarts(t, dir)
			}
			// The salvaged store lists what was salvaged; put in place, it
			// checks whole and the node starts on it.
			listSalvaged(t, dir, out, want)
			for _, m := range [][2]string{{s, s + ".damaged"}, {s + ".id", s + ".id.damaged"}, {out, s}, {out + ".id", s + ".id"}} {
				if err := os.Rename(m[0], m[1]); err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
			}
			gw(t, checkPass+"\n", "check", "--data", dir, "--passphrase-file", "-").expect(t, 0, fmt.Sprintf("%d found, %d verified", want, want), "")
			runStarts(t, dir)
		})
	}
}

// runStore starts the node on dir with a tor control port that does not
// exist: exit 6 means it refused its store, exit 9 that it got past it.
func runStore(t *testing.T, dir string) result {
	t.Helper()
	r := gwWithin(t, checkPass+"\n", "run", "--data", dir, "--passphrase-file", "-", "--tor-control", "127.0.0.1:1")
	if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
		t.Fatalf("run panicked:\n%s", r.stderr)
	}
	return r
}

// runStarts starts the node on dir and requires it to get past its store:
// with no tor at the control port given it then waits for tor, and is
// killed after a few seconds.
func runStarts(t *testing.T, dir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	r := gwContext(t, ctx, checkPass+"\n", "run", "--data", dir, "--passphrase-file", "-", "--tor-control", "127.0.0.1:1")
	if ctx.Err() == nil {
		t.Fatalf("the node did not start on its store: exit %d\n%s", r.code, r.stderr)
	}
}

// listSalvaged opens the salvaged store out with dir's key and itemCounts the
// items each space lists.
func listSalvaged(t *testing.T, dir, out string, want int) {
	t.Helper()
	secrets := testSecrets(t, dataDir{dir}, checkPass+"\n", "-")
	defer secrets.Destroy()
	db, err := store.OpenConfig(out, secrets.StoreKey[:], store.Config{MustExist: true})
	if err != nil {
		t.Fatalf("opening the salvaged store: %v", err)
	}
	defer db.Close()
	got := 0
	for _, sp := range []item.Space{damageMsgSpace, damageIOCSpace} {
		if err := db.SpaceItems(sp, func(*item.Item) error { got++; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if got != want || db.Skipped() != 0 {
		t.Fatalf("the salvaged store lists %d items (%d skipped), want %d", got, db.Skipped(), want)
	}
}

func fixed(name string) func(*testing.T, string) string {
	return func(_ *testing.T, s string) string { return filepath.Join(s, name) }
}

func minus(total, lost int) func(*testing.T, string) int {
	return func(*testing.T, string) int { return total - lost }
}

func truncate(size func(int64) int64) func(*testing.T, string) {
	return func(t *testing.T, p string) {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, size(st.Size())); err != nil {
			t.Fatal(err)
		}
	}
}

// flipAt inverts one byte of the file.
func flipAt(at func(size int64) int64) func(*testing.T, string) {
	return func(t *testing.T, p string) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[at(int64(len(b)))] ^= 0xff
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func remove(t *testing.T, p string) {
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
}
