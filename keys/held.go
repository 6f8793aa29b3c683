package keys

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/vault"
	"github.com/ghostwire/ghostwire/wire"
)

// Held keys: secrets another service opened with one of our encryption
// subkeys and must keep after that subkey is destroyed — a room's epoch
// key, unwrapped from a part sealed to a subkey that the weekly rotation
// will destroy while the epoch is still current (docs/protocol.md §13.4,
// docs/trust.md §4). They live under the same erasure as the subkeys: a
// vault slot of the key vault holds a random key, the store holds only the
// secret sealed under it, so destroying the slot in place erases every copy
// badger kept. The service that holds a key decides when it goes
// (Release); the key vault's start-up sweep keeps the slots these records
// name.

// bucketHeld holds the held secrets: ref → heldRecord.
const bucketHeld = "heldkey"

// heldRecord is a held secret: its vault slot and the secret sealed
// (XChaCha20-Poly1305) under the slot's key, the ref as associated data.
type heldRecord struct {
	Slot   uint32 `cbor:"1,keyasint"`
	Nonce  []byte `cbor:"2,keyasint"`
	Sealed []byte `cbor:"3,keyasint"`
}

// ErrNotHeld: no secret is held under this ref (never held, or released).
var ErrNotHeld = errors.New("keys: no secret held under this reference")

// Hold keeps secret under ref until Release, where destroying it erases it
// (the key vault). Holding a ref again replaces the secret. Without a key
// vault it returns ErrNoEncryptionSubkeys: nothing of ours is destroyed on
// a schedule then, so the caller can open the secret again when needed.
func (s *Service) Hold(ref vault.Ref, secret []byte) error {
	s.enc.mu.Lock()
	defer s.enc.mu.Unlock()
	v := s.enc.cfg.Vault
	if v == nil {
		return ErrNoEncryptionSubkeys
	}
	old, oldErr := s.heldLocked(ref)
	slot, k, err := v.Create(s.h.Rand(), ref)
	if err != nil {
		return fmt.Errorf("keys: keeping a key: %w", err)
	}
	defer clear(k[:])
	a, _ := chacha20poly1305.NewX(k[:])
	rec := heldRecord{Slot: slot, Nonce: make([]byte, a.NonceSize())}
	if _, err := s.h.Rand().Read(rec.Nonce); err != nil {
		v.Destroy(slot)
		return fmt.Errorf("keys: reading randomness: %w", err)
	}
	rec.Sealed = a.Seal(nil, rec.Nonce, secret, ref[:])
	raw, err := wire.Marshal(&rec)
	if err != nil {
		v.Destroy(slot)
		return err
	}
	if err := s.h.Store().Update(func(tx *store.Tx) error { return tx.Put(bucketHeld, ref[:], raw) }); err != nil {
		v.Destroy(slot) // a stop before this line leaves an orphan the sweep destroys
		return fmt.Errorf("keys: keeping a key: %w", err)
	}
	if oldErr == nil {
		v.Destroy(old.Slot)
	}
	return nil
}

// Held returns the secret held under ref, or ErrNotHeld.
func (s *Service) Held(ref vault.Ref) ([]byte, error) {
	s.enc.mu.Lock()
	defer s.enc.mu.Unlock()
	if s.enc.cfg.Vault == nil {
		return nil, ErrNoEncryptionSubkeys
	}
	rec, err := s.heldLocked(ref)
	if err != nil {
		return nil, err
	}
	k, err := s.enc.cfg.Vault.Key(rec.Slot, ref)
	if err != nil {
		// Destroyed (a release stopped half-way) or damaged: gone either way.
		return nil, fmt.Errorf("%w (%v)", ErrNotHeld, err)
	}
	defer clear(k[:])
	return rec.open(&k, ref)
}

// open returns the secret a record seals under its slot's key k. The
// record comes from the store, which a damaged disk may have changed, so
// every length is checked before use (FuzzHeldRecord).
func (rec heldRecord) open(k *vault.Key, ref vault.Ref) ([]byte, error) {
	a, _ := chacha20poly1305.NewX(k[:])
	if len(rec.Nonce) != a.NonceSize() {
		return nil, fmt.Errorf("keys: a held key's record is damaged")
	}
	secret, err := a.Open(nil, rec.Nonce, rec.Sealed, ref[:])
	if err != nil {
		return nil, fmt.Errorf("keys: a held key's record does not open under its vault key")
	}
	return secret, nil
}

// Release destroys the secret held under ref: its vault slot is overwritten
// in place and synced, then the record goes. Releasing a ref not held is
// not an error. With erasure off for a test (SetEncryptionErasureForTest)
// the slot is left as it was, the forensic control.
func (s *Service) Release(ref vault.Ref) error {
	s.enc.mu.Lock()
	defer s.enc.mu.Unlock()
	if s.enc.cfg.Vault == nil {
		return nil
	}
	rec, err := s.heldLocked(ref)
	if errors.Is(err, ErrNotHeld) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := s.enc.cfg.Vault.Key(rec.Slot, ref); err == nil && !s.enc.keep {
		if err := s.enc.cfg.Vault.Destroy(rec.Slot); err != nil {
			return fmt.Errorf("keys: destroying a held key: %w", err)
		}
	}
	return s.h.Store().Update(func(tx *store.Tx) error { return tx.Delete(bucketHeld, ref[:]) })
}

func (s *Service) heldLocked(ref vault.Ref) (heldRecord, error) {
	var rec heldRecord
	err := s.h.Store().View(func(tx *store.Tx) error {
		raw, err := tx.Get(bucketHeld, ref[:])
		if errors.Is(err, store.ErrNotFound) {
			return ErrNotHeld
		}
		if err != nil {
			return err
		}
		return wire.Unmarshal(raw, &rec)
	})
	return rec, err
}

// heldRefs returns the refs of every held secret, for the vault's sweep.
func (s *Service) heldRefs() (map[vault.Ref]bool, error) {
	out := map[vault.Ref]bool{}
	err := s.h.Store().View(func(tx *store.Tx) error {
		return tx.Scan(bucketHeld, nil, func(k, _ []byte) error {
			if len(k) == vault.KeySize {
				out[vault.Ref(k)] = true
			}
			return nil
		})
	})
	return out, err
}

// Grace is how long a rotated-out subkey lives, and so how long a held
// key its holder no longer uses is kept (a room's superseded epoch).
func (s *Service) Grace() time.Duration {
	s.enc.mu.Lock()
	defer s.enc.mu.Unlock()
	return s.enc.cfg.Grace
}
