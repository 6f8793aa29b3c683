package ioc

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// hostileInputs are the bad inputs of issue 19, built in memory: 50 MB of
// random bytes, a bundle nested 100,000 levels deep (in its objects and at
// the top), a large bundle cut short, and a bare array nested as deep.
func hostileInputs() map[string]func() io.Reader {
	deep := func(open, close, pre, post string) func() io.Reader {
		return func() io.Reader {
			return io.MultiReader(strings.NewReader(pre), strings.NewReader(strings.Repeat(open, 100_000)),
				strings.NewReader(strings.Repeat(close, 100_000)), strings.NewReader(post))
		}
	}
	return map[string]func() io.Reader{
		"50 MB of random bytes": func() io.Reader {
			return io.LimitReader(rand.NewChaCha8([32]byte{19}), 50<<20)
		},
		"bundle nested 100,000 deep in objects": deep("[", "]", `{"type":"bundle","objects":[`, `]}`),
		"object nested 100,000 deep":            deep(`{"a":`, "}", `{"type":"bundle","objects":[{"type":"indicator","x":`, `}]}`),
		"array nested 100,000 deep":             deep("[", "]", "", ""),
		"truncated large bundle": func() io.Reader {
			var b bytes.Buffer
			b.WriteString(`{"type":"bundle","objects":[`)
			for i := range 20_000 {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(`{"type":"indicator","spec_version":"2.1","pattern_type":"stix","pattern":"[ipv4-addr:value = '192.0.2.1']"}`)
			}
			return bytes.NewReader(b.Bytes()[:b.Len()-7])
		},
	}
}

// TestImportHostileInputs: each hostile input is refused as a whole with
// ErrFormat, by both readers, allocating a bounded amount whatever the
// input's size (the 50 MB input must not be read whole).
func TestImportHostileInputs(t *testing.T) {
	for name, in := range hostileInputs() {
		t.Run(name, func(t *testing.T) {
			// Import holds every record of a file by design (the node
			// never calls it: rules_test), so its bound is looser;
			// ImportStream, the node's reader, must stay under 64 MiB
			// whatever the input's size, so the 50 MB input is not read
			// whole. (TotalAlloc counts every allocation, garbage too; the
			// race detector adds to it.)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Import(in(), ImportOptions{DefaultTLP: TLPClear})
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrFormat) {
				t.Errorf("Import: %v, want ErrFormat", err)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 128<<20 {
				t.Errorf("Import allocated %d MiB", got>>20)
			}
			runtime.ReadMemStats(&before)
			_, err = ImportStream(in(), ImportOptions{DefaultTLP: TLPClear}, 100, func([]Record) error { return nil })
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrFormat) {
				t.Errorf("ImportStream: %v, want ErrFormat", err)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 64<<20 {
				t.Errorf("ImportStream allocated %d MiB", got>>20)
			}
		})
	}
}
