package node

import (
	"fmt"
	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recon"
)

// Limits (docs/protocol.md §10.4): no scope grows past the node's
// ScopeLimit. Anyone may sign items, and stored items are permanent
// (tombstones too), so without it a flood of valid items from throwaway
// keys would push a shared scope past what a session reconciles
// (syncproto.MaxScopeItems), and that scope would stop syncing everywhere.
// With it a full scope refuses new items with a clear status, and keeps
// syncing what it holds. Who may write to a collection at all is the
// collection service's policy (collection/writers.go); the trust service's
// quotas per source will build on both.

// admission checks a batch of items against the limits. It counts what it
// admits, so one batch cannot overshoot a limit.
type admission struct {
	n    *Node
	sets map[item.Scope]*recon.MemSet
	room map[item.Scope]int
}

func (n *Node) admission() *admission {
	return &admission{n: n, sets: map[item.Scope]*recon.MemSet{}, room: map[item.Scope]int{}}
}

// admit reports whether it may join the scopes; if so it counts it in them.
func (a *admission) Admit(it *item.Item, scopes []item.Scope) error {
	n := a.n
	var grow []item.Scope // the scopes it would be new in
	for _, sc := range scopes {
		set, ok := a.sets[sc]
		if !ok {
			var err error
			if set, err = n.sets.Get(sc); err != nil {
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
			return &fault.Error{Kind: fault.Full, Msg: fmt.Sprintf("the scope is full (%d items, the limit)", n.cfg.ScopeLimit)}
		}
	}
	for _, sc := range grow {
		a.room[sc]--
	}
	return nil
}

// noteFull records that a scope refused an item for its limit, for status.
func (n *Node) noteFull(sc item.Scope) {
	n.st.mu.Lock()
	n.st.fullScopes[sc] = true
	n.st.mu.Unlock()
}

// fullScopes describes the scopes that refused items for their limit.
func (n *Node) describeFull() []FullScope {
	n.st.mu.Lock()
	full := make(map[item.Scope]bool, len(n.st.fullScopes))
	for sc := range n.st.fullScopes {
		full[sc] = true
	}
	n.st.mu.Unlock()
	var out []FullScope
	for _, name := range n.coll.Names() {
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
