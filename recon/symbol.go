package recon

import (
	"encoding/binary"
	"iter"
	"math"
)

// SymbolSize is a coded symbol's size on the wire (§6.4): the XOR of the IDs
// mapped to it and the XOR of their 64-bit checksums.
const SymbolSize = IDSize + 8

// Symbol is one rateless IBLT coded symbol (§6.4). The zero value is the
// symbol of no IDs.
type Symbol struct {
	Sum   ID
	Check uint64
}

func (s *Symbol) xor(id *ID, check uint64) {
	for i := range s.Sum {
		s.Sum[i] ^= id[i]
	}
	s.Check ^= check
}

func (s *Symbol) isZero() bool { return *s == Symbol{} }

// mix64 is the SplitMix64 finalizer (Steele, Lea, Flood 2014): a
// well-known non-cryptographic bijection with full avalanche. Its
// multiplications make the checksum non-linear over XOR, which is what tells
// a symbol holding one ID from a symbol holding several.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// Seeds of the two derived values, §6.4.
const (
	checkSeed   = 0x6768_6f73_7477_6972 // "ghostwir"
	mappingSeed = 0x7265_636f_6e20_7631 // "recon v1"
)

func words(id *ID) (a, b, c, d uint64) {
	return binary.LittleEndian.Uint64(id[0:]), binary.LittleEndian.Uint64(id[8:]),
		binary.LittleEndian.Uint64(id[16:]), binary.LittleEndian.Uint64(id[24:])
}

// checksum is an ID's 64-bit checksum, §6.4.
func checksum(id *ID) uint64 {
	a, b, c, d := words(id)
	return mix64(a ^ mix64(b^mix64(c^mix64(d^checkSeed))))
}

// mapping walks the symbol indices an ID is coded into, §6.4: index 0, then
// gaps drawn so that index i is hit with probability about 2/(i+2). Symbol
// i therefore covers about 2/(i+2) of the set: early symbols catch many IDs,
// later ones few, which is what lets a prefix of any length decode about
// 1/1.4 of its length in differences (Yang et al., SIGCOMM 2024).
type mapping struct {
	state uint64 // SplitMix64 state
	index uint64
}

func newMapping(id *ID) mapping {
	a, b, c, d := words(id)
	return mapping{state: mix64(a ^ mix64(b^mix64(c^mix64(d^mappingSeed))))}
}

// maxIndex ends a walk; no symbol stream gets this long.
const maxIndex = 1 << 62

// next advances to the following index. The floating-point steps are each a
// single correctly rounded IEEE 754 operation (division, square root,
// subtraction, ceiling), with no multiply-add that a compiler could fuse, so
// every platform computes the same indices; testdata/mapping.json pins them.
func (m *mapping) next() uint64 {
	m.state += 0x9e3779b97f4a7c15
	r := mix64(m.state)
	u := float64(r>>11+1) / (1 << 53) // uniform in (0, 1]
	t := float64(m.index) + 2
	x := t / math.Sqrt(u)
	gap := math.Ceil(x - t)
	if !(gap < maxIndex) || m.index+uint64(gap) >= maxIndex {
		m.index = maxIndex
		return m.index
	}
	m.index += max(1, uint64(gap))
	return m.index
}

// toggle XORs id into every symbol of dst it maps to, where dst holds
// symbols start, start+1, ….
func toggle(dst []Symbol, start uint64, id *ID) {
	end := start + uint64(len(dst))
	if end == start {
		return
	}
	check := checksum(id)
	m := newMapping(id)
	for i := uint64(0); i < end; i = m.next() {
		if i >= start {
			dst[i-start].xor(id, check)
		}
	}
}

// computeSymbols fills dst with symbols start, start+1, … of ids.
func computeSymbols(ids iter.Seq[ID], dst []Symbol, start uint64) {
	clear(dst)
	for id := range ids {
		toggle(dst, start, &id)
	}
}

// maps reports whether id is coded into symbol i.
func maps(id *ID, i uint64) bool {
	m := newMapping(id)
	j := uint64(0)
	for j < i {
		j = m.next()
	}
	return j == i
}

// peeled is the outcome of decoding a difference of symbol streams.
type peeled struct {
	ids []ID // every ID of the symmetric difference
	ok  bool // all symbols decoded to zero
}

// peel decodes diff (the XOR of two sets' symbols 0..len-1) in place. It
// finds a symbol holding exactly one ID (its checksum matches and the ID maps
// there), removes that ID from every symbol it maps to, and repeats. Each
// step removes one ID and no ID may come out twice, so the work is bounded by
// len(diff) IDs, each O(log len) symbols, whatever a hostile peer sent.
func peel(diff []Symbol) peeled {
	n := uint64(len(diff))
	var out peeled
	seen := make(map[ID]struct{})
	queue := make([]uint64, 0, 64)
	for i := range diff {
		queue = append(queue, uint64(i))
	}
	for len(queue) > 0 {
		i := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		s := &diff[i]
		if s.isZero() || checksum(&s.Sum) != s.Check || !maps(&s.Sum, i) {
			continue
		}
		id := s.Sum
		if _, dup := seen[id]; dup || uint64(len(out.ids)) >= n {
			return peeled{} // inconsistent symbols: cannot come from two sets
		}
		seen[id] = struct{}{}
		out.ids = append(out.ids, id)
		check := checksum(&id)
		m := newMapping(&id)
		for j := uint64(0); j < n; j = m.next() {
			diff[j].xor(&id, check)
			if !diff[j].isZero() {
				queue = append(queue, j)
			}
		}
	}
	for i := range diff {
		if !diff[i].isZero() {
			return out
		}
	}
	out.ok = true
	return out
}

func binaryAppend(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }
