package item

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// specKinds reads the table of docs/protocol.md §5.6: one row per kind,
// columns kind, name, deletable, payload.
func specKinds(t *testing.T) []KindInfo {
	t.Helper()
	f, err := os.Open("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []KindInfo
	in := false
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "### ") {
			in = strings.HasPrefix(line, "### 5.6 ")
			continue
		}
		if !in || !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells) != 4 {
			t.Fatalf("§5.6 row with %d columns, want 4: %q", len(cells), line)
		}
		if cells[0] == "kind" || strings.HasPrefix(cells[0], "---") {
			continue
		}
		n, err := strconv.ParseUint(cells[0], 10, 32)
		if err != nil {
			t.Fatalf("§5.6 row %q: kind must be one number: %v", line, err)
		}
		var del bool
		switch cells[2] {
		case "yes":
			del = true
		case "no":
		default:
			t.Fatalf("§5.6 row %q: deletable is %q, want yes or no", line, cells[2])
		}
		out = append(out, KindInfo{Kind: Kind(n), Name: cells[1], Deletable: del})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestKindsMatchSpec keeps item/kinds.go and docs/protocol.md §5.6 the same
// table: same kinds in the same order, same names, same deletability.
func TestKindsMatchSpec(t *testing.T) {
	spec, code := specKinds(t), Kinds()
	if len(spec) == 0 {
		t.Fatal("no kinds found in docs/protocol.md §5.6")
	}
	for i := range max(len(spec), len(code)) {
		var s, c KindInfo
		if i < len(spec) {
			s = spec[i]
		}
		if i < len(code) {
			c = code[i]
		}
		if s != c {
			t.Errorf("row %d: docs/protocol.md §5.6 says %+v, item/kinds.go says %+v", i, s, c)
		}
	}
	for i := 1; i < len(code); i++ {
		if code[i-1].Kind >= code[i].Kind {
			t.Errorf("kinds table not strictly ascending at %d", code[i].Kind)
		}
	}
}

func TestKindInfo(t *testing.T) {
	for _, tc := range []struct {
		k         Kind
		name      string
		deletable bool
	}{
		{KindTombstone, "tombstone", false},
		{KindMessage, "direct message", true},
		{KindIOCSealed, "ioc sealed", true},
		{6, "kind 6", true}, // the first unassigned kind (5 is the burnable message)
		{1<<32 - 1, "kind 4294967295", true},
	} {
		if got := tc.k.String(); got != tc.name {
			t.Errorf("%d: String %q, want %q", tc.k, got, tc.name)
		}
		if got := tc.k.Deletable(); got != tc.deletable {
			t.Errorf("%d: Deletable %v, want %v", tc.k, got, tc.deletable)
		}
	}
}
