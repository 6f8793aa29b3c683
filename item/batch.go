package item

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// Checked is one item of a received batch: decoded, and the reason it
// fails verification, if it does.
type Checked struct {
	Item *Item
	Err  error
}

// DecodeVerify decodes and verifies a batch of items (a sync frame), spread
// over the cores: signature checks are most of the cost of receiving. It
// fails if any item does not decode, since bytes that are not an item at all
// are no relay's mistake; otherwise each item carries its own verification
// error, so that one bad item costs that item and not the batch.
func DecodeVerify(raw [][]byte, now time.Time) ([]Checked, error) {
	out := make([]Checked, len(raw))
	workers := min(runtime.GOMAXPROCS(0), (len(raw)+63)/64)
	if workers <= 1 {
		return out, checkRange(raw, out, now, 0, 1)
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { errs[w] = checkRange(raw, out, now, w, workers) })
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// checkRange decodes and verifies items first, first+step, … of raw into
// out; it stops at the first that does not decode.
func checkRange(raw [][]byte, out []Checked, now time.Time, first, step int) error {
	for i := first; i < len(raw); i += step {
		it, err := Decode(raw[i])
		if err != nil {
			return fmt.Errorf("item %d of the batch: %w", i, err)
		}
		out[i] = Checked{it, it.Verify(now)}
	}
	return nil
}
