package item

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestDecodeVerify: in a batch large enough to be spread over workers,
// every item keeps its own verdict at its own index (a forged signature or
// a future date fails that item alone), and one undecodable item fails the
// whole batch, naming its index.
func TestDecodeVerify(t *testing.T) {
	k := testKey(t, 3)
	const size = 300
	raw := make([][]byte, size)
	forged, future := map[int]bool{7: true, 64: true, 299: true}, map[int]bool{130: true}
	for i := range raw {
		at := t0
		if future[i] {
			at = t0.Add(time.Hour)
		}
		raw[i] = mustNew(t, k, 9, space(1), at, fmt.Sprint("item ", i)).Bytes()
		if forged[i] {
			raw[i] = reencode(t, raw[i], func(w *wireItem) { w.Sig[9] ^= 1 })
		}
	}
	got, err := DecodeVerify(raw, t0)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range got {
		want := error(nil)
		switch {
		case forged[i]:
			want = ErrBadSignature
		case future[i]:
			want = ErrFuture
		}
		if c.Item == nil || string(c.Item.Bytes()) != string(raw[i]) {
			t.Fatalf("item %d: decoded into the wrong slot", i)
		}
		if (want == nil) != (c.Err == nil) || want != nil && !errors.Is(c.Err, want) {
			t.Fatalf("item %d: %v, want %v", i, c.Err, want)
		}
	}
	raw[200] = raw[200][:len(raw[200])-1]
	if _, err := DecodeVerify(raw, t0); err == nil || !strings.Contains(err.Error(), "item 200 of the batch") {
		t.Fatalf("a truncated item in the batch: %v, want an error naming item 200", err)
	}
}
