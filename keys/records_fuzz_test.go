package keys

import (
	"bytes"
	"testing"

	"github.com/ghostwire/ghostwire/vault"
	"github.com/ghostwire/ghostwire/wire"
	"golang.org/x/crypto/chacha20poly1305"
)

// FuzzHeldRecord feeds the node's own records of held keys and encryption
// subkeys, as a damaged disk might hand them back, to their decoders and to
// the opening of a held key: no panic, no secret from a record that was not
// sealed under the slot's key, and a sealed record still opens.
func FuzzHeldRecord(f *testing.F) {
	var k vault.Key
	var ref vault.Ref
	for i := range k {
		k[i], ref[i] = byte(i), byte(200-i)
	}
	a, _ := chacha20poly1305.NewX(k[:])
	good := heldRecord{Slot: 3, Nonce: make([]byte, a.NonceSize())}
	good.Sealed = a.Seal(nil, good.Nonce, []byte("an epoch key"), ref[:])
	raw, err := wire.Marshal(&good)
	if err != nil {
		f.Fatal(err)
	}
	enc, err := wire.Marshal(&encRecord{Slot: 1, Print: bytes.Repeat([]byte{7}, 32), Created: 1, NotBefore: 1, NotAfter: 2})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add(enc)
	f.Add(raw[:len(raw)-1])
	f.Add([]byte{0xa1, 0x02, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		var e encRecord
		_ = wire.Unmarshal(b, &e)
		var rec heldRecord
		if wire.Unmarshal(b, &rec) != nil {
			return
		}
		secret, err := rec.open(&k, ref)
		if err != nil {
			return
		}
		if !bytes.Equal(rec.Nonce, good.Nonce) || !bytes.Equal(rec.Sealed, good.Sealed) || string(secret) != "an epoch key" {
			t.Fatalf("a record that was not sealed under the slot's key opened: %x", b)
		}
	})
}
