package item

import (
	"cmp"
	"slices"

	"github.com/ghostwire/ghostwire/identity"
)

// Version is what last-writer-wins compares (docs/protocol.md §5.5): an
// item's creation time, then its ID. Both are fixed by the item's bytes, so
// every peer that holds the same items picks the same winner, whatever order
// the items arrived in.
type Version struct {
	Created uint64 // Unix milliseconds
	ID      ID
}

// VersionOf returns it's version.
func VersionOf(it *Item) Version { return Version{Created: it.created, ID: it.id} }

// Compare orders versions: the later creation time is greater; at equal
// times the larger ID (bytewise) is greater. It is 0 only for the same item.
func (v Version) Compare(o Version) int {
	if c := cmp.Compare(v.Created, o.Created); c != 0 {
		return c
	}
	return v.ID.Compare(o.ID)
}

// Newer reports whether v wins over o.
func (v Version) Newer(o Version) bool { return v.Compare(o) > 0 }

// Key is a logical key: items with the same Key are versions of one value and
// the newest live one wins. The author is part of every key, so no one can
// supersede someone else's value; Name is chosen by the kind's own rules
// (for example a rating's subject) and may be empty.
type Key struct {
	Author identity.ID
	Kind   Kind
	Space  Space
	Name   string
}

// Resolver applies last-writer-wins over the live versions of each key. A
// version removed by a tombstone no longer competes, so deleting the winner
// makes the newest remaining version win. The zero value is ready to use; a
// Resolver is not safe for concurrent use.
type Resolver struct {
	live map[Key][]Version // each slice sorted ascending, no duplicates
}

// Add records a live version of k. Adding the same version again is a no-op.
// It reports whether v is now k's winner.
func (r *Resolver) Add(k Key, v Version) bool {
	if r.live == nil {
		r.live = make(map[Key][]Version)
	}
	vs := r.live[k]
	i, found := slices.BinarySearchFunc(vs, v, Version.Compare)
	if !found {
		vs = slices.Insert(vs, i, v)
		r.live[k] = vs
	}
	return vs[len(vs)-1] == v
}

// Remove forgets version id of k (it was deleted) and reports whether it was
// known.
func (r *Resolver) Remove(k Key, id ID) bool {
	vs := r.live[k]
	i := slices.IndexFunc(vs, func(v Version) bool { return v.ID == id })
	if i < 0 {
		return false
	}
	vs = slices.Delete(vs, i, i+1)
	if len(vs) == 0 {
		delete(r.live, k)
	} else {
		r.live[k] = vs
	}
	return true
}

// Winner returns k's newest live version, or false if k has none.
func (r *Resolver) Winner(k Key) (Version, bool) {
	vs := r.live[k]
	if len(vs) == 0 {
		return Version{}, false
	}
	return vs[len(vs)-1], true
}
