// Memory bounds are measured without the race detector, which changes how
// much the heap holds and when it is collected: the same listing's live
// heap at 24,000 indicators measured 0 KiB plain and 15 MiB under -race in
// the full suite. `./run test` runs this in its second, plain go test,
// after the race suite.

//go:build !race

package localapi

import (
	"io"
	"runtime"
	"testing"

	"github.com/ghostwire/ghostwire/collection"
	"github.com/ghostwire/ghostwire/node"
)

// TestListingAndExportMemoryIsBounded: listing and exporting hold a batch,
// not the collection. The heap they use with 24,000 indicators is within
// a few MiB of what they use with 3,000 (holding every entry, as they did,
// costs over a kilobyte per indicator: 20+ MiB more).
func TestListingAndExportMemoryIsBounded(t *testing.T) {
	tn := startTestNode(t, t.TempDir(), 1)
	c := tn.n.Collections()
	measure := func() (list, stix, misp uint64) {
		// The listing's live heap, measured after a collection every 1,000
		// indicators: what it holds, whatever the collector's pace (under
		// the race detector garbage piles up between collections, and a
		// peak of HeapAlloc would count it).
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapAlloc
		n := 0
		if err := c.ListEach(collection.Filter{}, func(*node.IOC) error {
			if n++; n%1000 == 0 {
				runtime.GC()
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > base {
					list = max(list, ms.HeapAlloc-base)
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		stix = peakHeap(func() {
			if err := c.Export(io.Discard, "stix", collection.Filter{}); err != nil {
				t.Fatal(err)
			}
		})
		misp = peakHeap(func() {
			if err := c.Export(io.Discard, "misp", collection.Filter{}); err != nil {
				t.Fatal(err)
			}
		})
		return
	}
	importGreen(t, tn, 0, 3000)
	l1, s1, m1 := measure()
	for i := 3000; i < 24000; i += 7000 {
		importGreen(t, tn, i, 7000)
	}
	l2, s2, m2 := measure()
	const slack = 8 << 20
	t.Logf("heap, 3,000 → 24,000 indicators: list (live) %d → %d KiB, peaks: STIX export %d → %d KiB, MISP export %d → %d KiB",
		l1>>10, l2>>10, s1>>10, s2>>10, m1>>10, m2>>10)
	if l2 > l1+slack || s2 > s1+slack || m2 > m1+slack {
		t.Fatalf("memory grows with the collection: list %d → %d, stix %d → %d, misp %d → %d bytes", l1, l2, s1, s2, m1, m2)
	}
}
