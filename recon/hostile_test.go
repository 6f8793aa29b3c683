package recon

import (
	"errors"
	"math/rand/v2"
	"testing"
)

func TestDecodeRejects(t *testing.T) {
	hello := (&Message{Type: TypeHello, Count: 3, Digest: Digest{1}}).Encode()
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"unknown type", (&Message{Type: 99}).Encode()},
		{"type zero", (&Message{Type: 0}).Encode()},
		{"equal with data", (&Message{Type: TypeEqual, Data: []byte{1}}).Encode()},
		{"symbols with count", (&Message{Type: TypeSymbols, Count: 1, Data: make([]byte, 40)}).Encode()},
		{"hello without digest", []byte{0xa2, 0x01, 0x01, 0x03, 0x03}},
		{"hello short digest", append([]byte{0xa3, 0x01, 0x01, 0x03, 0x03, 0x04, 0x58, 0x1f}, make([]byte, 31)...)},
		{"trailing byte", append(hello, 0)},
		{"non-canonical count", []byte{0xa1, 0x01, 0x18, 0x02}},
		{"more false spelled out", []byte{0xa2, 0x01, 0x02, 0x02, 0xf4}},
		{"string over 1 MiB declared", []byte{0xa2, 0x01, 0x04, 0x06, 0x5a, 0x10, 0x00, 0x00, 0x01}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Decode(tc.b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// responderAfterHello returns a responder over n random IDs that has
// answered a hello claiming nPeer IDs with an estimate.
func responderAfterHello(t *testing.T, n int, nPeer uint64, lim Limits) (*Responder, *MemSet) {
	t.Helper()
	rng := rand.New(rand.NewPCG(4, 4))
	a, _ := makeSets(rng, n, 0, 0)
	set := NewMemSet(a)
	r, err := NewResponder(set, lim)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := r.Next([]Message{{Type: TypeHello, Count: nPeer, Digest: Digest{9}}})
	if err != nil || len(out) != 1 || out[0].Type != TypeEstimate {
		t.Fatalf("hello: %d messages, %v", len(out), err)
	}
	return r, set
}

func TestHostileRounds(t *testing.T) {
	const n = 2000
	cap := symbolCap(n, n)
	for _, tc := range []struct {
		name  string
		round []Message
	}{
		{"empty round", []Message{}},
		{"round not terminated", []Message{{Type: TypeSymbols, More: true, Data: make([]byte, 40)}}},
		{"mixed types", []Message{{Type: TypeSymbols, More: true, Data: make([]byte, 40)}, {Type: TypeManifest}}},
		{"second hello", []Message{{Type: TypeHello, Count: 1}}},
		{"symbols out of sequence", []Message{{Type: TypeSymbols, Start: 5, Data: make([]byte, 40)}}},
		{"partial symbol", []Message{{Type: TypeSymbols, Data: make([]byte, 41)}}},
		{"symbols beyond the cap", []Message{{Type: TypeSymbols, Data: make([]byte, 40*(cap+1))}}},
		{"empty symbols", []Message{{Type: TypeSymbols}}},
		{"absurd manifest count", []Message{{Type: TypeManifest, Count: 1 << 60, Data: make([]byte, 32)}}},
		{"manifest count differs from hello", []Message{{Type: TypeManifest, Count: 1, Data: make([]byte, 32)}}},
		{"manifest not ascending", []Message{{Type: TypeManifest, Count: 2, Data: append(append(make([]byte, 31), 1), make([]byte, 32)...)}}},
		{"manifest chunk gap", []Message{
			{Type: TypeManifest, More: true, Count: 2, Data: make([]byte, 32)},
			{Type: TypeManifest, Count: 2, Start: 2, Data: make([]byte, 32)}}},
		{"result from initiator", []Message{{Type: TypeResult}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := responderAfterHello(t, n, n, Limits{})
			_, _, err := r.Next(tc.round)
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("got %v", err)
			}
			// The machine stays failed.
			if _, _, err2 := r.Next([]Message{{Type: TypeMore}}); err2 != err {
				t.Fatalf("after failure: %v", err2)
			}
		})
	}
	t.Run("absurd hello count", func(t *testing.T) {
		r, _ := NewResponder(NewMemSet(nil), Limits{})
		if _, _, err := r.Next([]Message{{Type: TypeHello, Count: DefaultMaxItems + 1}}); !errors.Is(err, ErrProtocol) {
			t.Fatalf("got %v", err)
		}
	})
}

// TestGarbageSymbols sends random symbols up to the cap: the responder must
// ask for more, then fall back to a manifest, and never claim a result.
func TestGarbageSymbols(t *testing.T) {
	const n = 2000
	r, _ := responderAfterHello(t, n, n, Limits{})
	rng := rand.New(rand.NewPCG(6, 6))
	cap := symbolCap(n, n)
	sent := uint64(0)
	for round := 0; sent < cap; round++ {
		if round > 40 {
			t.Fatal("no fallback after 40 rounds")
		}
		k := min(cap-sent, 100)
		data := make([]byte, k*SymbolSize)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		out, done, err := r.Next([]Message{{Type: TypeSymbols, Start: sent, Data: data}})
		sent += k
		if err != nil || done || len(out) != 1 {
			t.Fatalf("round %d: %d messages, done %v, %v", round, len(out), done, err)
		}
		want := TypeMore
		if sent == cap {
			want = TypeFallback
		}
		if out[0].Type != want {
			t.Fatalf("round %d: got type %d, want %d", round, out[0].Type, want)
		}
	}
}

// TestForgedPureSymbols crafts symbols that peel into IDs the initiator does
// not hold: the digest check must refuse them.
func TestForgedPureSymbols(t *testing.T) {
	const n = 2000
	r, set := responderAfterHello(t, n, n+1, Limits{})
	syms := make([]Symbol, 64)
	set.Symbols(syms, 0)
	bogus := ID{1, 2, 3}
	toggle(syms, 0, &bogus) // our set plus one ID: peels perfectly
	var data []byte
	for _, s := range syms {
		data = append(data, s.Sum[:]...)
		data = binaryAppend(data, s.Check)
	}
	out, done, err := r.Next([]Message{{Type: TypeSymbols, Data: data}})
	if err != nil || done || len(out) != 1 || out[0].Type != TypeFallback {
		t.Fatalf("got %d messages, done %v, %v", len(out), done, err)
	}
}

func TestInitiatorChecksResult(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	a, _ := makeSets(rng, 3000, 0, 0)
	set := NewMemSet(a)
	held := a[0]
	for _, tc := range []struct {
		name  string
		round []Message
	}{
		{"have an ID we lack", []Message{{Type: TypeResult, Data2: make([]byte, 32)}}},
		{"repeated ID", []Message{{Type: TypeResult, Data2: append(held[:], held[:]...)}}},
		{"IDs out of order", []Message{{Type: TypeResult, Data2: append(sorted(a)[1][:], sorted(a)[0][:]...)}}},
		{"result larger than symbols", []Message{{Type: TypeResult, Data2: make([]byte, 32*100000)}}},
		{"result not a whole number of IDs", []Message{{Type: TypeResult, Data2: held[:31]}}},
		{"estimate with short sketch", []Message{{Type: TypeEstimate, Count: 5, Data: make([]byte, 10)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i, _ := NewInitiator(set, Limits{})
			i.Next(nil)
			if tc.round[0].Type == TypeResult {
				sk := set.Sketch()
				est := sketchBytes(&sk, uint64(set.Len()))
				est[1] += 2 // one bit count off by one: a difference of about 1
				out, _, err := i.Next([]Message{{Type: TypeEstimate, Count: uint64(set.Len()), Data: est}})
				if err != nil || out[0].Type != TypeSymbols {
					t.Fatalf("setup: %d messages, type %d, %v", len(out), out[0].Type, err)
				}
			}
			if _, _, err := i.Next(tc.round); !errors.Is(err, ErrProtocol) {
				t.Fatalf("got %v", err)
			}
		})
	}
}
