package scopeset

import (
	"fmt"
	"slices"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recon"
)

// Limits (docs/protocol.md §10.4): no scope grows past the node's limit.
// Anyone may sign items, and stored items are permanent (tombstones too),
// so without it a flood of valid items from throwaway keys would push a
// shared scope past what a session reconciles (syncproto.MaxScopeItems),
// and that scope would stop syncing everywhere. With it a full scope
// refuses new items with a clear status, and keeps syncing what it holds.
// Who may write to a collection at all is the collection service's policy
// (collection/writers.go); the trust service's quotas per source will
// build on both.

// Admission checks a batch of items against the limit. It counts what it
// admits, so one batch cannot overshoot the limit.
type Admission struct {
	s    *Sets
	sets map[item.Scope]*recon.MemSet
	room map[item.Scope]int
}

// Admission starts checking a batch.
func (s *Sets) Admission() *Admission {
	return &Admission{s: s, sets: map[item.Scope]*recon.MemSet{}, room: map[item.Scope]int{}}
}

// Admit reports whether it may join the scopes; if so it counts it in them.
// A refusal is a fault.Full, and the scope is remembered as full (Full).
func (a *Admission) Admit(it *item.Item, scopes []item.Scope) error {
	var grow []item.Scope // the scopes it would be new in
	for _, sc := range scopes {
		set, ok := a.sets[sc]
		if !ok {
			var err error
			if set, err = a.s.Get(sc); err != nil {
				return err
			}
			a.sets[sc], a.room[sc] = set, a.s.limit-set.Len()
		}
		if set.Contains(recon.ID(it.ID())) {
			continue
		}
		grow = append(grow, sc)
		if a.room[sc] <= 0 {
			a.s.fullMu.Lock()
			a.s.full[sc] = true
			a.s.fullMu.Unlock()
			return &fault.Error{Kind: fault.Full, Msg: fmt.Sprintf("the scope is full (%d items, the limit)", a.s.limit)}
		}
	}
	for _, sc := range grow {
		a.room[sc]--
	}
	return nil
}

// Limit is the most items a scope admits.
func (s *Sets) Limit() int { return s.limit }

// Full lists the scopes that have refused an item for the limit since the
// node started, in no set order.
func (s *Sets) Full() []item.Scope {
	s.fullMu.Lock()
	defer s.fullMu.Unlock()
	out := make([]item.Scope, 0, len(s.full))
	for sc := range s.full {
		out = append(out, sc)
	}
	slices.SortFunc(out, func(a, b item.Scope) int { return slices.Compare(a[:], b[:]) })
	return out
}
