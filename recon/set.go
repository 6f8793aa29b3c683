package recon

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"iter"
	"slices"
	"sync"
)

// IDSize is the size of a reconciled ID.
const IDSize = 32

// ID is an element of a reconciled set, normally an item ID (a SHA-256).
// The protocol relies on IDs being uniformly distributed, which hashes are.
type ID [IDSize]byte

// String returns the ID in hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Compare orders IDs bytewise.
func (id ID) Compare(o ID) int { return bytes.Compare(id[:], o[:]) }

// Digest is the SHA-256 set digest, docs/protocol.md §6.2.
type Digest [32]byte

// digestLabel domain-separates the set digest (§6.2).
const digestLabel = "ghostwire recon set v1\x00"

// SketchSize is the encoded size of a Sketch on the wire (§6.3).
const SketchSize = 2 * sketchBits

const sketchBits = 256

// Sketch holds, for each of the 256 bit positions of an ID, how many IDs of
// the set have that bit set. It is the difference estimator of §6.3 and can
// be kept up to date as IDs come and go.
type Sketch [sketchBits]uint32

// Set is what reconciliation reads of a set of IDs. The sync engine backs it
// with the store; MemSet is an in-memory implementation that caches what is
// costly. Implementations need not be safe for concurrent mutation, but the
// set must not change while a reconciliation over it runs.
type Set interface {
	// Len returns the number of IDs.
	Len() int
	// Digest returns the set digest of §6.2.
	Digest() Digest
	// Sketch returns the set's sketch (§6.3).
	Sketch() Sketch
	// Symbols fills dst with the set's coded symbols start, start+1, … (§6.4).
	Symbols(dst []Symbol, start uint64)
	// Contains reports whether id is in the set.
	Contains(id ID) bool
	// All yields the IDs in ascending order.
	All() iter.Seq[ID]
}

// DigestOf computes the §6.2 digest of ids, which must be ascending and
// distinct.
func DigestOf(n int, ids iter.Seq[ID]) Digest {
	h := sha256.New()
	h.Write([]byte(digestLabel))
	var nb [8]byte
	binary.BigEndian.PutUint64(nb[:], uint64(n))
	h.Write(nb[:])
	for id := range ids {
		h.Write(id[:])
	}
	var d Digest
	h.Sum(d[:0])
	return d
}

// MemSet is an immutable in-memory Set over a sorted slice. It caches the
// digest and a prefix of coded symbols (up to MaxCachedSymbols), and With
// derives a grown set that carries the sketch and the symbols over, so
// repeated reconciliations of a large, slowly growing set cost little.
// Methods are safe for concurrent use.
type MemSet struct {
	ids    []ID // ascending, distinct
	sketch Sketch

	mu      sync.Mutex // guards the caches below, filled lazily by readers
	digest  *Digest
	symbols []Symbol // coded symbols [0, len(symbols))
}

// MaxCachedSymbols bounds MemSet's symbol cache: 2^18 symbols, 10 MiB,
// enough for about 100k differences. Longer requests are computed directly.
const MaxCachedSymbols = 1 << 18

// NewMemSet returns a set of the given IDs (copied; duplicates dropped).
func NewMemSet(ids []ID) *MemSet {
	s := &MemSet{ids: slices.Clone(ids)}
	slices.SortFunc(s.ids, ID.Compare)
	s.ids = slices.Compact(s.ids)
	s.sketch = sketchOf(s.ids)
	return s
}

func sketchOf(ids []ID) Sketch {
	// Count byte values per position, then spread to bits: 32 increments per
	// ID instead of 256.
	var byPos [IDSize][256]uint32
	for i := range ids {
		for p, b := range ids[i] {
			byPos[p][b]++
		}
	}
	var sk Sketch
	for p := range byPos {
		for v, c := range byPos[p] {
			if c == 0 {
				continue
			}
			for bit := range 8 {
				if v>>(7-bit)&1 == 1 {
					sk[p*8+bit] += c
				}
			}
		}
	}
	return sk
}

func (sk *Sketch) update(id *ID, delta uint32) {
	for j := range sketchBits {
		if id[j/8]>>(7-j%8)&1 == 1 {
			sk[j] += delta
		}
	}
}

// Len returns the number of IDs.
func (s *MemSet) Len() int { return len(s.ids) }

// Contains reports whether id is in the set.
func (s *MemSet) Contains(id ID) bool {
	_, ok := slices.BinarySearchFunc(s.ids, id, ID.Compare)
	return ok
}

// All yields the IDs in ascending order.
func (s *MemSet) All() iter.Seq[ID] { return slices.Values(s.ids) }

// Sketch returns the set's sketch.
func (s *MemSet) Sketch() Sketch { return s.sketch }

// Digest returns the set digest, computing it once.
func (s *MemSet) Digest() Digest {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.digest == nil {
		d := DigestOf(len(s.ids), s.All())
		s.digest = &d
	}
	return *s.digest
}

// Symbols fills dst with coded symbols from start on, from the cache when the
// range fits under MaxCachedSymbols (growing the cache by doubling).
func (s *MemSet) Symbols(dst []Symbol, start uint64) {
	end := start + uint64(len(dst))
	if end > MaxCachedSymbols {
		computeSymbols(slices.Values(s.ids), dst, start)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if uint64(len(s.symbols)) < end {
		n := max(uint64(1024), uint64(len(s.symbols)))
		for n < end {
			n *= 2
		}
		n = min(n, MaxCachedSymbols)
		s.symbols = make([]Symbol, n)
		computeSymbols(slices.Values(s.ids), s.symbols, 0)
	}
	copy(dst, s.symbols[start:end])
}

// Warm fills the symbol cache up to n symbols (at most MaxCachedSymbols) and
// the digest, so that the next reconciliation pays no set-sized cost.
func (s *MemSet) Warm(n int) {
	n = min(n, MaxCachedSymbols)
	if n > 0 {
		s.Symbols(make([]Symbol, 1), uint64(n-1))
	}
	s.Digest()
}

// With returns the set of s's IDs and ids, leaving s as it is: a
// reconciliation reading s is not disturbed, and s can be handed to several
// sessions while the store keeps growing. It costs one merge, O(n + k log k),
// plus, per new ID, a sketch update and a toggle of the cached symbols it
// touches (carried over, not recomputed); the digest is recomputed on first
// use. With returns s itself when ids adds nothing.
func (s *MemSet) With(ids []ID) *MemSet {
	add := slices.Clone(ids)
	slices.SortFunc(add, ID.Compare)
	add = slices.Compact(add)
	merged := make([]ID, 0, len(s.ids)+len(add))
	var fresh []ID
	i := 0
	for _, id := range add {
		for i < len(s.ids) && s.ids[i].Compare(id) < 0 {
			merged = append(merged, s.ids[i])
			i++
		}
		if i < len(s.ids) && s.ids[i] == id {
			continue
		}
		merged = append(merged, id)
		fresh = append(fresh, id)
	}
	if len(fresh) == 0 {
		return s
	}
	merged = append(merged, s.ids[i:]...)
	return s.derive(merged, fresh, 1)
}

// Without returns the set of s's IDs but ids, leaving s as it is, at the
// cost of With (XOR undoes itself: each removed ID toggles the cached
// symbols it touches). It returns s itself when ids removes nothing.
func (s *MemSet) Without(ids []ID) *MemSet {
	gone := slices.Clone(ids)
	slices.SortFunc(gone, ID.Compare)
	gone = slices.Compact(gone)
	kept := make([]ID, 0, len(s.ids))
	var removed []ID
	j := 0
	for _, id := range s.ids {
		for j < len(gone) && gone[j].Compare(id) < 0 {
			j++
		}
		if j < len(gone) && gone[j] == id {
			removed = append(removed, id)
			continue
		}
		kept = append(kept, id)
	}
	if len(removed) == 0 {
		return s
	}
	return s.derive(kept, removed, ^uint32(0))
}

// derive returns the set over ids, which are s's IDs with changed added
// (delta 1) or removed (delta -1): the sketch and the cached symbols are
// carried over and updated, the digest recomputed on first use.
func (s *MemSet) derive(ids, changed []ID, delta uint32) *MemSet {
	t := &MemSet{ids: ids, sketch: s.sketch}
	s.mu.Lock()
	t.symbols = slices.Clone(s.symbols)
	s.mu.Unlock()
	for k := range changed {
		t.sketch.update(&changed[k], delta)
		toggle(t.symbols, 0, &changed[k])
	}
	return t
}
