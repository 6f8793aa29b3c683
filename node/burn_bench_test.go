package node

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/vault"
)

// BenchmarkDestroy: what erasing one burnable message's key costs (its
// vault slot overwritten in place and the file synced) beside a plain
// badger delete of a value of a message's size (a synced write too, which
// erases nothing: docs/storage.md "Burn").
func BenchmarkDestroy(b *testing.B) {
	key := bytes.Repeat([]byte{7}, 32)
	b.Run("vault-slot", func(b *testing.B) {
		v, err := vault.Open(filepath.Join(b.TempDir(), "vault"), key, rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		defer v.Close()
		slots := make([]uint32, b.N)
		for i := range slots {
			var ref vault.Ref
			binary.BigEndian.PutUint64(ref[:], uint64(i))
			if slots[i], _, err = v.Create(rand.Reader, ref); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		for i := range b.N {
			if err := v.Destroy(slots[i]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("badger-delete", func(b *testing.B) {
		db, err := store.Open(b.TempDir(), key, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		val := make([]byte, 2600) // a sealed message to two recipients
		for i := range b.N {
			err := db.Update(func(tx *store.Tx) error {
				return tx.Put("bench", binary.BigEndian.AppendUint64(nil, uint64(i)), val)
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		for i := range b.N {
			err := db.Update(func(tx *store.Tx) error {
				return tx.Delete("bench", binary.BigEndian.AppendUint64(nil, uint64(i)))
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
