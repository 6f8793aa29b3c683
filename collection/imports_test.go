package collection

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/store"
)

// TestImportRecordsBounded: a flood of imports that fail (or are cut off)
// keeps at most maxImportRecords records, finished ones dropped first,
// then the oldest stopped ones, and never the record of an import running
// in this process (a stored "running" record whose import is gone counts
// as interrupted).
func TestImportRecordsBounded(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "store"), bytes.Repeat([]byte{9}, store.KeySize), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key, err := identity.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	s := New(indexHost{db: db, key: key})
	base := time.UnixMilli(1_800_000_000_000)
	save := func(i int, state string) {
		t.Helper()
		r := &storedImport{ImportRecord: ImportRecord{ID: fmt.Sprintf("imp%03d", i), State: state, Started: base.Add(time.Duration(i) * time.Second)}}
		if err := s.saveImport(r); err != nil {
			t.Fatal(err)
		}
	}
	if !s.imports.start("imp000") {
		t.Fatal("could not mark the running import live")
	}
	save(0, importRunning)
	save(1, importDone)
	for i := 2; i < 200; i++ {
		state := importFailed
		if i%2 == 0 {
			state = importInterrupted
		}
		save(i, state)
	}
	all, err := s.storedImports()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != maxImportRecords {
		t.Fatalf("%d import records kept after 200 imports, want %d", len(all), maxImportRecords)
	}
	kept := map[string]bool{}
	for _, r := range all {
		kept[r.ID] = true
	}
	if !kept["imp000"] {
		t.Error("the running import's record was dropped")
	}
	if kept["imp001"] {
		t.Error("a finished record outlived stopped ones")
	}
	for i := 199; i > 199-(maxImportRecords-1); i-- {
		if id := fmt.Sprintf("imp%03d", i); !kept[id] {
			t.Errorf("the recent stopped import %s was dropped", id)
		}
	}
}
