package node

import (
	"sync"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/store"
)

// Items a peer sends dated a little past our clock's limit (item.Verify's
// MaxFutureSkew) are most often honest: the author's clock runs ahead, ours
// behind, and the item was inside the author's limit. Refusing them would
// only make the peer offer them again at every sync; ending the session, as
// before, lost every other item with them. So they wait here, in memory,
// and are stored once our clock allows (docs/protocol.md §5.4, §10.3).
// Memory is bounded by count and bytes; what does not fit, or is dated too
// far ahead, is refused and comes back with a later sync.
const (
	maxFutureItems = 256
	maxFutureBytes = 4 << 20
	// maxFutureWait is how far past the limit an item may be to wait.
	maxFutureWait = 10 * time.Minute
)

// futureItems is the node's waiting room for such items.
type futureItems struct {
	mu    sync.Mutex
	m     map[item.ID]futureItem
	bytes int
}

type futureItem struct {
	it   *item.Item
	sc   item.Scope // the scope it came in (it was checked to belong there)
	peer identity.ID
}

// due is when an item becomes acceptable to a clock: its creation time
// minus the allowed skew.
func due(it *item.Item) time.Time { return it.Created().Add(-item.MaxFutureSkew) }

// hold keeps it if it fits; it reports whether it did.
func (f *futureItems) hold(peer identity.ID, it *item.Item, sc item.Scope, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if due(it).After(now.Add(maxFutureWait)) || len(f.m) >= maxFutureItems || f.bytes+it.Size() > maxFutureBytes {
		return false
	}
	if f.m == nil {
		f.m = map[item.ID]futureItem{}
	}
	if _, ok := f.m[it.ID()]; !ok {
		f.m[it.ID()] = futureItem{it, sc, peer}
		f.bytes += it.Size()
	}
	return true
}

// next returns when the earliest held item becomes due (zero if none).
func (f *futureItems) next() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	var t time.Time
	for _, x := range f.m {
		if d := due(x.it); t.IsZero() || d.Before(t) {
			t = d
		}
	}
	return t
}

// retry stores the held items due at now that still belong where they came
// (the peer may have been removed meanwhile).
func (f *futureItems) retry(n *Node, now time.Time) {
	f.mu.Lock()
	var ready []futureItem
	for id, x := range f.m {
		if !due(x.it).After(now) {
			ready = append(ready, x)
			delete(f.m, id)
			f.bytes -= x.it.Size()
		}
	}
	f.mu.Unlock()
	for _, x := range ready {
		if x.it.Verify(now) != nil || !n.isPeer(x.peer) || !n.scopeCheck(x.peer, x.sc)(x.it) || n.keys.Admit(x.it) != nil {
			continue
		}
		entries := []store.Entry{{Item: x.it, Scopes: []item.Scope{x.sc}}}
		if err := n.storeReceived(x.peer, entries, []*item.Item{x.it}); err != nil {
			n.log.Warn("storing an item that waited for our clock failed; a later sync brings it again", "err", err)
			continue
		}
		n.pushToAll(entries)
	}
}
