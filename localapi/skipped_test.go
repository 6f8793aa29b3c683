package localapi

import (
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ghostwire/ghostwire/node"
	"github.com/ghostwire/ghostwire/store"
)

// TestListingSaysWhatItSkipped: a listing that leaves out a stored item
// the disk damaged says so in SkippedHeader, and the client hands the
// count to its Skipped callback (the CLI prints a warning from it), so a
// short listing never looks complete. An undamaged listing carries no
// header.
func TestListingSaysWhatItSkipped(t *testing.T) {
	tn := startTestNode(t, t.TempDir(), 1)
	var ids []string
	for _, v := range []string{"kept.example", "damaged.example"} {
		code, body := tn.req(t, "POST", "/v1/iocs", "application/json", strings.NewReader(`{"type":"domain","value":"`+v+`"}`))
		var x node.IOC
		if code != 201 || json.Unmarshal([]byte(body), &x) != nil {
			t.Fatalf("drop %s: %d %s", v, code, body)
		}
		ids = append(ids, x.ID)
	}
	list := func() (*http.Response, []node.IOC) {
		t.Helper()
		r, _ := http.NewRequest("GET", "http://ghostwire/v1/iocs", nil)
		resp, err := tn.client.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var xs []node.IOC
		if err := json.NewDecoder(resp.Body).Decode(&xs); err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body) // the count is a trailer: after the body
		return resp, xs
	}
	if resp, xs := list(); len(xs) != 2 || skippedOf(resp) != "" {
		t.Fatalf("before the damage: %d IOCs, %s %q", len(xs), SkippedHeader, skippedOf(resp))
	}

	// The disk damages the second IOC's stored bytes.
	id, err := hex.DecodeString(ids[1])
	if err != nil {
		t.Fatal(err)
	}
	// "item" is the store's bucket of item bytes (store/items.go).
	if err := tn.db.Update(func(tx *store.Tx) error { return tx.Put("item", id, []byte("not an item")) }); err != nil {
		t.Fatal(err)
	}
	resp, xs := list()
	if len(xs) != 1 || xs[0].ID != ids[0] || skippedOf(resp) != "1" {
		t.Fatalf("after the damage: %d IOCs, %s %q; want the undamaged one and a count of 1", len(xs), SkippedHeader, skippedOf(resp))
	}

	c := NewClient(tn.sock)
	var told int64
	c.Skipped = func(n int64) { told += n }
	var got []node.IOC
	if err := c.Do(t.Context(), "GET", "/v1/iocs", nil, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || told != 1 {
		t.Fatalf("the client listed %d IOCs and was told of %d skipped; want 1 and 1", len(got), told)
	}
	// The streaming client ioc list uses is told the same.
	told, got = 0, nil
	if err := c.EachIOC(t.Context(), IOCQuery{}, func(x *node.IOC) error { got = append(got, *x); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || told != 1 {
		t.Fatalf("EachIOC listed %d IOCs and was told of %d skipped; want 1 and 1", len(got), told)
	}
}

// skippedOf is the reply's SkippedHeader: a header on a JSON answer, a
// trailer on a streamed listing.
func skippedOf(resp *http.Response) string {
	if v := resp.Header.Get(SkippedHeader); v != "" {
		return v
	}
	return resp.Trailer.Get(SkippedHeader)
}
