package recon

import "math"

type initState uint8

const (
	initStart    initState = iota
	initHello              // sent Hello
	initSymbols            // sent symbols
	initManifest           // sent our manifest
	initDone
)

// Initiator is the side that opens a reconciliation (docs/protocol.md §6.1):
// in the sync engine, the dialer. It is not safe for concurrent use.
type Initiator struct {
	set    Set
	lim    Limits
	state  initState
	n      uint64 // our set size
	nPeer  uint64
	sent   uint64 // symbols sent so far
	result Result
	err    error // first error; the machine stays failed
}

// NewInitiator starts a reconciliation of set. The set must not change until
// the reconciliation is done.
func NewInitiator(set Set, lim Limits) (*Initiator, error) {
	lim, err := lim.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Initiator{set: set, lim: lim, n: uint64(set.Len())}, nil
}

// Next consumes the responder's last round (nil for the first call) and
// returns this side's next round. done is true when the reconciliation is
// complete and Result is final; out is then empty. Any error is permanent.
func (s *Initiator) Next(in []Message) (out []Message, done bool, err error) {
	if s.err != nil {
		return nil, false, s.err
	}
	out, err = s.next(in)
	if err != nil {
		s.err = err
		return nil, false, err
	}
	return out, s.state == initDone, nil
}

// Result returns what the reconciliation found; it is complete once Next has
// reported done.
func (s *Initiator) Result() Result { return s.result }

func (s *Initiator) next(in []Message) ([]Message, error) {
	if s.state == initStart {
		if in != nil {
			return nil, protoErr("the initiator speaks first")
		}
		s.state = initHello
		return []Message{{Type: TypeHello, Count: s.n, Digest: s.set.Digest()}}, nil
	}
	typ, err := round(in)
	if err != nil {
		return nil, err
	}
	switch {
	case s.state == initHello && typ == TypeEqual:
		s.state = initDone
		return nil, nil
	case s.state == initHello && typ == TypeEstimate:
		m := in[0]
		if len(in) != 1 || len(m.Data) != SketchSize || m.Count > uint64(s.lim.MaxItems) {
			return nil, protoErr("bad estimate")
		}
		s.nPeer = m.Count
		sk := s.set.Sketch()
		d := estimate(sketchBytes(&sk, s.n), m.Data, s.n, s.nPeer)
		plan := uint64(math.Ceil(symbolsPerDiff*(1+estimateMargin)*float64(d)+sqrtMargin*math.Sqrt(float64(d)))) + extraSymbols
		// Manifest cost: our IDs, and the bitmap back. Symbols cost
		// themselves and the IDs only we hold, which the result lists:
		// (d + n_I − n_R)/2 of the difference.
		manifest := IDSize*s.n + s.n/8
		ourOnly := min((d+s.n-min(s.n+d, s.nPeer))/2, s.n)
		if plan > symbolCap(s.n, s.nPeer) || SymbolSize*plan+IDSize*ourOnly >= manifest {
			return s.sendManifest(), nil
		}
		return s.sendSymbols(plan), nil
	case s.state == initHello && typ == TypeManifest:
		theirs, err := readManifest(in, s.lim.MaxItems)
		if err != nil {
			return nil, err
		}
		r, out := answerManifest(s.set, theirs, s.lim.MaxMessage)
		s.result = r
		s.state = initDone
		return out, nil
	case s.state == initSymbols && typ == TypeMore:
		more := min(max(s.sent/2, 64), symbolCap(s.n, s.nPeer)-s.sent)
		if len(in) != 1 || more == 0 {
			return s.sendManifest(), nil
		}
		return s.sendSymbols(more), nil
	case s.state == initSymbols && typ == TypeFallback:
		return s.sendManifest(), nil
	case s.state == initSymbols && typ == TypeResult:
		return nil, s.readResult(in)
	case s.state == initManifest && typ == TypeManifestResult:
		r, err := readManifestResult(s.set, in)
		if err != nil {
			return nil, err
		}
		s.result = r
		s.state = initDone
		return nil, nil
	}
	return nil, protoErr("unexpected message type %d", typ)
}

func (s *Initiator) sendManifest() []Message {
	s.state = initManifest
	return manifestMessages(s.set, s.lim.MaxMessage)
}

// sendSymbols sends the next n coded symbols.
func (s *Initiator) sendSymbols(n uint64) []Message {
	s.state = initSymbols
	syms := make([]Symbol, n)
	s.set.Symbols(syms, s.sent)
	buf := make([]byte, 0, n*SymbolSize)
	for i := range syms {
		buf = append(buf, syms[i].Sum[:]...)
		buf = binaryAppend(buf, syms[i].Check)
	}
	var out []Message
	start := s.sent
	for _, p := range chunk(buf, SymbolSize, s.lim.MaxMessage) {
		out = append(out, Message{Type: TypeSymbols, More: true, Start: start, Data: p})
		start += uint64(len(p) / SymbolSize)
	}
	out[len(out)-1].More = false
	s.sent += n
	return out
}

// readResult checks the responder's decoded difference against our set.
func (s *Initiator) readResult(in []Message) error {
	var have []byte
	for _, m := range in {
		if len(m.Data2)%IDSize != 0 || uint64(len(have)+len(m.Data2)) > s.sent*IDSize {
			return protoErr("result larger than the symbols sent")
		}
		have = append(have, m.Data2...)
	}
	r := Result{Have: ids(have)}
	for _, id := range r.Have {
		if !s.set.Contains(id) {
			return protoErr("result says we hold an ID we lack")
		}
	}
	if !ascending(r.Have) {
		return protoErr("result not strictly ascending")
	}
	s.result = r
	s.state = initDone
	return nil
}
