package keys

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/vault"
	"github.com/ghostwire/ghostwire/wire"
)

// DefaultEncryptionPeriod is how long an encryption subkey is the one
// peers seal to before the node rotates to a new one (issue 18: weekly).
const DefaultEncryptionPeriod = 7 * 24 * time.Hour

// DefaultEncryptionGrace is how long a rotated-out encryption subkey's
// private key is kept before it is destroyed: two weeks. A peer seals to
// the certificate it holds until a session brings it the new one, and
// what it sealed meanwhile (written while we were apart) arrives in that
// same session; so every message from a peer that syncs with us within
// two weeks of a rotation still opens. docs/trust.md §4 says why two
// weeks and what happens to later ones.
const DefaultEncryptionGrace = 14 * 24 * time.Hour

// bucketEncKey holds our encryption subkeys: vault ref → encRecord. The
// private key is the vault slot's key (recipient.NewSubkey); the store
// holds only where it is and what it was, so destroying the slot in place
// destroys the key, whatever old versions badger keeps of the record.
const bucketEncKey = "enckey"

// State of an encryption subkey as key list shows it.
const (
	StateGrace     = "grace"     // rotated out; still opens what was sealed to it
	StateDestroyed = "destroyed" // its private key is gone
)

// encRecord is a stored encryption subkey.
type encRecord struct {
	Slot      uint32 `cbor:"1,keyasint"`
	Print     []byte `cbor:"2,keyasint"` // recipient.PrivateKey.Fingerprint
	Created   int64  `cbor:"3,keyasint"` // the certificate's created, Unix ms
	NotBefore int64  `cbor:"4,keyasint"`
	NotAfter  int64  `cbor:"5,keyasint"`
	Retired   int64  `cbor:"6,keyasint,omitempty"` // 0 while current
	Destroyed int64  `cbor:"7,keyasint,omitempty"` // 0 while the key lives
}

// EncryptionConfig turns on encryption subkeys (SetEncryption).
type EncryptionConfig struct {
	// Vault holds the subkeys' private keys, one slot each. It must be
	// the node's own: every slot whose ref is not one of our records is
	// destroyed at start (a rotation that stopped half-way).
	Vault *vault.Vault
	// Base is the recipient key from before subkeys (the keyring's): kept
	// as the oldest key, so what was sealed to it still opens.
	Base *recipient.PrivateKey
	// Period is how long a subkey is current; zero means
	// DefaultEncryptionPeriod.
	Period time.Duration
	// Grace is how long a rotated-out subkey lives on; zero means
	// DefaultEncryptionGrace.
	Grace time.Duration
}

// ErrNoEncryptionSubkeys: the node has no vault for encryption subkeys.
var ErrNoEncryptionSubkeys = errors.New("keys: this node has no vault for encryption subkeys")

// SetEncryptionErasureForTest, with off, marks a subkey destroyed when its
// grace ends but leaves its vault slot as it was: the forensic test's
// control, which must then open the old messages from a copy of the data
// directory. Tests only.
func (s *Service) SetEncryptionErasureForTest(off bool) {
	s.enc.mu.Lock()
	defer s.enc.mu.Unlock()
	s.enc.keep = off
}

// SetEncryption turns on encryption subkeys. Call it before the service
// is used concurrently, then EncryptionTick once to certify the first.
func (s *Service) SetEncryption(c EncryptionConfig) {
	s.enc.mu.Lock()
	defer s.enc.mu.Unlock()
	if c.Period <= 0 {
		c.Period = DefaultEncryptionPeriod
	}
	if c.Grace <= 0 {
		c.Grace = DefaultEncryptionGrace
	}
	s.enc.cfg = c
}

// RecipientKey returns the key that seals and opens our payloads: the
// current encryption subkey, carrying every subkey in grace and the base
// key as older keys; nil when encryption subkeys are off or before the
// first EncryptionTick.
func (s *Service) RecipientKey() *recipient.PrivateKey {
	s.enc.mu.Lock()
	defer s.enc.mu.Unlock()
	return s.enc.key
}

// Certificate returns the certificate of the current encryption subkey
// (the item peers seal to), or an error when there is none.
func (s *Service) Certificate() (*item.Item, error) {
	s.enc.mu.Lock()
	defer s.enc.mu.Unlock()
	if s.enc.cert == nil {
		return nil, ErrNoEncryptionSubkeys
	}
	return s.enc.cert, nil
}

// EncryptionTick does what the schedule asks now: it certifies a new
// subkey when there is none or the current one's period has run out, and
// destroys the private keys whose grace has ended. It returns when it is
// next due (zero when subkeys are off). The node calls it at start, before
// it serves anything, and then whenever it is due.
func (s *Service) EncryptionTick() (time.Time, error) {
	s.enc.mu.Lock()
	defer s.enc.mu.Unlock()
	c := s.enc.cfg
	if c.Vault == nil {
		return time.Time{}, nil
	}
	now := s.h.Now()
	recs, err := s.encRecords()
	if err != nil {
		return time.Time{}, err
	}
	if !s.enc.swept {
		s.sweepVault(recs)
		s.enc.swept = true
	}
	cur := currentOf(recs)
	lost := false
	if cur != nil {
		// A vault moved aside or damaged: the current key is gone, so
		// peers must be given a new one at once.
		_, err := c.Vault.Key(cur.rec.Slot, cur.ref)
		lost = err != nil
	}
	// changed says the key set must be made again: at the first tick,
	// and after a rotation or a destruction; not every minute.
	changed := s.enc.key == nil
	if cur == nil || lost || !now.Before(time.UnixMilli(cur.rec.Created).Add(c.Period)) {
		changed = true
		if err := s.rotateEncLocked(now); err != nil {
			return time.Time{}, err
		}
		if recs, err = s.encRecords(); err != nil {
			return time.Time{}, err
		}
	}
	for _, r := range recs {
		if r.rec.Retired != 0 && r.rec.Destroyed == 0 && !now.Before(time.UnixMilli(r.rec.Retired).Add(c.Grace)) {
			if err := s.destroyLocked(r, now); err != nil {
				return time.Time{}, err
			}
			changed = true
		}
	}
	if recs, err = s.encRecords(); err != nil {
		return time.Time{}, err
	}
	if changed {
		if err := s.buildKeyLocked(recs); err != nil {
			return time.Time{}, err
		}
	}
	next := time.UnixMilli(currentOf(recs).rec.Created).Add(c.Period)
	for _, r := range recs {
		if r.rec.Retired != 0 && r.rec.Destroyed == 0 {
			next = minTime(next, time.UnixMilli(r.rec.Retired).Add(c.Grace))
		}
	}
	return next, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// RotateEncryption retires the current encryption subkey now, certifies a
// new one and sends its certificate to every peer. The old key opens what
// was sealed to it for the grace period, then is destroyed.
func (s *Service) RotateEncryption() (SubkeyInfo, error) {
	s.enc.mu.Lock()
	defer s.enc.mu.Unlock()
	if s.enc.cfg.Vault == nil {
		return SubkeyInfo{}, ErrNoEncryptionSubkeys
	}
	if err := s.rotateEncLocked(s.h.Now()); err != nil {
		return SubkeyInfo{}, err
	}
	recs, err := s.encRecords()
	if err != nil {
		return SubkeyInfo{}, err
	}
	if err := s.buildKeyLocked(recs); err != nil {
		return SubkeyInfo{}, err
	}
	return s.encInfo(*currentOf(recs)), nil
}

// storedEnc is a record with its ref.
type storedEnc struct {
	ref vault.Ref
	rec encRecord
}

func (s *Service) encRecords() ([]storedEnc, error) {
	var out []storedEnc
	err := s.h.Store().View(func(tx *store.Tx) error {
		return tx.Scan(bucketEncKey, nil, func(k, raw []byte) error {
			var r encRecord
			if err := wire.Unmarshal(raw, &r); err != nil || len(k) != vault.KeySize || len(r.Print) != 32 {
				return fmt.Errorf("keys: a stored encryption subkey is damaged (%v)", err)
			}
			out = append(out, storedEnc{ref: vault.Ref(k), rec: r})
			return nil
		})
	})
	// Oldest first; of two made in one millisecond, the one retired.
	slices.SortStableFunc(out, func(a, b storedEnc) int {
		if c := int(a.rec.Created - b.rec.Created); c != 0 {
			return c
		}
		return int(b.rec.Retired - a.rec.Retired)
	})
	return out, err
}

// currentOf returns the record not retired (the last, if a crash left two).
func currentOf(recs []storedEnc) *storedEnc {
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].rec.Retired == 0 {
			return &recs[i]
		}
	}
	return nil
}

// sweepVault destroys the vault slots no record names: a rotation that
// stopped after making its key and before storing its record, or a Hold
// that stopped before storing its record. The slots of held keys
// (held.go) are ours too; if their records cannot be read, nothing is
// swept this time.
func (s *Service) sweepVault(recs []storedEnc) {
	ours, err := s.heldRefs()
	if err != nil {
		s.h.Log().Warn("reading the held keys failed; the key vault is not tidied this time", "err", err)
		return
	}
	for _, r := range recs {
		if r.rec.Destroyed == 0 {
			ours[r.ref] = true
		}
	}
	var orphans []uint32
	s.enc.cfg.Vault.Slots(func(slot uint32, ref vault.Ref, err error) {
		if err == nil && !ours[ref] && !s.enc.keep || errors.Is(err, vault.ErrDamaged) {
			orphans = append(orphans, slot)
		}
	})
	for _, slot := range orphans {
		if err := s.enc.cfg.Vault.Destroy(slot); err != nil {
			s.h.Log().Warn("destroying an unused encryption key failed", "err", err)
		}
	}
}

// subkeyOf opens a record's private key from its vault slot.
func (s *Service) subkeyOf(r storedEnc) (*recipient.PrivateKey, error) {
	k, err := s.enc.cfg.Vault.Key(r.rec.Slot, r.ref)
	if err != nil {
		return nil, fmt.Errorf("keys: reading an encryption subkey: %w", err)
	}
	defer clear(k[:])
	return recipient.NewSubkey(s.h.ID(), k[:])
}

// rotateEncLocked makes a new subkey: its vault slot first (synced), then
// its record with the old one's retirement in one transaction, then its
// certificate, published to every peer. A stop between the first two
// leaves an orphan slot that sweepVault destroys; after the second, the
// next tick or session publishes the certificate (Certificate).
func (s *Service) rotateEncLocked(now time.Time) error {
	var ref vault.Ref
	if _, err := s.h.Rand().Read(ref[:]); err != nil {
		return fmt.Errorf("keys: reading randomness: %w", err)
	}
	slot, secret, err := s.enc.cfg.Vault.Create(s.h.Rand(), ref)
	if err != nil {
		return fmt.Errorf("keys: making an encryption subkey: %w", err)
	}
	defer clear(secret[:])
	pk, err := recipient.NewSubkey(s.h.ID(), secret[:])
	if err != nil {
		return err
	}
	fp := pk.Fingerprint()
	// Each certificate is dated after the last: senders keep the newest by
	// (created, ID), and two rotations in one millisecond (or a clock set
	// back) must not leave them sealing to the one rotated out.
	created := now.Truncate(time.Millisecond)
	recs, err := s.encRecords()
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.rec.Created >= created.UnixMilli() {
			created = time.UnixMilli(r.rec.Created + 1)
		}
	}
	rec := encRecord{Slot: slot, Print: fp[:], Created: created.UnixMilli(), NotBefore: created.UnixMilli(),
		NotAfter: created.Add(s.enc.cfg.Period + s.enc.cfg.Grace).UnixMilli()}
	cert, err := s.certOf(pk, rec)
	if err != nil {
		return err
	}
	v, err := wire.Marshal(&rec)
	if err != nil {
		return err
	}
	err = s.h.Store().Update(func(tx *store.Tx) error {
		if err := retireCurrent(tx, bucketEncKey, created.UnixMilli(), func(r *encRecord) *int64 { return &r.Retired }); err != nil {
			return err
		}
		return tx.Put(bucketEncKey, ref[:], v)
	})
	if err != nil {
		s.enc.cfg.Vault.Destroy(slot)
		return fmt.Errorf("keys: storing the new encryption subkey: %w", err)
	}
	if err := s.publishCert(cert); err != nil {
		return err
	}
	s.h.Log().Info("encryption subkey rotated", "until", time.UnixMilli(rec.NotAfter).UTC())
	return nil
}

// certOf certifies a subkey again: Ed25519 and canonical CBOR are
// deterministic, so the same record gives the same item.
func (s *Service) certOf(pk *recipient.PrivateKey, r encRecord) (*item.Item, error) {
	return recipient.SubkeyCertificate(s.h.Key(), pk, time.UnixMilli(r.Created), time.UnixMilli(r.NotBefore), time.UnixMilli(r.NotAfter))
}

// publishCert stores cert in the pair scope of every peer and sends it
// to those connected; a peer added later gets it with its first sync
// (the node indexes Certificate into the new pair scope).
func (s *Service) publishCert(cert *item.Item) error {
	var scopes []item.Scope
	for _, p := range s.h.Peers() {
		scopes = append(scopes, item.PairScope(s.h.ID(), p))
	}
	if _, err := s.h.Publish([]store.Entry{{Item: cert, Scopes: scopes}}, nil); err != nil {
		return fmt.Errorf("keys: publishing the encryption subkey: %w", err)
	}
	return nil
}

// destroyLocked erases a subkey past its grace: the vault slot is
// overwritten in place and synced (the erasure), then the record says so.
// A slot that no longer holds this key (destroyed by a stop between the
// two steps, then reused) is left alone.
func (s *Service) destroyLocked(r storedEnc, now time.Time) error {
	if _, err := s.enc.cfg.Vault.Key(r.rec.Slot, r.ref); err == nil && !s.enc.keep {
		if err := s.enc.cfg.Vault.Destroy(r.rec.Slot); err != nil {
			return fmt.Errorf("keys: destroying an encryption subkey: %w", err)
		}
	}
	r.rec.Destroyed = now.UnixMilli()
	v, err := wire.Marshal(&r.rec)
	if err != nil {
		return err
	}
	if err := s.h.Store().Update(func(tx *store.Tx) error { return tx.Put(bucketEncKey, r.ref[:], v) }); err != nil {
		return fmt.Errorf("keys: recording a destroyed encryption subkey: %w", err)
	}
	s.h.Log().Info("encryption subkey destroyed after its grace period", "retired", time.UnixMilli(r.rec.Retired).UTC())
	return nil
}

// buildKeyLocked makes the key set RecipientKey returns, and the current
// certificate, from the records.
func (s *Service) buildKeyLocked(recs []storedEnc) error {
	cur := currentOf(recs)
	if cur == nil {
		return errors.New("bug: keys: no current encryption subkey")
	}
	key, err := s.subkeyOf(*cur)
	if err != nil {
		return err
	}
	cert, err := s.certOf(key, cur.rec)
	if err != nil {
		return err
	}
	var older []*recipient.PrivateKey
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		if r.ref == cur.ref || r.rec.Destroyed != 0 {
			continue
		}
		k, err := s.subkeyOf(r)
		if err != nil {
			s.h.Log().Error("an encryption subkey in its grace period cannot be read; what was sealed to it does not open", "err", err)
			continue
		}
		older = append(older, k)
	}
	if s.enc.cfg.Base != nil {
		older = append(older, s.enc.cfg.Base)
	}
	s.enc.key, s.enc.cert = key.WithOlder(older...), cert
	return nil
}

// encInfo describes one encryption subkey for key list.
func (s *Service) encInfo(r storedEnc) SubkeyInfo {
	in := SubkeyInfo{Print: r.rec.Print, Purpose: PurposeEncryption,
		Start: time.UnixMilli(r.rec.NotBefore).UTC(), End: time.UnixMilli(r.rec.NotAfter).UTC(), State: StateCurrent}
	if r.rec.Retired != 0 {
		in.Retired, in.State = time.UnixMilli(r.rec.Retired).UTC(), StateGrace
		in.Destroy = in.Retired.Add(s.enc.cfg.Grace)
	}
	if r.rec.Destroyed != 0 {
		in.State, in.Destroy = StateDestroyed, time.UnixMilli(r.rec.Destroyed).UTC()
	}
	return in
}

// EncryptionSubkeys lists our encryption subkeys, newest first.
func (s *Service) EncryptionSubkeys() ([]SubkeyInfo, error) {
	s.enc.mu.Lock()
	defer s.enc.mu.Unlock()
	if s.enc.cfg.Vault == nil {
		return nil, nil
	}
	recs, err := s.encRecords()
	out := make([]SubkeyInfo, 0, len(recs))
	for i := len(recs) - 1; i >= 0; i-- {
		out = append(out, s.encInfo(recs[i]))
	}
	return out, err
}
