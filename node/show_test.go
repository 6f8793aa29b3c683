// Allocation counts are measured without the race detector, which adds
// allocations of its own and, at ten times the CPU per signature, made the
// suite store 5,000 IOCs instead of 20,000. The lookup runs in one
// goroutine (testing.AllocsPerRun), and the import's concurrency runs
// under -race in the package's other IOC tests. `./run test` runs this in
// its second, plain go test, after the race suite.

//go:build !race

package node

import (
	"fmt"
	"strings"
	"testing"
)

// TestIOCShowByKey: with 20,000 IOCs stored, ioc show by item ID, by an
// item-ID prefix and by content ID each finds its IOC with a bounded
// number of allocations (at most 2,000 per lookup, whatever the store
// holds): a key lookup, not a listing. On main Show listed every IOC to
// find one: 797,000 allocations per lookup here, and with ~0.9M
// IOCs it never answered. Allocation counts follow the code, not the
// machine.
func TestIOCShowByKey(t *testing.T) {
	tn := startTestNode(t, t.TempDir(), 45)
	const count = 20_000
	var b strings.Builder
	b.WriteString(`{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56e","objects":[`)
	for i := range count {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-%012d",`+
			`"created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern_type":"stix",`+
			`"pattern":"[domain-name:value = 's%d.example']","valid_from":"2026-01-01T00:00:00Z"}`, i, i)
	}
	b.WriteString("]}")
	if res, err := tn.n.coll.Import(strings.NewReader(b.String()), ImportRequest{TLP: "green"}, nil); err != nil || res.Stored != count {
		t.Fatalf("import: %v %+v", err, res)
	}
	x, err := tn.n.coll.Show(mustOneID(t, tn, "s1234.example"))
	if err != nil || len(x) != 1 || x[0].Value != "s1234.example" {
		t.Fatalf("show by item ID: %v %+v", err, x)
	}
	refs := map[string]string{"item ID": x[0].ID, "item ID prefix": x[0].ID[:12], "content ID": x[0].ContentID, "content ID prefix": x[0].ContentID[:12]}
	for name, ref := range refs {
		var got []*IOC
		allocs := testing.AllocsPerRun(5, func() {
			got, err = tn.n.coll.Show(ref)
		})
		if err != nil || len(got) != 1 || got[0].ID != x[0].ID {
			t.Errorf("show by %s %s: %v, %d found", name, ref, err, len(got))
		}
		t.Logf("show by %s: %.0f allocations with %d IOCs stored", name, allocs, count)
		if allocs > 2000 {
			t.Errorf("show by %s: %.0f allocations with %d IOCs stored; want at most 2,000 (a key lookup, not a listing)", name, allocs, count)
		}
	}
	if _, err := tn.n.coll.Show("00000000deadbeef"); err == nil {
		t.Error("show of an ID nobody holds found something")
	}
}

// mustOneID finds the item ID of the IOC with value v by listing (the
// test's own slow path).
func mustOneID(t *testing.T, tn *testNode, v string) string {
	t.Helper()
	xs, err := tn.n.coll.List(IOCFilter{IncludeExpired: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range xs {
		if x.Value == v {
			return x.ID
		}
	}
	t.Fatalf("no IOC %s listed", v)
	return ""
}
