package ioc

import (
	"bufio"
	"crypto/ed25519"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkImportExport100k exports 100,000 generated indicators to a file
// in each format, imports the file back (streaming, as the CLI does), and
// prints one line per format: export and import items/s, the peak RSS of
// the import (VmHWM of a fresh process that only imports), and beside them the Ed25519
// verify rate of this machine in the same run, the ceiling for ingesting
// signed items. Run:
//
//	go test ./ioc -run '^$' -bench ImportExport100k -benchtime 1x
func BenchmarkImportExport100k(b *testing.B) {
	const n = 100_000
	rs := generated(b, n)
	es := entriesOf(b, rs)
	verify := ed25519Rate(b)
	dir := b.TempDir()
	for b.Loop() {
		for _, f := range []Format{FormatSTIX, FormatMISP} {
			path := filepath.Join(dir, "export."+f.String())
			out, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			w := bufio.NewWriter(out)
			start := time.Now()
			if f == FormatSTIX {
				err = ExportSTIX(w, es)
			} else {
				err = ExportMISP(w, es)
			}
			if err == nil {
				err = w.Flush()
			}
			out.Close()
			if err != nil {
				b.Fatal(err)
			}
			exportDur := time.Since(start)
			fi, _ := os.Stat(path)

			// The import runs in a fresh process (TestMain below) so its peak
			// RSS is the import's, not this benchmark's 100k entries.
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"="+path)
			line, err := cmd.Output()
			if err != nil {
				b.Fatalf("import child: %v", err)
			}
			var recs int
			var importNs int64
			var base, peak int64
			if _, err := fmt.Sscan(string(line), &recs, &importNs, &base, &peak); err != nil || recs != n {
				b.Fatalf("import child said %q (%v)", line, err)
			}
			fmt.Printf("ioc %s 100k: file %.1f MiB, export %.0f items/s, import %.0f items/s, import peak RSS %.1f MiB (%.1f MiB over the %.1f MiB before it), ed25519 verify ceiling %.0f items/s\n",
				f, float64(fi.Size())/(1<<20), n/exportDur.Seconds(), n/time.Duration(importNs).Seconds(),
				float64(peak)/1024, float64(peak-base)/1024, float64(base)/1024, verify)
		}
	}
}

func ed25519Rate(b *testing.B) float64 {
	k := testKey(b, 1)
	msg := []byte("ghostwire item v1\x00 a typical signed IOC item of a few hundred bytes")
	sig := k.Sign(msg)
	pub := k.ID().PublicKey()
	const n = 2000
	start := time.Now()
	for range n {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("verify failed")
		}
	}
	return n / time.Since(start).Seconds()
}

func rssKiB(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

const childEnv = "GHOSTWIRE_IOC_IMPORT_CHILD"

// TestMain runs the benchmark's import child when asked, and the tests
// otherwise.
func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(importChild(path))
	}
	os.Exit(m.Run())
}

// importChild imports path and prints: records, duration, RSS before and
// peak RSS (KiB).
func importChild(path string) int {
	base := rssKiB("VmHWM")
	in, err := os.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer in.Close()
	// Streaming, as the node reads (Import holds every record until the
	// end: its peak grew with the file, +690 MiB at a million).
	start := time.Now()
	n := 0
	res, err := ImportStream(bufio.NewReader(in), ImportOptions{DefaultTLP: TLPGreen}, 1000, func(rs []Record) error {
		n += len(rs)
		return nil
	})
	d := time.Since(start)
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(n, int64(d), base, rssKiB("VmHWM"))
	return 0
}
