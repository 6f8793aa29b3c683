package recon

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Implementation limits, docs/protocol.md §6.6.
const (
	// DefaultMaxMessage is the largest message sent when Limits.MaxMessage
	// is zero: the 1 MiB CBOR string limit of §1.2.
	DefaultMaxMessage = 1 << 20
	// MinMaxMessage is the smallest Limits.MaxMessage accepted.
	MinMaxMessage = 1024
	// DefaultMaxItems is the largest set a peer may claim when
	// Limits.MaxItems is zero. A manifest of this many IDs is 128 MiB.
	DefaultMaxItems = 1 << 22
)

// Specification constants, §6.6. Both sides compute them the same way.
const (
	// manifestFirstBelow: a responder with fewer IDs sends its manifest at
	// once; below this the estimate and its fixed cost are not worth it.
	manifestFirstBelow = 512
	// symbolCapNum/Den: at most 0.1625 × (nI + nR) symbols per session,
	// 6.5 bytes per item, so symbols plus a manifest fallback stay under
	// 40 bytes per item.
	symbolCapNum, symbolCapDen = 13, 80
	minSymbolCap               = 64
)

// Planning constants (initiator only; not part of the wire contract).
const (
	// Measured (BenchmarkPeelOverhead, BenchmarkThirdRound): peeling needs 1.37 symbols per
	// difference at 10³ differences (1.45 at worst of 40), more for small
	// differences; the sketch's estimate is ≥ 0.82 × the truth in 99 % of
	// runs. 1.40 × 1.25 covers both, the square-root term covers the
	// spread of small differences.
	symbolsPerDiff = 1.40
	estimateMargin = 0.25
	sqrtMargin     = 3
	extraSymbols   = 16
	// minSymbolBytesPerDiff is the least the symbol path costs per
	// difference: a symbol per difference with the margins above.
	minSymbolBytesPerDiff = SymbolSize * symbolsPerDiff * (1 + estimateMargin)
)

// Limits bounds what one reconciliation may send and accept.
type Limits struct {
	// MaxMessage is the largest encoded message this side sends; a round
	// holds as many messages as it needs. Zero means DefaultMaxMessage.
	MaxMessage int
	// MaxItems is the largest set size a peer may claim or send. Zero means
	// DefaultMaxItems.
	MaxItems int
}

func (l Limits) withDefaults() (Limits, error) {
	if l.MaxMessage == 0 {
		l.MaxMessage = DefaultMaxMessage
	}
	if l.MaxItems == 0 {
		l.MaxItems = DefaultMaxItems
	}
	if l.MaxMessage < MinMaxMessage || l.MaxMessage > DefaultMaxMessage {
		return l, fmt.Errorf("recon: MaxMessage %d outside [%d, %d]", l.MaxMessage, MinMaxMessage, DefaultMaxMessage)
	}
	return l, nil
}

// Result is what reconciliation found, from one side's point of view: the
// IDs this side holds and the peer lacks, which this side must send. What it
// lacks, the peer learns as its own Have and sends without being asked, so
// no message carries a side's own-only IDs to it only for it to wait for
// them (docs/protocol.md §6.5).
type Result struct {
	Have []ID
}

// ErrProtocol is wrapped by every error about a peer's messages that are
// well formed but break §6: wrong order, contiguity, counts beyond the
// limits, or claims that contradict this side's set. The session must end.
var ErrProtocol = errors.New("recon: protocol violation")

func protoErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, a...)...)
}

// symbolCap is the most coded symbols one session may carry, §6.6.
func symbolCap(nI, nR uint64) uint64 {
	return min(max(minSymbolCap, (nI+nR)*symbolCapNum/symbolCapDen), 1<<22)
}

// sketchBytes encodes a sketch for a set of n IDs, §6.3: for each bit j,
// (2·count_j − n) mod 2¹⁶, big-endian.
func sketchBytes(sk *Sketch, n uint64) []byte {
	out := make([]byte, SketchSize)
	for j, c := range sk {
		binary.BigEndian.PutUint16(out[2*j:], uint16(2*uint64(c)-n))
	}
	return out
}

// estimate returns the estimated size of the symmetric difference from two
// encoded sketches, §6.3: the mean of Z_j² where Z_j = s_j − s'_j read as a
// signed 16-bit number, clamped to the bounds the set sizes imply.
func estimate(mine, theirs []byte, nI, nR uint64) uint64 {
	var sum float64
	for j := range sketchBits {
		z := float64(int16(binary.BigEndian.Uint16(mine[2*j:]) - binary.BigEndian.Uint16(theirs[2*j:])))
		sum += z * z
	}
	d := uint64(math.Ceil(sum / sketchBits))
	lo := max(1, absDiff(nI, nR))
	return min(max(d, lo), nI+nR)
}

func absDiff(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}

// round checks an incoming round: at least one message, all of one type, More
// on all but the last.
func round(in []Message) (Type, error) {
	if len(in) == 0 {
		return 0, protoErr("empty round")
	}
	for i, m := range in {
		if m.Type != in[0].Type {
			return 0, protoErr("mixed message types in one round")
		}
		if m.More != (i < len(in)-1) {
			return 0, protoErr("round not terminated by its last message")
		}
	}
	return in[0].Type, nil
}

// chunk splits a byte stream of unit-byte elements into pieces that fit
// messages of at most maxMsg bytes. It returns at least one (possibly
// empty) piece.
func chunk(b []byte, unit int, maxMsg int) [][]byte {
	room := (maxMsg - messageOverhead) / unit * unit
	var out [][]byte
	for {
		n := min(len(b), room)
		out = append(out, b[:n])
		if b = b[n:]; len(b) == 0 {
			return out
		}
	}
}

func ids(b []byte) []ID {
	out := make([]ID, len(b)/IDSize)
	for i := range out {
		copy(out[i][:], b[i*IDSize:])
	}
	return out
}

func packIDs(list []ID) []byte {
	out := make([]byte, 0, len(list)*IDSize)
	for i := range list {
		out = append(out, list[i][:]...)
	}
	return out
}

// manifestMessages sends set as a manifest, §6.5.
func manifestMessages(set Set, maxMsg int) []Message {
	n := uint64(set.Len())
	buf := make([]byte, 0, n*IDSize)
	for id := range set.All() {
		buf = append(buf, id[:]...)
	}
	var out []Message
	var start uint64
	for _, p := range chunk(buf, IDSize, maxMsg) {
		out = append(out, Message{Type: TypeManifest, More: true, Count: n, Start: start, Data: p})
		start += uint64(len(p) / IDSize)
	}
	out[len(out)-1].More = false
	return out
}

// readManifest reassembles a peer's manifest round, checking the declared
// count against the limit before allocating, contiguity and strict order.
func readManifest(in []Message, maxItems int) ([]ID, error) {
	n := in[0].Count
	if n > uint64(maxItems) {
		return nil, protoErr("manifest of %d IDs exceeds the limit %d", n, maxItems)
	}
	list := make([]ID, 0, n)
	for _, m := range in {
		if m.Count != n || m.Start != uint64(len(list)) || len(m.Data)%IDSize != 0 ||
			uint64(len(m.Data)/IDSize) > n-uint64(len(list)) {
			return nil, protoErr("manifest chunks inconsistent")
		}
		list = append(list, ids(m.Data)...)
	}
	if uint64(len(list)) != n {
		return nil, protoErr("manifest has %d of %d IDs", len(list), n)
	}
	for i := 1; i < len(list); i++ {
		if list[i-1].Compare(list[i]) >= 0 {
			return nil, protoErr("manifest not strictly ascending")
		}
	}
	return list, nil
}

// answerManifest compares a peer's manifest with set and returns this side's
// result and the ManifestResult round: a bitmap over the peer's manifest
// with bit i (MSB first) set when this side lacks ID i.
func answerManifest(set Set, theirs []ID, maxMsg int) (Result, []Message) {
	var r Result
	bits := make([]byte, (len(theirs)+7)/8)
	i := 0
	for id := range set.All() {
		for i < len(theirs) && theirs[i].Compare(id) < 0 {
			bits[i/8] |= 0x80 >> (i % 8)
			i++
		}
		if i < len(theirs) && theirs[i] == id {
			i++
			continue
		}
		r.Have = append(r.Have, id)
	}
	for ; i < len(theirs); i++ {
		bits[i/8] |= 0x80 >> (i % 8)
	}
	var out []Message
	var off uint64
	for _, p := range chunk(bits, 1, maxMsg) {
		out = append(out, Message{Type: TypeManifestResult, More: true, Start: off, Data2: p})
		off += uint64(len(p))
	}
	out[len(out)-1].More = false
	return r, out
}

// readManifestResult turns the reply to our manifest (sent from set) into
// our result, checking it against set.
func readManifestResult(set Set, in []Message) (Result, error) {
	n := set.Len()
	bits := make([]byte, 0, (n+7)/8)
	for _, m := range in {
		if m.Start != uint64(len(bits)) || len(m.Data2) > cap(bits)-len(bits) {
			return Result{}, protoErr("manifest result chunks inconsistent")
		}
		bits = append(bits, m.Data2...)
	}
	if len(bits) != cap(bits) || (n%8 != 0 && bits[len(bits)-1]<<(n%8) != 0) {
		return Result{}, protoErr("manifest result bitmap has the wrong length")
	}
	var r Result
	i := 0
	for id := range set.All() {
		if bits[i/8]&(0x80>>(i%8)) != 0 {
			r.Have = append(r.Have, id)
		}
		i++
	}
	return r, nil
}

// ascending reports whether list is strictly ascending: sorted, no repeats.
func ascending(list []ID) bool {
	for i := 1; i < len(list); i++ {
		if list[i-1].Compare(list[i]) >= 0 {
			return false
		}
	}
	return true
}
