package node

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/vault"
)

// BenchmarkDestroy: what erasing one burnable message's key costs (its
// vault slot overwritten in place and the file synced) beside the
// reference, a plain badger delete of a value of a message's size (a
// synced write too, which erases nothing: docs/storage.md §4). Each
// iteration times destroyOps of each and prints the medians; it is
// meaningful at -benchtime 1x, as ./run bench runs it.
func BenchmarkDestroy(b *testing.B) {
	const destroyOps = 200
	key := bytes.Repeat([]byte{7}, 32)
	for b.Loop() {
		v, err := vault.Open(filepath.Join(b.TempDir(), "vault"), key, rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		db, err := store.Open(b.TempDir(), key, nil)
		if err != nil {
			b.Fatal(err)
		}
		val := make([]byte, 2600) // a message sealed to two recipients
		slots := make([]uint32, destroyOps)
		for i := range destroyOps {
			var ref vault.Ref
			binary.BigEndian.PutUint64(ref[:], uint64(i))
			if slots[i], _, err = v.Create(rand.Reader, ref); err != nil {
				b.Fatal(err)
			}
			err := db.Update(func(tx *store.Tx) error {
				return tx.Put("bench", binary.BigEndian.AppendUint64(nil, uint64(i)), val)
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		var vt, dt []time.Duration
		for i := range destroyOps {
			t0 := time.Now()
			if err := v.Destroy(slots[i]); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			err := db.Update(func(tx *store.Tx) error {
				return tx.Delete("bench", binary.BigEndian.AppendUint64(nil, uint64(i)))
			})
			if err != nil {
				b.Fatal(err)
			}
			vt, dt = append(vt, t1.Sub(t0)), append(dt, time.Since(t1))
		}
		v.Close()
		db.Close()
		slices.Sort(vt)
		slices.Sort(dt)
		b.ReportMetric(float64(vt[len(vt)/2].Microseconds()), "µs-slot-destroy-p50")
		b.ReportMetric(float64(dt[len(dt)/2].Microseconds()), "µs-badger-delete-p50")
		b.Logf("over %d each: vault slot destroy (overwrite + fsync) median %s; badger delete (synced, erases nothing) median %s",
			destroyOps, vt[len(vt)/2].Round(time.Microsecond), dt[len(dt)/2].Round(time.Microsecond))
	}
}
