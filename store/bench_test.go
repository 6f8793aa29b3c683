package store

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// procStatus reads a kB field of /proc/self/status (VmHWM, VmRSS, RssAnon).
func procStatus(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if name, rest, ok := strings.Cut(sc.Text(), ":"); ok && name == field {
			n, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return n << 10
		}
	}
	return -1
}

// BenchmarkWrite1M writes 1M items of ~300 bytes (a 32-byte hash key, as
// items are keyed) through Batch, then reports items/s, the peak RSS
// (VmHWM) of the whole test process, and RSS and anonymous RSS at rest after
// the writes (the database still open). Targets (issue 3): anonymous RSS at
// rest <= 128 MiB, peak <= 512 MiB. Reference, measured with badger's
// default options on this machine: ~560 MiB RSS with 1M small items.
//
//	go test -run '^$' -bench Write1M -benchtime 1x ./store
func BenchmarkWrite1M(b *testing.B) {
	n := benchN()
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(MemoryLimit))
	for range b.N {
		dir := b.TempDir()
		db, err := Open(dir, testKey(3), nil)
		if err != nil {
			b.Fatal(err)
		}
		val := make([]byte, 268)
		var peakAnon int64
		start := time.Now()
		batch := db.NewBatch()
		var k [8]byte
		for i := range n {
			binary.BigEndian.PutUint64(k[:], uint64(i))
			h := sha256.Sum256(k[:])
			copy(val, h[:])
			if err := batch.Put("items", h[:], val); err != nil {
				b.Fatal(err)
			}
			if i%100_000 == 99_999 {
				if err := batch.Flush(); err != nil {
					b.Fatal(err)
				}
				peakAnon = max(peakAnon, procStatus("RssAnon"))
			}
		}
		if err := batch.Flush(); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		runtime.GC()
		debug.FreeOSMemory()
		// At rest: compactions run on after the last write (for tens of
		// seconds after a million items, anonymous RSS flat meanwhile), and
		// badger keeps table-builder buffers in a pool that frees one per
		// 2 s of idleness; wait until anonymous RSS has not fallen for ten
		// samples in a row (at most 120 s).
		prev, stable := procStatus("RssAnon"), 0
		for i := 0; i < 60 && stable < 10; i++ {
			time.Sleep(2 * time.Second)
			runtime.GC()
			debug.FreeOSMemory()
			cur := procStatus("RssAnon")
			if cur >= prev-(1<<20) {
				stable++
			} else {
				stable = 0
			}
			prev = min(prev, cur)
		}
		if p := os.Getenv("STORE_BENCH_HEAP"); p != "" {
			f, _ := os.Create(p)
			pprof.WriteHeapProfile(f)
			f.Close()
		}
		peak, rss, anon := procStatus("VmHWM"), procStatus("VmRSS"), procStatus("RssAnon")
		b.ReportMetric(float64(n)/elapsed.Seconds(), "items/s")
		b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(float64(anon)/(1<<20), "rest-anon-MiB")
		b.ReportMetric(float64(peakAnon)/(1<<20), "peak-anon-MiB")
		fmt.Printf("store: %d x 300 B: %.0f items/s; peak RSS %d MiB, of it anonymous (sampled) %d MiB (target <= 512); at rest RSS %d MiB, anonymous %d MiB (target <= 128; the rest is mmapped table pages); badger defaults reference ~560 MiB\n",
			n, float64(n)/elapsed.Seconds(), peak>>20, peakAnon>>20, rss>>20, anon>>20)
		db.Close()
	}
}

func benchN() int {
	if v, err := strconv.Atoi(os.Getenv("STORE_BENCH_N")); err == nil {
		return v
	}
	return 1_000_000
}

// cpuTime is the process's CPU time so far, user and system, every thread.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
