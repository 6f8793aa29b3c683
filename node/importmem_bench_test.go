package node

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/collection"
	"github.com/ghostwire/ghostwire/ioc"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/store"
)

// The import's memory (issue 19): a node importing a file of n indicators,
// and the same node idle afterwards, each in a fresh process so that the
// figures are the import's and nothing else's. Beside them, as the
// reference, plain encoding/json decoding of the same file into generic
// values (what a reader that holds the file costs).
//
//	go test ./node -run '^$' -bench ImportMemory -benchtime 1x -importmem.n 1000000
//
// BenchmarkImportMemory prints, per size: the file, the import's rate, its
// peak RSS growth, the idle node's RSS after it (a fresh process opening
// the store and running a session's set build), and the reference's peak.
// TestImportMemorySmall runs the same child on a small file and checks the
// deterministic counts only.

var importMemN = flag.Int("importmem.n", 100_000, "indicators in BenchmarkImportMemory's file")

const importMemChildEnv = "GHOSTWIRE_NODE_IMPORTMEM_CHILD" // "import|idle|json:<dir>"

func BenchmarkImportMemory(b *testing.B) {
	for b.Loop() {
		dir := b.TempDir()
		path := filepath.Join(dir, "in.json")
		size := writeIndicatorFile(b, path, *importMemN)
		imp := importMemChild(b, "import", dir)
		idle := importMemChild(b, "idle", dir)
		ref := importMemChild(b, "json", dir)
		fmt.Printf("node import %d indicators: file %.1f MiB; import %.0f items/s, %d stored, peak RSS +%.1f MiB (%.1f MiB before); "+
			"idle node holding them %.1f MiB RSS (heap %.1f MiB, set of %d IDs); plain JSON decoding of the file peak RSS +%.1f MiB\n",
			*importMemN, float64(size)/(1<<20), float64(imp.stored)/imp.dur.Seconds(), imp.stored, mib(imp.peak-imp.base), mib(imp.base),
			mib(idle.rss), mib(idle.heap), idle.stored, mib(ref.peak-ref.base))
	}
}

// TestImportMemorySmall: the measuring children agree on what they count,
// on a file small enough for the suite.
func TestImportMemorySmall(t *testing.T) {
	dir := t.TempDir()
	writeIndicatorFile(t, filepath.Join(dir, "in.json"), 2000)
	if r := importMemChild(t, "import", dir); r.stored != 2000 {
		t.Fatalf("the import stored %d items, want 2000", r.stored)
	}
	if r := importMemChild(t, "idle", dir); r.stored != 2000 {
		t.Fatalf("the idle node's public set holds %d IDs, want 2000", r.stored)
	}
	if r := importMemChild(t, "json", dir); r.stored != 2000 {
		t.Fatalf("plain decoding read %d objects, want 2000", r.stored)
	}
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

// writeIndicatorFile writes a STIX 2.1 bundle of n CLEAR IPv4 indicators.
func writeIndicatorFile(t testing.TB, path string, n int) int64 {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString(`{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000000","objects":[`)
	for i := range n {
		if i > 0 {
			w.WriteByte(',')
		}
		fmt.Fprintf(w, `{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-%012d","created":"2026-01-01T00:00:00Z","modified":"2026-01-01T00:00:00Z","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z","pattern":"[ipv4-addr:value = '10.%d.%d.%d']","object_marking_refs":["marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"]}`,
			i, i>>16&255, i>>8&255, i&255)
	}
	w.WriteString("]}")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	f.Close()
	return fi.Size()
}

type memFigures struct {
	stored          int
	dur             time.Duration
	base, peak, rss int64 // KiB
	heap            int64 // KiB
}

func importMemChild(t testing.TB, what, dir string) memFigures {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), importMemChildEnv+"="+what+":"+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s child: %v", what, err)
	}
	var m memFigures
	var ns int64
	if _, err := fmt.Sscan(string(out), &m.stored, &ns, &m.base, &m.peak, &m.rss, &m.heap); err != nil {
		t.Fatalf("%s child said %q: %v", what, out, err)
	}
	m.dur = time.Duration(ns)
	return m
}

// runImportMemChild is the child's side; it prints stored, duration (ns),
// VmHWM before, VmHWM after, VmRSS after and the live heap (KiB).
func runImportMemChild(spec string) error {
	what, dir, _ := strings.Cut(spec, ":")
	path := filepath.Join(dir, "in.json")
	// As `ghostwire run` does (cmd/ghostwire/node.go), so that the figures
	// are the node's; the reference runs under the same limit.
	debug.SetMemoryLimit(store.MemoryLimit)
	base := procKiB("VmHWM")
	start := time.Now()
	stored := 0
	switch what {
	case "json":
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		stored = len(v["objects"].([]any))
		runtime.KeepAlive(v)
	case "import", "idle":
		n, db, err := openBareNode(dir, 0x77, time.Now)
		if err != nil {
			return err
		}
		defer db.Close()
		if what == "import" {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			res, err := n.coll.Import(f, collection.ImportRequest{}, nil)
			f.Close()
			if err != nil {
				return err
			}
			stored = res.Stored
			break
		}
		// Idle: the node as it runs between sessions, after one session
		// built the collection's public set.
		set, err := n.sets.Get(collection.ClassScope(item.CollectionSpace(collection.Default), ioc.Class{Level: ioc.ClassPublic}))
		if err != nil {
			return err
		}
		stored = set.Len()
		n.releaseMemory()           // as the end of a session does (syncStore.Synced)
		time.Sleep(2 * time.Second) // let the runtime's background work settle, as it would between sessions
	default:
		return fmt.Errorf("unknown child %q", what)
	}
	d := time.Since(start)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Println(stored, int64(d), base, procKiB("VmHWM"), procKiB("VmRSS"), int64(ms.HeapAlloc)>>10)
	return nil
}

func procKiB(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
