package node

import (
	"sync"
	"time"

	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recon"
	"github.com/ghostwire/ghostwire/store"
)

// scopeSets caches, per scope, the set of IDs the sync engine reconciles,
// so that a session over a large scope costs what reconciliation costs and
// not a read of the whole scope from the store: at a million IDs that read
// took 2.6 s of CPU and 32 MB per session. The store reports every ID it
// indexes (store.OnIndexed); they wait in pending until the next session
// asks, which merges them once (recon.MemSet.With) into a new set. Sets
// handed out are never modified, so sessions may read them while the store
// grows. A set leaves out the IOCs expired when it was built (docs/ioc.md
// §8); it is rebuilt from the store once the earliest later expiry passes.
type scopeSets struct {
	mu sync.Mutex
	m  map[store.Scope]*scopeSet
}

type scopeSet struct {
	set     *recon.MemSet // nil while the first build reads the store
	pending []recon.ID    // indexed since set was made
	expires time.Time     // rebuild from then on; zero: no expiry ahead
}

// maxPending bounds the IDs waiting for a scope nobody asks for: past it the
// entry is dropped, and the next session reads the scope afresh (which costs
// no more than merging that many).
func maxPending(setLen int) int { return max(1<<14, setLen) }

// indexed is the store's OnIndexed callback.
func (c *scopeSets) indexed(s store.Scope, ids []item.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[s]
	if e == nil {
		return // not cached: the next session reads the store
	}
	for _, id := range ids {
		e.pending = append(e.pending, recon.ID(id))
	}
	if e.set != nil && len(e.pending) > maxPending(e.set.Len()) {
		delete(c.m, s)
	}
}

// forget drops a scope's set (the pair scope of a removed peer); a later
// session reads it afresh.
func (c *scopeSets) forget(s store.Scope) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, s)
}

// expiring notes that an IOC stops being offered at t: every cached set
// that may hold it must be rebuilt then (at once if t has passed).
func (c *scopeSets) expiring(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.m {
		if e.expires.IsZero() || t.Before(e.expires) {
			e.expires = t
		}
	}
}

// get returns the scope's set at now. build reads the scope from the store
// and returns the next expiry after now; it runs when the set is not cached
// or has expired. live drops IOCs expired at now from IDs indexed since.
// Neither runs under c.mu: the store calls indexed while it holds its own
// locks, so c.mu must never wait for the store.
func (c *scopeSets) get(s store.Scope, now time.Time, build func() ([]recon.ID, time.Time, error), live func([]recon.ID) ([]recon.ID, error)) (*recon.MemSet, error) {
	c.mu.Lock()
	e := c.m[s]
	if e == nil || (!e.expires.IsZero() && !now.Before(e.expires)) {
		// A fresh entry collects what is indexed from now on; what was
		// indexed before is in the store the build reads.
		e = &scopeSet{}
		c.m[s] = e
	}
	if e.set != nil && len(e.pending) == 0 {
		set := e.set
		c.mu.Unlock()
		return set, nil
	}
	pending, needBuild := e.pending, e.set == nil
	e.pending = nil
	c.mu.Unlock()

	var built *recon.MemSet
	var next time.Time
	add, err := live(pending)
	if err == nil && needBuild {
		var ids []recon.ID
		ids, next, err = build()
		built = recon.NewMemSet(ids)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if c.m[s] == e {
			delete(c.m, s) // the taken IDs are lost to it: read afresh next time
		}
		return nil, err
	}
	if e.set == nil { // another session's build may have finished first
		e.set = built
	}
	e.set = e.set.With(add)
	if !next.IsZero() && (e.expires.IsZero() || next.Before(e.expires)) {
		e.expires = next
	}
	return e.set, nil
}
