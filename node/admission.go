package node

import (
	"errors"
	"fmt"
	"slices"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recon"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/wire"
)

// Admission decides whether an item that belongs in a scope may be added
// to it here (docs/protocol.md §10.4): a collection admits the authors its
// policy names, and no scope grows past the node's ScopeLimit. Anyone may
// sign items, so without these a flood of valid items from throwaway keys,
// which are permanent once stored (tombstones too), would push a shared
// scope past what a session reconciles (syncproto.MaxScopeItems), and that
// scope would stop syncing everywhere. With them a full scope refuses new
// items with a clear status, and keeps syncing what it holds. The trust
// service's quotas per source will build on this.

// ErrScopeFull is the refusal of an item for a scope at its limit.
var ErrScopeFull = errors.New("node: the scope is full")

// ErrNotWriter is the refusal of an item whose author the collection's
// policy does not admit.
var ErrNotWriter = errors.New("node: the author may not write to this collection")

// Writers is a collection's policy for who may add indicators to it here.
type Writers struct {
	// Mode is WritersAnyone (the default), WritersPeers (our peers and us)
	// or WritersListed (Authors and us).
	Mode    string        `json:"mode"`
	Authors []identity.ID `json:"authors,omitempty"`
}

// Writers modes.
const (
	WritersAnyone = "anyone"
	WritersPeers  = "peers"
	WritersListed = "listed"
)

// wireWriters is a collection's stored policy (bucketCollection's value;
// empty means anyone).
type wireWriters struct {
	Mode    uint     `cbor:"1,keyasint,omitempty"` // 0 anyone, 1 peers, 2 listed
	Authors [][]byte `cbor:"2,keyasint,omitempty"`
}

var writersModes = []string{WritersAnyone, WritersPeers, WritersListed}

// SetCollectionWriters sets who may add to a collection here. It applies
// to items that arrive from now on; what is stored stays.
func (n *Node) SetCollectionWriters(name string, w Writers) error {
	if err := checkCollection(name); err != nil {
		return err
	}
	mode := slices.Index(writersModes, w.Mode)
	if mode < 0 {
		return fault.Invalidf("the modes are anyone, peers and listed", "unknown writers mode %q", w.Mode)
	}
	if (mode == 2) != (len(w.Authors) > 0) {
		return fault.Invalidf("list authors with the listed mode only, and at least one", "writers mode %s with %d authors", w.Mode, len(w.Authors))
	}
	ww := wireWriters{Mode: uint(mode)}
	for _, a := range w.Authors {
		ww.Authors = append(ww.Authors, a.Bytes())
	}
	v, err := wire.Marshal(ww)
	if err != nil {
		return err
	}
	if mode == 0 {
		v = nil
	}
	return n.db.Update(func(tx *store.Tx) error { return tx.Put(bucketCollection, []byte(name), v) })
}

// CollectionWriters returns a collection's policy.
func (n *Node) CollectionWriters(name string) (Writers, error) {
	var v []byte
	err := n.db.View(func(tx *store.Tx) error {
		b, err := tx.Get(bucketCollection, []byte(name))
		v = b
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return Writers{Mode: WritersAnyone}, nil
	} else if err != nil {
		return Writers{}, err
	}
	return decodeWriters(v)
}

func decodeWriters(v []byte) (Writers, error) {
	if len(v) == 0 {
		return Writers{Mode: WritersAnyone}, nil
	}
	var ww wireWriters
	if err := wire.Unmarshal(v, &ww); err != nil || ww.Mode >= uint(len(writersModes)) {
		return Writers{}, fmt.Errorf("node: a collection's stored policy does not decode (%v); set it again", err)
	}
	w := Writers{Mode: writersModes[ww.Mode]}
	for _, b := range ww.Authors {
		id, err := identity.NewID(b)
		if err != nil {
			return Writers{}, fmt.Errorf("node: a collection's stored policy names a bad author: %v", err)
		}
		w.Authors = append(w.Authors, id)
	}
	return w, nil
}

// admission checks a batch of items against the policies and limits. It
// counts what it admits, so one batch cannot overshoot a limit.
type admission struct {
	n       *Node
	sets    map[item.Scope]*recon.MemSet
	room    map[item.Scope]int
	writers map[item.Space]*Writers // nil: not a collection of ours
}

func (n *Node) admission() *admission {
	a := &admission{n: n, sets: map[item.Scope]*recon.MemSet{}, room: map[item.Scope]int{}, writers: map[item.Space]*Writers{}}
	for _, name := range n.collections() {
		if w, err := n.CollectionWriters(name); err == nil {
			a.writers[item.CollectionSpace(name)] = &w
		} else {
			n.log.Warn("a collection's policy is unreadable; it admits only us until set again", "collection", name, "err", err)
			a.writers[item.CollectionSpace(name)] = &Writers{Mode: WritersListed}
		}
	}
	return a
}

// admit reports whether it may join the scopes; if so it counts it in them.
func (a *admission) admit(it *item.Item, scopes []item.Scope) error {
	n := a.n
	if w := a.writers[it.Space()]; w != nil && it.Author() != n.id {
		switch w.Mode {
		case WritersPeers:
			if !n.isPeer(it.Author()) {
				return fmt.Errorf("%w (it admits our peers only)", ErrNotWriter)
			}
		case WritersListed:
			if !slices.Contains(w.Authors, it.Author()) {
				return fmt.Errorf("%w (it admits listed authors only)", ErrNotWriter)
			}
		}
	}
	var grow []item.Scope // the scopes it would be new in
	for _, sc := range scopes {
		set, ok := a.sets[sc]
		if !ok {
			var err error
			if set, err = n.scopeSet(sc); err != nil {
				return err
			}
			a.sets[sc], a.room[sc] = set, n.cfg.ScopeLimit-set.Len()
		}
		if set.Contains(recon.ID(it.ID())) {
			continue
		}
		grow = append(grow, sc)
		if a.room[sc] <= 0 {
			n.noteFull(sc)
			return fmt.Errorf("%w (%d items, the limit)", ErrScopeFull, n.cfg.ScopeLimit)
		}
	}
	for _, sc := range grow {
		a.room[sc]--
	}
	return nil
}

// noteFull records that a scope refused an item for its limit, for status.
func (n *Node) noteFull(sc item.Scope) {
	n.mu.Lock()
	n.fullScopes[sc] = true
	n.mu.Unlock()
}

// FullScope is a scope at its limit, as status shows it.
type FullScope struct {
	Collection string `json:"collection,omitempty"` // empty for a pair scope
	Class      string `json:"class"`
	Limit      int    `json:"limit"`
}

// fullScopes describes the scopes that refused items for their limit.
func (n *Node) describeFull() []FullScope {
	n.mu.Lock()
	full := make(map[item.Scope]bool, len(n.fullScopes))
	for sc := range n.fullScopes {
		full[sc] = true
	}
	n.mu.Unlock()
	var out []FullScope
	for _, name := range n.collections() {
		sp := item.CollectionSpace(name)
		for _, class := range []string{item.ClassPublic, item.ClassTrusted} {
			if sc := item.ScopeOf(sp, class); full[sc] {
				out = append(out, FullScope{Collection: name, Class: class, Limit: n.cfg.ScopeLimit})
				delete(full, sc)
			}
		}
	}
	for range full {
		out = append(out, FullScope{Class: "pair or restricted", Limit: n.cfg.ScopeLimit})
	}
	return out
}
