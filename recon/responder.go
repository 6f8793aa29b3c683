package recon

import (
	"encoding/binary"
	"iter"
	"slices"
)

type respState uint8

const (
	respStart    respState = iota
	respEstimate           // sent Estimate (or More/Fallback): symbols or a manifest may come
	respManifest           // sent our manifest
	respDone
)

// Responder is the side that answers a reconciliation (docs/protocol.md
// §6.1): in the sync engine, the listener. It is not safe for concurrent use.
type Responder struct {
	set     Set
	lim     Limits
	state   respState
	n       uint64
	nPeer   uint64
	digest  Digest   // the initiator's
	theirs  []Symbol // the initiator's symbols received so far
	result  Result
	err     error
	decodes int // peeling attempts, for tests
}

// NewResponder prepares to answer a reconciliation of set. The set must not
// change until the reconciliation is done.
func NewResponder(set Set, lim Limits) (*Responder, error) {
	lim, err := lim.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Responder{set: set, lim: lim, n: uint64(set.Len())}, nil
}

// Next consumes the initiator's last round and returns this side's reply.
// done is true when the reconciliation is complete and Result is final (out
// may still hold the last round to send). Any error is permanent.
func (s *Responder) Next(in []Message) (out []Message, done bool, err error) {
	if s.err != nil {
		return nil, false, s.err
	}
	out, err = s.next(in)
	if err != nil {
		s.err = err
		return nil, false, err
	}
	return out, s.state == respDone, nil
}

// Result returns what the reconciliation found; it is complete once Next has
// reported done.
func (s *Responder) Result() Result { return s.result }

func (s *Responder) next(in []Message) ([]Message, error) {
	typ, err := round(in)
	if err != nil {
		return nil, err
	}
	switch {
	case s.state == respStart && typ == TypeHello:
		if len(in) != 1 || in[0].Count > uint64(s.lim.MaxItems) {
			return nil, protoErr("bad hello")
		}
		s.nPeer, s.digest = in[0].Count, in[0].Digest
		if s.nPeer == s.n && s.digest == s.set.Digest() {
			s.state = respDone
			return []Message{{Type: TypeEqual}}, nil
		}
		// Our manifest costs 32 B per ID and a bitmap back, stays within
		// the bound of §6.6, is exact and saves a leg. Send it at once
		// when it is small, or when it costs no more than the initiator's
		// manifest after our estimate would, and no more than twice the
		// least symbols for the size gap alone can cost (the difference
		// may be larger than the gap).
		other := min(SketchSize+IDSize*s.nPeer+s.nPeer/8, 2*(minSymbolBytesPerDiff*absDiff(s.n, s.nPeer)+600))
		if s.n < manifestFirstBelow || IDSize*s.n+s.n/8 <= other {
			s.state = respManifest
			return manifestMessages(s.set, s.lim.MaxMessage), nil
		}
		s.state = respEstimate
		sk := s.set.Sketch()
		return []Message{{Type: TypeEstimate, Count: s.n, Data: sketchBytes(&sk, s.n)}}, nil
	case s.state == respEstimate && typ == TypeSymbols:
		if err := s.readSymbols(in); err != nil {
			return nil, err
		}
		return s.decode(), nil
	case s.state == respEstimate && typ == TypeManifest:
		theirs, err := readManifest(in, s.lim.MaxItems)
		if err != nil {
			return nil, err
		}
		if uint64(len(theirs)) != s.nPeer {
			return nil, protoErr("manifest size differs from the hello")
		}
		r, out := answerManifest(s.set, theirs, s.lim.MaxMessage)
		s.result = r
		s.state = respDone
		return out, nil
	case s.state == respManifest && typ == TypeManifestResult:
		r, err := readManifestResult(s.set, in)
		if err != nil {
			return nil, err
		}
		s.result = r
		s.state = respDone
		return nil, nil
	}
	return nil, protoErr("unexpected message type %d", typ)
}

// readSymbols appends a round of symbols, which must continue the stream and
// stay within the session's symbol cap, checked before anything is copied.
func (s *Responder) readSymbols(in []Message) error {
	limit := symbolCap(s.nPeer, s.n)
	next := uint64(len(s.theirs))
	total := uint64(0)
	for _, m := range in {
		if len(m.Data)%SymbolSize != 0 || m.Start != next+total {
			return protoErr("symbols out of sequence")
		}
		total += uint64(len(m.Data) / SymbolSize)
		if next+total > limit {
			return protoErr("more than %d symbols", limit)
		}
	}
	if total == 0 {
		return protoErr("empty symbol round")
	}
	s.theirs = slices.Grow(s.theirs, int(total))
	for _, m := range in {
		for b := m.Data; len(b) > 0; b = b[SymbolSize:] {
			var sym Symbol
			copy(sym.Sum[:], b)
			sym.Check = binary.BigEndian.Uint64(b[IDSize:])
			s.theirs = append(s.theirs, sym)
		}
	}
	return nil
}

// decode peels our symbols against theirs. On success it checks the
// difference against the initiator's digest and answers with the result; on
// failure it asks for more symbols or, at the cap, for a manifest.
func (s *Responder) decode() []Message {
	s.decodes++
	diff := make([]Symbol, len(s.theirs))
	s.set.Symbols(diff, 0)
	for i := range diff {
		diff[i].xor(&s.theirs[i].Sum, s.theirs[i].Check)
	}
	p := peel(diff)
	if !p.ok {
		if uint64(len(s.theirs)) >= symbolCap(s.nPeer, s.n) {
			return []Message{{Type: TypeFallback}}
		}
		return []Message{{Type: TypeMore}}
	}
	var r Result
	var theirOnly []ID
	for _, id := range p.ids {
		if s.set.Contains(id) {
			r.Have = append(r.Have, id)
		} else {
			theirOnly = append(theirOnly, id)
		}
	}
	slices.SortFunc(r.Have, ID.Compare)
	slices.SortFunc(theirOnly, ID.Compare)
	nI := s.n - uint64(len(r.Have)) + uint64(len(theirOnly))
	if nI != s.nPeer || DigestOf(int(nI), peerSet(s.set.All(), r.Have, theirOnly)) != s.digest {
		// Peeling "succeeded" into a set that is not the initiator's: a
		// checksum collision or crafted IDs. Never return a wrong result.
		return []Message{{Type: TypeFallback}}
	}
	s.result = r
	s.state = respDone
	var out []Message
	for _, p := range chunk(packIDs(theirOnly), IDSize, s.lim.MaxMessage) {
		out = append(out, Message{Type: TypeResult, More: true, Data2: p})
	}
	out[len(out)-1].More = false
	return out
}

// peerSet yields, in ascending order, the initiator's set as the decoded
// difference implies: ours without ourOnly, plus theirOnly (both sorted).
func peerSet(ours iter.Seq[ID], ourOnly, theirOnly []ID) iter.Seq[ID] {
	return func(yield func(ID) bool) {
		i, j := 0, 0
		for id := range ours {
			if i < len(ourOnly) && ourOnly[i] == id {
				i++
				continue
			}
			for j < len(theirOnly) && theirOnly[j].Compare(id) < 0 {
				if !yield(theirOnly[j]) {
					return
				}
				j++
			}
			if !yield(id) {
				return
			}
		}
		for ; j < len(theirOnly); j++ {
			if !yield(theirOnly[j]) {
				return
			}
		}
	}
}
