package scopeset

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recon"
)

// cache holds, per scope, the set last handed out and what changed since.
//
// The store reports every ID it indexes (store.OnIndexed) and Sets.Put every
// expiry it records; both wait in the entry until the
// next session asks, which merges them into a new set (recon.MemSet.With,
// Without). Sets handed out are never modified, so sessions read them while
// the store grows. A set leaves out IOCs expired at the time it was made
// (docs/ioc.md §8): the build leaves out those expired then and remembers
// when the others expire, and every later expiry is noted as it is
// recorded, so an expiry costs the removal of one ID, not a new read.
//
// One session at a time builds or merges an entry; others wait for it and
// then look again. None of that work runs under mu, which the store's
// callback takes while the store holds its own locks.
type cache struct {
	mu sync.Mutex
	m  map[item.Scope]*entry
}

type entry struct {
	set      *recon.MemSet         // nil until the first build is done
	pending  map[recon.ID]struct{} // indexed since set was made
	expiries []item.Expiry         // of IDs in set or pending (any, while busy or unbuilt)
	next     time.Time             // the earliest of expiries; zero if none
	made     time.Time             // the clock when set was made: going back means rebuild
	busy     chan struct{}         // closed when the session building or merging is done
}

// maxPending bounds the IDs waiting for a scope nobody asks for: past it the
// entry is dropped, and the next session reads the scope afresh (which costs
// no more than merging that many).
func maxPending(setLen int) int { return max(1<<14, setLen) }

// Indexed hears from the store (store.IndexWatcher) which IDs joined s.
func (c *cache) Indexed(s item.Scope, ids []item.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[s]
	if e == nil {
		return // not cached: the next session reads the store
	}
	for _, id := range ids {
		e.pending[recon.ID(id)] = struct{}{}
	}
	if e.set != nil && e.busy == nil && len(e.pending) > maxPending(e.set.Len()) {
		delete(c.m, s)
	}
}

// Unindexed hears from the store which IDs left s (deleted by their
// authors' tombstones, which are rare): the entry is dropped, and the next
// session reads the scope afresh. A session holding the old set may offer
// a deleted ID; the store no longer serves it in s (store.ScopeItem).
func (c *cache) Unindexed(s item.Scope, _ []item.ID) { c.forget(s) }

// expiring notes IOC expiries as they are recorded. An entry keeps those of
// its IDs; while it is being built or merged, when its IDs are not yet
// known, it keeps them all and sorts them out when the work is done.
func (c *cache) expiring(exp []item.Expiry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.m {
		for _, x := range exp {
			if e.busy != nil || e.set == nil || e.holds(recon.ID(x.ID)) {
				e.note(x)
			}
		}
	}
}

func (e *entry) note(x item.Expiry) {
	e.expiries = append(e.expiries, x)
	if e.next.IsZero() || x.Until.Before(e.next) {
		e.next = x.Until
	}
}

func (e *entry) holds(id recon.ID) bool {
	_, ok := e.pending[id]
	return ok || e.set.Contains(id)
}

// forget drops scopes' sets (those of a removed peer); a later session
// reads them afresh.
func (c *cache) forget(scopes ...item.Scope) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range scopes {
		delete(c.m, s)
	}
}

// get returns the scope's set at now. build reads the scope from the store:
// the IDs of items not expired at now, and the expiries of those that will.
func (c *cache) get(s item.Scope, now time.Time, build func() ([]recon.ID, []item.Expiry, error)) (*recon.MemSet, error) {
	for {
		c.mu.Lock()
		e := c.m[s]
		if e == nil || (e.set != nil && now.Before(e.made)) {
			// A fresh entry collects what is indexed from now on; what was
			// indexed before is in the store the build reads.
			e = &entry{pending: map[recon.ID]struct{}{}}
			c.m[s] = e
		}
		if busy := e.busy; busy != nil {
			c.mu.Unlock()
			<-busy
			continue
		}
		due := !e.next.IsZero() && !now.Before(e.next)
		if e.set != nil && len(e.pending) == 0 && !due {
			set := e.set
			c.mu.Unlock()
			return set, nil
		}
		// This session does the work, outside the lock.
		done := make(chan struct{})
		e.busy = done
		base, pending, noted := e.set, e.pending, slices.Clone(e.expiries)
		e.pending = map[recon.ID]struct{}{}
		c.mu.Unlock()

		set, kept, err := merge(base, pending, noted, now, build)

		c.mu.Lock()
		e.busy = nil
		close(done)
		if err != nil {
			if c.m[s] == e {
				delete(c.m, s) // what it took is lost to it: read afresh next time
			}
			c.mu.Unlock()
			return nil, err
		}
		// Expiries noted during the work were kept whatever their ID: keep
		// those of ours. Any already due leave at the next call.
		during := e.expiries[len(noted):]
		e.set, e.made, e.expiries, e.next = set, now, nil, time.Time{}
		for _, x := range slices.Concat(kept, during) {
			if e.holds(recon.ID(x.ID)) {
				e.note(x)
			}
		}
		c.mu.Unlock()
		return set, nil
	}
}

// merge makes the new set: base (or, if nil, the scope built from the
// store) with the pending IDs and without those whose expiry is due at now.
// It returns the expiries still ahead.
func merge(base *recon.MemSet, pending map[recon.ID]struct{}, noted []item.Expiry, now time.Time, build func() ([]recon.ID, []item.Expiry, error)) (*recon.MemSet, []item.Expiry, error) {
	if base == nil {
		ids, built, err := build()
		if err != nil {
			return nil, nil, err
		}
		base, noted = recon.NewMemSet(ids), append(built, noted...)
	}
	set := base.With(slices.Collect(maps.Keys(pending)))
	var drop []recon.ID
	var kept []item.Expiry
	for _, x := range noted {
		if x.Until.After(now) {
			kept = append(kept, x)
		} else {
			drop = append(drop, recon.ID(x.ID))
		}
	}
	return set.Without(drop), kept, nil
}
