package keys

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/wire"
)

// DefaultSigningPeriod is how long a signing subkey signs before the node
// rotates to a new one (issue 18: monthly). A short period bounds what a
// stolen subkey signs before its owner notices only together with
// revocation (§5.12); the period bounds how long a subkey nobody revoked
// keeps signing.
const DefaultSigningPeriod = 30 * 24 * time.Hour

// overlap is how much longer than the period a certificate runs: a node
// that was off when its subkey's period ended signs with it until it
// rotates, at the next item, and must not fail in between.
const overlap = 7 * 24 * time.Hour

// lead is how long before its rotation a subkey's window starts: a caller
// that read the clock just before the rotation (a long import reads it
// once) dates its items a little earlier than the new certificate, and
// they must still fall inside it.
const lead = time.Hour

// bucketSubkey holds our signing subkeys: public key → record. Their
// private keys are secrets; the store encrypts them at rest with the rest.
const bucketSubkey = "subkey"

// Purpose names as the API and CLI show them.
const (
	PurposeSigning    = "signing"
	PurposeEncryption = "encryption"
)

// Subkey states as key list shows them.
const (
	StateCurrent = "current" // signs our new items
	StatePast    = "past"    // rotated out; items it signed stay valid
	StateRevoked = "revoked" // we revoked it (§5.12)
)

// SubkeyInfo is one of our subkeys as key list shows it.
type SubkeyInfo struct {
	Key     identity.ID // a signing subkey's public key
	Print   []byte      // an encryption subkey's: SHA-256 of its public key
	Purpose string
	Start   time.Time // the certificate's not-before
	End     time.Time // the certificate's not-after
	Retired time.Time // when it stopped signing; zero while current
	State   string
	Reason  string // the revocation's, when revoked
	// Destroy is when an encryption subkey's private key is destroyed
	// (its grace ends), or was; zero while current.
	Destroy time.Time
}

// Hex names the subkey as key list shows it: a signing subkey's public
// key, an encryption subkey's fingerprint, in hex.
func (in SubkeyInfo) Hex() string {
	if in.Purpose == PurposeEncryption {
		return hex.EncodeToString(in.Print)
	}
	return in.Key.Hex()
}

// subkeyRecord is a stored subkey. The certificate is not stored: Ed25519
// signatures are deterministic, so certifying again gives the same bytes.
type subkeyRecord struct {
	Seed      []byte `cbor:"1,keyasint"`
	NotBefore int64  `cbor:"2,keyasint"`
	NotAfter  int64  `cbor:"3,keyasint"`
	Retired   int64  `cbor:"4,keyasint,omitempty"` // Unix ms; 0 while current
}

// SetSigningPeriod sets how long a signing subkey signs before the next
// replaces it; zero or less keeps DefaultSigningPeriod. Tests shorten it.
func (s *Service) SetSigningPeriod(d time.Duration) {
	s.sig.mu.Lock()
	defer s.sig.mu.Unlock()
	if d <= 0 {
		d = DefaultSigningPeriod
	}
	s.sig.period = d
}

// Signer returns the signing subkey that signs our new items, certifying a
// new one first when there is none, its period has run out or it was
// revoked. The items it signs have our identity as author (§5.9).
func (s *Service) Signer() (item.Signer, error) {
	s.sig.mu.Lock()
	defer s.sig.mu.Unlock()
	now := s.h.Now()
	if c := s.sig.current; c != nil && now.Before(c.Cert().NotBefore.Add(lead+s.sig.period)) && !s.isRevoked(c.Cert().Key) {
		return c, nil
	}
	cur, err := s.loadCurrent()
	if err != nil {
		return nil, err
	}
	if cur != nil && now.Before(cur.Cert().NotBefore.Add(lead+s.sig.period)) && !s.isRevoked(cur.Cert().Key) {
		s.sig.current = cur
		return cur, nil
	}
	return s.rotateLocked(now)
}

// Rotate retires the current signing subkey and certifies a new one now.
func (s *Service) Rotate() (SubkeyInfo, error) {
	s.sig.mu.Lock()
	defer s.sig.mu.Unlock()
	sk, err := s.rotateLocked(s.h.Now())
	if err != nil {
		return SubkeyInfo{}, err
	}
	c := sk.Cert()
	return SubkeyInfo{Key: c.Key, Purpose: PurposeSigning, Start: c.NotBefore, End: c.NotAfter, State: StateCurrent}, nil
}

func (s *Service) rotateLocked(now time.Time) (*item.Subkey, error) {
	key, err := identity.GenerateKey(s.h.Rand())
	if err != nil {
		return nil, fmt.Errorf("keys: making a subkey: %w", err)
	}
	rec := subkeyRecord{Seed: key.Seed(), NotBefore: now.Add(-lead).UnixMilli(), NotAfter: now.Add(s.sig.period + overlap).UnixMilli()}
	sk, err := s.subkeyFrom(&rec)
	if err != nil {
		return nil, err
	}
	v, err := wire.Marshal(&rec)
	if err != nil {
		return nil, err
	}
	err = s.h.Store().Update(func(tx *store.Tx) error {
		// Retire the subkeys still current: one signs at a time.
		if err := retireCurrent(tx, bucketSubkey, now.UnixMilli(), func(r *subkeyRecord) *int64 { return &r.Retired }); err != nil {
			return err
		}
		return tx.Put(bucketSubkey, key.ID().Bytes(), v)
	})
	if err != nil {
		return nil, fmt.Errorf("keys: storing the new subkey: %w", err)
	}
	s.h.Log().Info("signing subkey rotated", "subkey", key.ID(), "until", sk.Cert().NotAfter)
	s.sig.current = sk
	return sk, nil
}

// subkeyFrom certifies a stored subkey again under our identity.
func (s *Service) subkeyFrom(r *subkeyRecord) (*item.Subkey, error) {
	key, err := identity.NewKeyFromSeed(r.Seed)
	if err != nil {
		return nil, fmt.Errorf("keys: a stored subkey is damaged: %w", err)
	}
	cert, err := item.Certify(s.h.Key(), key.ID(), item.PurposeItem, time.UnixMilli(r.NotBefore), time.UnixMilli(r.NotAfter))
	if err != nil {
		return nil, err
	}
	return item.NewSubkey(s.h.ID(), key, cert)
}

// loadCurrent returns the stored subkey that is not retired, or nil.
func (s *Service) loadCurrent() (*item.Subkey, error) {
	var cur *item.Subkey
	err := s.h.Store().View(func(tx *store.Tx) error {
		return tx.Scan(bucketSubkey, nil, func(_, raw []byte) error {
			var r subkeyRecord
			if err := wire.Unmarshal(raw, &r); err != nil {
				return fmt.Errorf("keys: a stored subkey does not decode: %w", err)
			}
			if r.Retired != 0 {
				return nil
			}
			sk, err := s.subkeyFrom(&r)
			cur = sk
			return err
		})
	})
	return cur, err
}

// isRevoked reports whether we revoked our subkey k.
func (s *Service) isRevoked(k identity.ID) bool {
	if s.load() != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.byKey[revoked{s.h.ID(), k}]
	return ok
}

// Subkeys lists our signing subkeys, newest first.
func (s *Service) Subkeys() ([]SubkeyInfo, error) {
	if err := s.load(); err != nil {
		return nil, err
	}
	var out []SubkeyInfo
	err := s.h.Store().View(func(tx *store.Tx) error {
		return tx.Scan(bucketSubkey, nil, func(k, raw []byte) error {
			var r subkeyRecord
			if err := wire.Unmarshal(raw, &r); err != nil {
				return fmt.Errorf("keys: a stored subkey does not decode: %w", err)
			}
			id, err := identity.NewID(k)
			if err != nil {
				return fmt.Errorf("keys: a stored subkey is damaged: %w", err)
			}
			in := SubkeyInfo{Key: id, Purpose: PurposeSigning, Start: time.UnixMilli(r.NotBefore).UTC(), End: time.UnixMilli(r.NotAfter).UTC(), State: StateCurrent}
			if r.Retired != 0 {
				in.Retired, in.State = time.UnixMilli(r.Retired).UTC(), StatePast
			}
			s.mu.Lock()
			if rv, ok := s.byKey[revoked{s.h.ID(), id}]; ok {
				in.State, in.Reason = StateRevoked, rv.Reason
			}
			s.mu.Unlock()
			out = append(out, in)
			return nil
		})
	})
	// Newest first; of two made in one millisecond (tests rotate fast),
	// the one still current, then the one retired last.
	slices.SortFunc(out, func(a, b SubkeyInfo) int {
		if c := b.Start.Compare(a.Start); c != 0 {
			return c
		}
		if a.Retired.IsZero() != b.Retired.IsZero() {
			if a.Retired.IsZero() {
				return -1
			}
			return 1
		}
		return b.Retired.Compare(a.Retired)
	})
	return out, err
}

// RevokeSubkey revokes one of our signing subkeys, given by its key (or a
// unique prefix of its hex), from now on; if it was the current one, the
// next item is signed by a new subkey.
func (s *Service) RevokeSubkey(ref, reason string) (SubkeyInfo, error) {
	subs, err := s.Subkeys()
	if err != nil {
		return SubkeyInfo{}, err
	}
	var match []SubkeyInfo
	for _, sk := range subs {
		if ref != "" && (sk.Key.Hex() == ref || sk.Key.String() == ref || len(ref) >= 8 && (strings.HasPrefix(sk.Key.Hex(), ref) || strings.HasPrefix(sk.Key.String(), ref))) {
			match = append(match, sk)
		}
	}
	switch {
	case len(match) == 0:
		return SubkeyInfo{}, fault.Invalidf("give a subkey that key list shows (its hex key, or at least 8 characters of it)", "no subkey of ours is %q", ref)
	case len(match) > 1:
		return SubkeyInfo{}, fault.Invalidf("give more characters of the subkey", "%d subkeys match %q", len(match), ref)
	case match[0].State == StateRevoked:
		return SubkeyInfo{}, fault.Invalidf("it stays revoked; nothing to do", "subkey %s is revoked already", match[0].Key.Hex()[:16])
	}
	r, err := s.Revoke(match[0].Key, reason)
	if errors.Is(err, ErrInvalid) {
		return SubkeyInfo{}, fault.Invalidf("give a reason of 1 to 256 characters, on one line", "%v", err)
	}
	if err != nil {
		return SubkeyInfo{}, err
	}
	s.sig.mu.Lock()
	if s.sig.current != nil && s.sig.current.Cert().Key == r.Subject {
		s.sig.current = nil
	}
	s.sig.mu.Unlock()
	out := match[0]
	out.State, out.Reason = StateRevoked, r.Reason
	return out, nil
}

// retireCurrent marks, in bucket, every record of type R whose retired
// field (Unix ms, 0 while current) is 0 as retired at at: the step every
// rotation takes, in the transaction that stores the new key.
func retireCurrent[R any](tx *store.Tx, bucket string, at int64, retired func(*R) *int64) error {
	var old [][]byte
	err := tx.Scan(bucket, nil, func(k, raw []byte) error {
		var r R
		if err := wire.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("keys: a stored subkey does not decode: %w", err)
		}
		if *retired(&r) != 0 {
			return nil
		}
		*retired(&r) = at
		b, err := wire.Marshal(&r)
		if err != nil {
			return err
		}
		old = append(old, slices.Clone(k), b)
		return nil
	})
	if err != nil {
		return err
	}
	for i := 0; i < len(old); i += 2 {
		if err := tx.Put(bucket, old[i], old[i+1]); err != nil {
			return err
		}
	}
	return nil
}
