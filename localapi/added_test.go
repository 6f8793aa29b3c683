package localapi

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ghostwire/ghostwire/node"
	"github.com/ghostwire/ghostwire/store"
)

// TestListingFromTheAddedIndex: the feed reads a statement's record from
// the added index (docs/ioc.md §7.4), and it and the listing still show
// only current statements: a restated indicator once, in its newest
// version, and a retracted one not at all in the listing and revoked in
// the feed. A store whose index predates records in its entries (written
// by an older node) gives the same answers, before and after it is
// brought up to date; one salvaged from a store whose items it lost in
// part does not show them from the index.
func TestListingFromTheAddedIndex(t *testing.T) {
	tn := startTestNode(t, t.TempDir(), 1)
	importGreen(t, tn, 0, 3)
	if code, body := tn.req(t, "POST", "/v1/iocs", "application/json",
		strings.NewReader(`{"type":"domain","value":"host0.example","tlp":"green","description":"restated"}`)); code != 201 {
		t.Fatalf("restate: %d %s", code, body)
	}
	list := func() []node.IOC {
		t.Helper()
		code, body := tn.req(t, "GET", "/v1/iocs", "", nil)
		if code != 200 {
			t.Fatalf("list: %d %s", code, body)
		}
		var xs []node.IOC
		if err := json.Unmarshal([]byte(body), &xs); err != nil {
			t.Fatal(err)
		}
		return xs
	}
	var host1 string
	for _, x := range list() {
		if x.Value == "host1.example" {
			host1 = x.ID
		}
	}
	if code, body := tn.req(t, "DELETE", "/v1/iocs/"+host1, "", nil); code != 200 {
		t.Fatalf("retract: %d %s", code, body)
	}
	feed := func() string {
		t.Helper()
		code, body := tn.req(t, "GET", "/v1/iocs/feed?collection=default&tlp=green", "", nil)
		if code != 200 {
			t.Fatalf("feed: %d %s", code, body)
		}
		var p struct {
			Objects []struct{ Object map[string]any }
		}
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range p.Objects {
			d, _ := o.Object["description"].(string)
			r, _ := o.Object["revoked"].(bool)
			out = append(out, o.Object["pattern"].(string)+" "+d+" "+map[bool]string{true: "revoked"}[r])
		}
		return strings.Join(out, "\n")
	}
	check := func(when string) {
		t.Helper()
		var got []string
		for _, x := range list() {
			got = append(got, x.Value+" "+x.Description)
		}
		if strings.Join(got, ",") != "host2.example ,host0.example restated" {
			t.Errorf("%s: listed %q, want host2 and the restated host0", when, got)
		}
		want := "[domain-name:value = 'host2.example']  \n[domain-name:value = 'host0.example'] restated \n[domain-name:value = 'host1.example']  revoked"
		if f := feed(); f != want {
			t.Errorf("%s: feed\n%s\nwant\n%s", when, f, want)
		}
	}
	check("fresh store")

	// What an older node left: entries without records, no latest or gone
	// buckets, and no mark that the index was brought up to date.
	err := tn.db.Update(func(tx *store.Tx) error {
		var keys [][]byte
		err := tx.ScanKeys("iocadded", nil, func(k []byte) error {
			keys = append(keys, append([]byte(nil), k...))
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := tx.Put("iocadded", k, nil); err != nil {
				return err
			}
		}
		for _, b := range []string{"ioclatest", "iocgone"} {
			var keys [][]byte
			if err := tx.ScanKeys(b, nil, func(k []byte) error {
				keys = append(keys, append([]byte(nil), k...))
				return nil
			}); err != nil {
				return err
			}
			for _, k := range keys {
				if err := tx.Delete(b, k); err != nil {
					return err
				}
			}
		}
		return tx.Delete("iocadded-done", []byte("v2"))
	})
	if err != nil {
		t.Fatal(err)
	}
	check("index from an older node, brought up to date")
	// An entry's value is facts length (4 bytes) ‖ facts ‖ record
	// (docs/ioc.md §7.4). Every live statement's entry holds its record,
	// the superseded version's too; the retracted statement's and the
	// retraction's hold none.
	records := 0
	if err := tn.db.View(func(tx *store.Tx) error {
		return tx.Scan("iocadded", nil, func(_, v []byte) error {
			if len(v) < 4 {
				t.Errorf("an added entry of %d bytes after the upgrade", len(v))
				return nil
			}
			if n := int(binary.BigEndian.Uint32(v)); len(v) > 4+n {
				records++
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if records != 3 {
		t.Errorf("%d added entries hold a record after the upgrade, want 3", records)
	}
	check("again")

	// A salvage that could not keep host2's item copies the index records
	// that name it into a store with another identity.
	var host2 string
	for _, x := range list() {
		if x.Value == "host2.example" {
			host2 = x.ID
		}
	}
	raw, err := hex.DecodeString(host2)
	if err != nil {
		t.Fatal(err)
	}
	if err := tn.db.Update(func(tx *store.Tx) error {
		if err := tx.Delete("item", raw); err != nil { // store/items.go's bucket of item bytes
			return err
		}
		return tx.Put("iocadded-done", []byte("v2"), []byte("another store's"))
	}); err != nil {
		t.Fatal(err)
	}
	want := "[domain-name:value = 'host0.example'] restated \n[domain-name:value = 'host1.example']  revoked"
	if f := feed(); f != want {
		t.Errorf("after a salvage that lost host2: feed\n%s\nwant\n%s", f, want)
	}
}
