// Package scopeset keeps, per scope, the set of item IDs the sync engine
// reconciles: the items stored live in the scope, less those whose expiry
// (an IOC's valid-until, docs/ioc.md §8) has passed. It owns the expiry
// index in the store and a cache of the sets, kept current by the store's
// index notifications, so that a session over a large scope costs what
// reconciliation costs and not a read of the whole scope: at a million IDs
// that read takes over a second and 32 MB per session.
//
// It sits between the store and the node: it imports store, item and recon,
// and never the node, a service or anything that opens a socket.
package scopeset

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recon"
	"github.com/ghostwire/ghostwire/store"
)

// bucketExpiry indexes items by expiry: valid-until (Unix ms, 8 bytes big
// endian, so keys sort by time) ‖ item ID → empty.
const bucketExpiry = "iocexpiry"

// Sets is the sync engine's view of the store's scopes.
type Sets struct {
	db    *store.DB
	now   func() time.Time
	cache cache
	limit int // the most items a scope admits (limit.go)

	fullMu sync.Mutex
	full   map[item.Scope]bool // scopes that refused an item for the limit
}

// New returns the sets of db's scopes, each admitting at most limit items
// (Admission), and registers them for db's index notifications
// (store.IndexWatcher); call it before db is used concurrently.
func New(db *store.DB, now func() time.Time, limit int) *Sets {
	s := &Sets{db: db, now: now, cache: cache{m: map[item.Scope]*entry{}}, limit: limit, full: map[item.Scope]bool{}}
	db.OnIndexed(&s.cache)
	return s
}

// Get returns the set a session reconciles in sc now. The set is never
// modified afterwards: a session may read it while the store grows.
func (s *Sets) Get(sc item.Scope) (*recon.MemSet, error) {
	now := s.now()
	return s.cache.get(sc, now, func() ([]recon.ID, []item.Expiry, error) {
		expired, ahead, err := s.expiries(now)
		if err != nil {
			return nil, nil, err
		}
		var ids []recon.ID
		err = s.db.ScopeIDs(sc, func(id item.ID) error {
			if !expired[id] {
				ids = append(ids, recon.ID(id))
			}
			return nil
		})
		return ids, ahead, err
	})
}

// Forget drops scopes' sets (those of a removed peer); a later session
// reads them afresh.
func (s *Sets) Forget(scopes ...item.Scope) { s.cache.forget(scopes...) }

// Put stores entries whose items expire as exp says. The expiry index is
// written first: a stop between the two writes then leaves at worst an
// index entry for an item never stored, which is harmless, never a stored
// IOC offered for ever. The cached sets hear of the expiries once the items
// are in.
func (s *Sets) Put(entries []store.Entry, exp []item.Expiry) (added int, err error) {
	return s.PutWith(entries, exp, s.db.PutItems)
}

// PutWith is Put with the store's write given: PutItems, or PutItemsAtomic
// for a batch that must commit whole (an import's, with its record).
func (s *Sets) PutWith(entries []store.Entry, exp []item.Expiry, put func([]store.Entry) (int, error)) (added int, err error) {
	if len(exp) > 0 {
		err := s.db.Update(func(tx *store.Tx) error {
			for _, e := range exp {
				k := binary.BigEndian.AppendUint64(nil, uint64(max(e.Until.UnixMilli(), 0)))
				if err := tx.Put(bucketExpiry, append(k, e.ID[:]...), nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	if added, err = put(entries); err != nil {
		return added, err
	}
	s.cache.expiring(exp)
	return added, nil
}

// expiries reads the expiry index: the items expired at now, and the
// expiries still ahead.
func (s *Sets) expiries(now time.Time) (expired map[item.ID]bool, ahead []item.Expiry, err error) {
	expired = map[item.ID]bool{}
	limit := now.UnixMilli()
	err = s.db.View(func(tx *store.Tx) error {
		return tx.ScanKeys(bucketExpiry, nil, func(k []byte) error {
			if len(k) != 8+len(item.ID{}) {
				return nil
			}
			t, id := int64(binary.BigEndian.Uint64(k[:8])), item.ID(k[8:])
			if t > limit {
				ahead = append(ahead, item.Expiry{ID: id, Until: time.UnixMilli(t)})
			} else {
				expired[id] = true
			}
			return nil
		})
	})
	return expired, ahead, err
}
