package dm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/vault"
	"golang.org/x/crypto/chacha20poly1305"
)

// sealer keeps burnable messages at rest (store.Sealer): each under its
// own vault key, docs/storage.md "Burn". What the store holds of such a
// message is
//
//	formVault (1) ‖ slot (4, big-endian) ‖ nonce (24) ‖ XChaCha20-Poly1305(key, item bytes, item ID)
//
// so that the item, sealed to our recipient key, never reaches badger in a
// form that key opens, and destroying the slot makes every copy badger
// kept of it unreadable.
type sealer struct {
	v    *vault.Vault
	rand io.Reader
	// clear is the test-only switch of SetErasureForTest: burnable
	// messages are stored as their own bytes (formClear) and burning only
	// deletes them from the store, which is what the forensic test must
	// catch.
	clear bool

	// others are the other kinds kept erasably (SealKind), each with when
	// an item burns at the latest and whether it burns at all. Written
	// only before the store is used concurrently.
	others map[item.Kind]func(*item.Item) (time.Time, bool)

	mu    sync.Mutex
	slots map[item.ID]uint32 // the vault slot of each sealed item
}

// Forms of a sealed message at rest.
const (
	formClear = 0 // test only: the item's bytes (SetErasureForTest)
	formVault = 1
)

var _ store.Sealer = (*sealer)(nil)

func newSealer(v *vault.Vault, rand io.Reader) *sealer {
	return &sealer{v: v, rand: rand, slots: map[item.ID]uint32{}, others: map[item.Kind]func(*item.Item) (time.Time, bool){}}
}

// Seal seals burnable messages, and the items of other kinds that burn
// (SealKind); every other item is stored as it is.
func (z *sealer) Seal(it *item.Item) ([]byte, time.Time, bool, error) {
	var until time.Time
	if it.Kind() == item.KindBurnMessage {
		t, _, err := decodeBurn(it.Payload())
		if err != nil {
			// Check admits only payloads that decode; ours are made valid.
			return nil, time.Time{}, false, fmt.Errorf("dm: storing a burnable message: %w", err)
		}
		until = deadline(it, t)
	} else if fn := z.others[it.Kind()]; fn != nil {
		var burns bool
		if until, burns = fn(it); !burns {
			return nil, time.Time{}, false, nil
		}
	} else {
		return nil, time.Time{}, false, nil
	}
	id := it.ID()
	if z.clear {
		return append([]byte{formClear}, it.Bytes()...), until, true, nil
	}
	slot, key, err := z.v.Create(z.rand, vault.Ref(id))
	if err != nil {
		return nil, time.Time{}, false, err
	}
	defer clear(key[:])
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, time.Time{}, false, err
	}
	out := binary.BigEndian.AppendUint32([]byte{formVault}, slot)
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := io.ReadFull(z.rand, nonce); err != nil {
		return nil, time.Time{}, false, fmt.Errorf("dm: reading randomness: %w", err)
	}
	out = aead.Seal(append(out, nonce...), nonce, it.Bytes(), id[:])
	z.mu.Lock()
	z.slots[id] = slot
	z.mu.Unlock()
	return out, until, true, nil
}

// Open returns a sealed message's item bytes while its key lives.
func (z *sealer) Open(id item.ID, stored []byte) ([]byte, error) {
	if len(stored) > 0 && stored[0] == formClear && z.clear {
		return stored[1:], nil
	}
	const head = 1 + 4 + chacha20poly1305.NonceSizeX
	if len(stored) < head || stored[0] != formVault {
		return nil, errors.New("dm: a sealed message is malformed")
	}
	slot := binary.BigEndian.Uint32(stored[1:5])
	key, err := z.v.Key(slot, vault.Ref(id))
	if err != nil {
		return nil, err
	}
	defer clear(key[:])
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, err
	}
	raw, err := aead.Open(nil, stored[5:head], stored[head:], id[:])
	if err != nil {
		return nil, fmt.Errorf("dm: a sealed message does not open with its key: %w", err)
	}
	z.mu.Lock()
	z.slots[id] = slot
	z.mu.Unlock()
	return raw, nil
}

// destroy destroys id's key, if this node holds one.
func (z *sealer) destroy(id item.ID) error {
	if z == nil || z.clear {
		return nil
	}
	z.mu.Lock()
	slot, ok := z.slots[id]
	z.mu.Unlock()
	if !ok {
		// Not opened or sealed since the start: sweep filled the table.
		return nil
	}
	if err := z.v.Destroy(slot); err != nil {
		return err
	}
	z.mu.Lock()
	delete(z.slots, id)
	z.mu.Unlock()
	return nil
}

// sweep fills the slot table from the vault, destroys keys whose message
// the store does not hold (a write that failed or was killed after the key
// was made, or a burn whose store step was done) and damaged slots, and
// returns the stored messages whose key is gone (a burn killed between its
// two steps, or a damaged slot). A damaged slot is zeroed rather than kept:
// its message no longer opens for anyone, and what is left of it (a
// destroy torn by a crash may leave part of a slot) is better gone.
func (z *sealer) sweep(stored []item.ID, log *slog.Logger) (gone []item.ID) {
	if z.clear {
		return nil
	}
	held := map[item.ID]bool{}
	for _, id := range stored {
		held[id] = true
	}
	found := map[item.ID]uint32{}
	var orphans, damaged []uint32
	unread := 0 // slots that could not be read (not damaged: an I/O error)
	z.v.Slots(func(slot uint32, ref vault.Ref, err error) {
		switch {
		case errors.Is(err, vault.ErrDamaged):
			damaged = append(damaged, slot)
		case err != nil:
			unread++
		case held[item.ID(ref)]:
			found[item.ID(ref)] = slot
		default:
			orphans = append(orphans, slot)
		}
	})
	if len(damaged) > 0 {
		log.Error("vault slots are damaged; the burnable messages they held cannot be read, and are removed", "slots", len(damaged))
	}
	for _, slot := range append(orphans, damaged...) {
		if err := z.v.Destroy(slot); err != nil {
			log.Warn("destroying an unused message key failed", "err", err)
		}
	}
	z.mu.Lock()
	for id, slot := range found {
		z.slots[id] = slot
	}
	z.mu.Unlock()
	if unread > 0 {
		// Which messages those slots hold is unknown: tidy nothing.
		log.Error("vault slots could not be read; burnable messages may not open until they can", "slots", unread)
		return nil
	}
	for _, id := range stored {
		if _, ok := found[id]; !ok {
			gone = append(gone, id)
		}
	}
	return gone
}
