package localapi

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"strings"
)

var importKill = flag.Int("import.kills", 20, "how many times TestImportKilled kills the node mid-import (./run soak: 200)")

// bigBundle writes a STIX bundle of about size bytes: indicators with
// 4 KiB descriptions (so few records carry many bytes) and values that
// differ by seed, so bundles of different seeds share no indicator.
func bigBundle(w io.Writer, seed, size int) (records int, err error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	desc := strings.Repeat("d", 4096)
	fmt.Fprintf(bw, `{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-%012d","objects":[`, seed)
	n := 0
	for i := 0; n < size; i++ {
		if i > 0 {
			bw.WriteString(",")
		}
		k, _ := fmt.Fprintf(bw, `{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-%012d",`+
			`"created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern_type":"stix",`+
			`"pattern":"[domain-name:value = 'h%d-%d.example']","valid_from":"2026-01-01T00:00:00Z","description":"%s %d"}`, i, seed, i, desc, i)
		n += k
		records++
	}
	bw.WriteString("]}")
	return records, bw.Flush()
}
