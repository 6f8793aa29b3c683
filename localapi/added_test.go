package localapi

import (
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
// brought up to date.
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
	empty := 0
	if err := tn.db.View(func(tx *store.Tx) error {
		return tx.Scan("iocadded", nil, func(_, v []byte) error {
			if len(v) == 0 {
				empty++
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	// Only the retracted statement's entry keeps no record: its item is gone.
	if empty != 1 {
		t.Errorf("%d added entries without a record after the upgrade, want 1 (the retracted statement)", empty)
	}
	check("again")
}
