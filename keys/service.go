package keys

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/service"
	"github.com/ghostwire/ghostwire/store"
)

// Host is what the service needs of the node.
type Host interface {
	service.Host
	// Publish stores our own new items in their scopes and sends them to
	// every peer that shares one.
	Publish(entries []store.Entry, expiries []item.Expiry) (added int, err error)
	// Peers lists the contacts: an encryption subkey's certificate goes
	// into the pair scope of each.
	Peers() []identity.ID
	// RevokeContact marks a contact revoked (its identity published a
	// revocation of itself) and ends its session; nothing when id is not
	// a contact.
	RevokeContact(id identity.ID) error
}

// ErrRevoked: an item signed by a key its author revoked, at or after the
// revocation's time (§5.12). It is refused like a forged one.
var ErrRevoked = errors.New("keys: signed by a revoked key")

// Service holds the revocations a node knows of and applies them to every
// item a peer sends. It is safe for concurrent use.
type Service struct {
	h Host

	// mu guards the index of revocations, read from the store on first
	// use and kept up to date by Accepted and Revoke.
	mu     sync.Mutex
	loaded bool
	byKey  map[revoked]Revocation // the earliest revocation of each key

	// sig is our signing subkey (subkeys.go); sig.mu is taken before mu.
	sig struct {
		mu      sync.Mutex
		period  time.Duration
		current *item.Subkey // nil until first used, or after a revocation
	}

	// enc is our encryption subkeys (enckeys.go); enc.mu is taken before
	// mu and never with sig.mu.
	enc struct {
		mu    sync.Mutex
		cfg   EncryptionConfig
		swept bool                  // the vault's orphan slots destroyed
		keep  bool                  // SetEncryptionErasureForTest
		key   *recipient.PrivateKey // current, with the older ones alive
		cert  *item.Item            // the current one's certificate
	}
}

// revoked names a key as a revocation binds it: its author's items only.
type revoked struct{ author, subject identity.ID }

// New returns the service.
func New(h Host) *Service {
	s := &Service{h: h, byKey: map[revoked]Revocation{}}
	s.sig.period = DefaultSigningPeriod
	return s
}

// Scope is the one scope revocations travel in (§5.12): the keys space,
// class trusted.
func Scope() item.Scope { return item.ScopeOf(item.KeysSpace(), item.ClassTrusted) }

// Scopes lists the scopes shared with peer: the keys scope, with every
// peer. The node offers it before any other scope, so that a revocation
// arrives before the items it makes us refuse (§5.12).
func (s *Service) Scopes(identity.ID) []item.Scope { return []item.Scope{Scope()} }

// Check returns the test an item peer sent in sc must pass, or nil if sc
// is not the keys scope. Anyone's revocation is admitted, not only the
// peer's: a revocation must reach everyone who may hold its author's
// items, and the peers of our peers do.
func (s *Service) Check(_ identity.ID, sc item.Scope) func(*item.Item) bool {
	if sc != Scope() {
		return nil
	}
	return func(it *item.Item) bool {
		_, err := RevocationOf(it)
		return err == nil
	}
}

// Accepted indexes the revocations among items; one of an identity by
// itself makes that contact revoked.
func (s *Service) Accepted(_ identity.ID, items []*item.Item) error {
	for _, it := range items {
		if it.Kind() != item.KindRevocation {
			continue
		}
		r, err := RevocationOf(it)
		if err != nil {
			continue // admitted by Check, so not ours to judge again
		}
		if err := s.add(r); err != nil {
			return err
		}
		if r.Identity() {
			s.h.Log().Warn("a peer's identity revoked itself; it is refused from now on", "identity", r.Author, "from", r.At, "reason", r.Reason)
			if err := s.h.RevokeContact(r.Author); err != nil {
				return err
			}
		}
	}
	return nil
}

// Admit refuses, with ErrRevoked, an item whose signer its author revoked
// at or before the item's creation time, or whose author revoked its
// identity so. Items created before the revocation's time stay valid
// (§5.12). Revocations themselves are always admitted: a later revocation
// by an identity that revoked itself can only take more away.
func (s *Service) Admit(it *item.Item) error {
	if it.Kind() == item.KindRevocation {
		return nil
	}
	if err := s.load(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range []revoked{{it.Author(), it.Signer()}, {it.Author(), it.Author()}} {
		r, ok := s.byKey[k]
		if ok && !it.Created().Before(r.At) {
			what := "subkey " + r.Subject.Short()
			if r.Identity() {
				what = "identity"
			}
			return fmt.Errorf("%w: created %s, and its author revoked the %s from %s (%q)", ErrRevoked,
				it.Created().Format(time.RFC3339), what, r.At.Format(time.RFC3339), r.Reason)
		}
	}
	return nil
}

// Revoke signs and publishes our revocation of subject, one of our
// subkeys or our own identity, from now on.
func (s *Service) Revoke(subject identity.ID, reason string) (Revocation, error) {
	now := s.h.Now()
	it, err := NewRevocation(s.h.Key(), subject, now, reason, now)
	if err != nil {
		return Revocation{}, err
	}
	r, err := RevocationOf(it)
	if err != nil {
		return Revocation{}, err
	}
	if _, err := s.h.Publish([]store.Entry{{Item: it, Scopes: []item.Scope{Scope()}}}, nil); err != nil {
		return Revocation{}, err
	}
	return r, s.add(r)
}

// Revocations lists the revocations held, the earliest of each key,
// ordered by author, then time.
func (s *Service) Revocations() ([]Revocation, error) {
	if err := s.load(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	out := make([]Revocation, 0, len(s.byKey))
	for _, r := range s.byKey {
		out = append(out, r)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Revocation) int {
		if c := a.Author.Compare(b.Author); c != 0 {
			return c
		}
		return a.At.Compare(b.At)
	})
	return out, nil
}

// add indexes r; of two revocations of one key the earlier time wins, since
// each says the key was not to be trusted from then on.
func (s *Service) add(r Revocation) error {
	if err := s.load(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index(r)
	return nil
}

func (s *Service) index(r Revocation) {
	k := revoked{r.Author, r.Subject}
	if old, ok := s.byKey[k]; !ok || r.At.Before(old.At) {
		s.byKey[k] = r
	}
}

// load reads the revocations held in the store, once.
func (s *Service) load() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loaded {
		return nil
	}
	err := s.h.Store().SpaceItems(item.KeysSpace(), func(it *item.Item) error {
		if r, err := RevocationOf(it); err == nil {
			s.index(r)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("keys: reading the revocations held: %w", err)
	}
	s.loaded = true
	return nil
}
