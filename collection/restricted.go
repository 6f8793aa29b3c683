package collection

import (
	"errors"

	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/store"
)

// bucketUpgrade records the one-time upgrades of what the service stored.
const bucketUpgrade = "collection-upgrade"

// upgradeRestrictedScopes names the upgrade that put restricted indicators
// into the restricted scopes.
const upgradeRestrictedScopes = "restricted-scopes-v1"

// UpgradeRestricted indexes the restricted indicators stored before
// restricted scopes spanned every collection (docs/protocol.md §10.1)
// into those scopes, once: until then they sat in a per-collection scope
// that a recipient not holding the collection never offered, and so never
// reached it. Tombstones of them are indexed with them. It runs when the
// node opens, before any session.
func (s *Service) UpgradeRestricted() error {
	db := s.h.Store()
	done := false
	if err := db.View(func(tx *store.Tx) error {
		_, err := tx.Get(bucketUpgrade, []byte(upgradeRestrictedScopes))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		done = err == nil
		return err
	}); err != nil {
		return err
	}
	if done {
		return nil
	}
	type pending struct {
		id     item.ID
		scopes []item.Scope
	}
	var todo []pending
	for _, name := range s.Names() {
		err := db.SpaceItems(item.CollectionSpace(name), func(it *item.Item) error {
			if it.Kind() != item.KindIOCSealed {
				return nil
			}
			scopes, err := ScopesOf(it)
			if err != nil {
				return nil // unreadable stanzas: it was never offered anyway
			}
			todo = append(todo, pending{it.ID(), scopes})
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, p := range todo {
		for _, sc := range p.scopes {
			if err := db.IndexItem(p.id, sc); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
	}
	if len(todo) > 0 {
		s.h.Log().Info("restricted indicators now in the scopes that span every collection", "items", len(todo))
	}
	return db.Update(func(tx *store.Tx) error { return tx.Put(bucketUpgrade, []byte(upgradeRestrictedScopes), []byte{1}) })
}
