package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/store"
)

const checkPass = "correct horse"

// storedNode is a data directory (made by init) whose store holds n small
// items and n items large enough for badger's value log, stored in this
// process as a node would store them.
func storedNode(t *testing.T, n int) string {
	t.Helper()
	dir := newNode(t, checkPass)
	d := dataDir{dir}
	secrets := testSecrets(t, d, checkPass+"\n", "-")
	defer secrets.Destroy()
	db, err := d.openStore(secrets, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := identity.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	var entries []store.Entry
	t0 := time.Unix(1_800_000_000, 0)
	for i := range 2 * n {
		size := 100
		if i%2 == 1 {
			size = 3000
		}
		it, err := item.New(key, 7, item.Space{1}, t0.Add(time.Duration(i)*time.Millisecond), bytes.Repeat([]byte{byte(i)}, size))
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, store.Entry{Item: it, Scopes: []item.Scope{{1}}})
	}
	if _, err := db.PutItems(entries); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// testSecrets unlocks d's identity in this process, the passphrase (if
// any) read from stdin with passFile "-".
func testSecrets(t testing.TB, d dataDir, stdin, passFile string) *identity.Secrets {
	t.Helper()
	secrets, err := d.unlock(&env{ctx: context.Background(), stdin: strings.NewReader(stdin), stdout: io.Discard, stderr: io.Discard}, passFile)
	if err != nil {
		t.Fatal(err)
	}
	return secrets
}

// TestRunRefusesDamagedStore: the node refuses to start on a damaged or
// missing store with exit 6 and a hint naming 'ghostwire check', before it
// starts tor (the control port given does not exist: a node that got past
// its store would exit 9 instead).
func TestRunRefusesDamagedStore(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, storeDir string)
		stderr string
	}{
		{"MANIFEST truncated", func(t *testing.T, s string) { os.Truncate(filepath.Join(s, "MANIFEST"), 10) }, "damaged"},
		{"MANIFEST deleted", func(t *testing.T, s string) { os.Remove(filepath.Join(s, "MANIFEST")) }, "damaged"},
		{"KEYREGISTRY deleted", func(t *testing.T, s string) { os.Remove(filepath.Join(s, "KEYREGISTRY")) }, "damaged"},
		{"table truncated", func(t *testing.T, s string) { os.Truncate(largestFile(t, s, ".sst"), 100) }, "damaged"},
		{"value log deleted", func(t *testing.T, s string) { os.Remove(largestFile(t, s, ".vlog")) }, "damaged"},
		{"store deleted", func(t *testing.T, s string) { os.RemoveAll(s) }, "missing"},
		{"store emptied", func(t *testing.T, s string) {
			entries, _ := os.ReadDir(s)
			for _, e := range entries {
				os.Remove(filepath.Join(s, e.Name()))
			}
		}, "missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := storedNode(t, 200)
			c.damage(t, filepath.Join(dir, "store"))
			r := gwWithin(t, checkPass+"\n", "run", "--data", dir, "--passphrase-file", "-", "--tor-control", "127.0.0.1:1")
			r.expect(t, exitCorrupt, "", c.stderr)
			if !strings.Contains(r.stderr, "ghostwire check --data "+dir) {
				t.Fatalf("no hint naming 'ghostwire check':\n%s", r.stderr)
			}
			// And it stays refused: nothing was repaired by deleting.
			gwWithin(t, checkPass+"\n", "run", "--data", dir, "--passphrase-file", "-", "--tor-control", "127.0.0.1:1").expect(t, exitCorrupt, "", c.stderr)
			gw(t, checkPass+"\n", "check", "--data", dir, "--passphrase-file", "-").expect(t, exitCorrupt, "store       damaged", "ghostwire check --data")
		})
	}
}

// largestFile is the largest file of dir with the suffix: the one that
// holds data (badger also keeps empty ones).
func largestFile(t *testing.T, dir, suffix string) string {
	t.Helper()
	best, size := "", int64(-1)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && strings.HasSuffix(e.Name(), suffix) && info.Size() > size {
			best, size = filepath.Join(dir, e.Name()), info.Size()
		}
	}
	if best == "" {
		t.Fatalf("no %s file in %s", suffix, dir)
	}
	return best
}

// gwWithin is gw for a command that may, on a regression, start a node and
// wait for tor for ever: it is killed after a minute, which fails the test.
func gwWithin(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := gwContext(t, ctx, stdin, args...)
	if ctx.Err() != nil {
		t.Fatalf("ghostwire %v did not exit within a minute (it started the node?)\nstderr: %s", args, r.stderr)
	}
	return r
}

// TestCheckAndSalvage: check exits 0 on a whole store and 6 on a damaged
// one, with the counts; --salvage copies every item check verified into a
// new store that the node then opens in place of the damaged one.
func TestCheckAndSalvage(t *testing.T) {
	dir := storedNode(t, 200)
	gw(t, checkPass+"\n", "check", "--data", dir, "--passphrase-file", "-").expect(t, 0, "400 found, 400 verified", "")

	// Flip bytes inside the value log: some large items' bytes are altered
	// where badger's checksums see it on reading.
	s := filepath.Join(dir, "store")
	p := largestFile(t, s, ".vlog")
	b, _ := os.ReadFile(p)
	for i := len(b) / 3; i < len(b)/3+64; i++ {
		b[i] ^= 0xff
	}
	os.WriteFile(p, b, 0o600)
	r := gw(t, checkPass+"\n", "check", "--data", dir, "--passphrase-file", "-")
	r.expect(t, exitCorrupt, "store       damaged", "--salvage OUT")
	if !strings.Contains(r.stdout, "400 found") || strings.Contains(r.stdout, "400 verified") {
		t.Fatalf("check of a damaged value log:\n%s", r.stdout)
	}

	out := filepath.Join(t.TempDir(), "salvaged")
	r = gw(t, checkPass+"\n", "check", "--data", dir, "--passphrase-file", "-", "--salvage", out, "--json")
	r.expect(t, exitCorrupt, `"salvaged"`, "")
	var rep store.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Salvaged != rep.Verified || rep.Salvaged < 200 || rep.Salvaged == rep.Items {
		t.Fatalf("salvage report: %+v", rep)
	}
	// Put it in place, as 'check --help' says; the node's store opens and
	// checks whole.
	for _, m := range [][2]string{{s, s + ".damaged"}, {s + ".id", s + ".id.damaged"}, {out, s}, {out + ".id", s + ".id"}} {
		if err := os.Rename(m[0], m[1]); err != nil {
			t.Fatal(err)
		}
	}
	gw(t, checkPass+"\n", "check", "--data", dir, "--passphrase-file", "-").expect(t, 0, "store       whole", "")
}
