package item

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/wire"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func testKey(t testing.TB, n byte) *identity.PrivateKey {
	t.Helper()
	k, err := identity.NewKeyFromSeed(bytes.Repeat([]byte{n}, identity.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func space(n byte) Space { var s Space; s[0] = n; return s }

func mustNew(t testing.TB, k *identity.PrivateKey, kind Kind, sp Space, at time.Time, payload string) *Item {
	t.Helper()
	it, err := New(k, kind, sp, at, []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func TestRoundTrip(t *testing.T) {
	k := testKey(t, 1)
	for _, tc := range []struct {
		name    string
		payload []byte
	}{
		{"empty payload", nil},
		{"small payload", []byte("hello")},
		{"max payload", bytes.Repeat([]byte{7}, MaxPayload)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it, err := New(k, 42, space(3), t0, tc.payload)
			if err != nil {
				t.Fatal(err)
			}
			if err := it.Verify(t0); err != nil {
				t.Fatal(err)
			}
			got, err := Decode(it.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if got.ID() != it.ID() || !bytes.Equal(got.Bytes(), it.Bytes()) {
				t.Fatal("decoded item differs")
			}
			if got.Author() != k.ID() || got.Kind() != 42 || got.Space() != space(3) ||
				!got.Created().Equal(t0) || !bytes.Equal(got.Payload(), tc.payload) {
				t.Fatalf("fields changed: %v %v %v %v", got.Author(), got.Kind(), got.Space(), got.Created())
			}
			if err := got.Verify(t0); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	k := testKey(t, 1)
	for _, tc := range []struct {
		name    string
		kind    Kind
		at      time.Time
		payload []byte
		want    error
	}{
		{"kind zero", 0, t0, nil, ErrMalformed},
		{"before epoch", 5, time.Unix(-1, 0), nil, ErrMalformed},
		{"payload max+1", 5, t0, make([]byte, MaxPayload+1), ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(k, tc.kind, space(0), tc.at, tc.payload); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifyClock(t *testing.T) {
	k := testKey(t, 1)
	for _, tc := range []struct {
		name    string
		created time.Time
		wantErr error
	}{
		{"past", t0.Add(-24 * time.Hour), nil},
		{"now", t0, nil},
		{"skew limit", t0.Add(MaxFutureSkew), nil},
		{"skew limit + 1ms", t0.Add(MaxFutureSkew + time.Millisecond), ErrFuture},
		{"next year", t0.Add(365 * 24 * time.Hour), ErrFuture},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := mustNew(t, k, 9, space(0), tc.created, "x")
			err := it.Verify(t0)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "ahead of this clock") {
				t.Fatalf("no reason in %q", err)
			}
		})
	}
}

// reencode decodes raw into the wire struct, applies f, and re-encodes
// canonically, producing well-formed CBOR with a changed field.
func reencode(t *testing.T, raw []byte, f func(*wireItem)) []byte {
	t.Helper()
	var w wireItem
	if err := wire.Unmarshal(raw, &w); err != nil {
		t.Fatal(err)
	}
	f(&w)
	b, err := wire.Marshal(&w)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeRejects(t *testing.T) {
	k := testKey(t, 1)
	it := mustNew(t, k, 9, space(1), t0, "payload")
	raw := it.Bytes()
	other := testKey(t, 2)
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"trailing byte", append(bytes.Clone(raw), 0), ErrMalformed},
		{"truncated", raw[:len(raw)-1], ErrMalformed},
		{"too large", make([]byte, MaxSize+1), ErrTooLarge},
		{"non-canonical length", nonCanonicalLength(raw), ErrMalformed},
		{"short author", reencode(t, raw, func(w *wireItem) { w.Author = w.Author[:31] }), ErrMalformed},
		{"small-order author", reencode(t, raw, func(w *wireItem) { w.Author = make([]byte, 32); w.Author[0] = 1 }), ErrMalformed},
		{"short space", reencode(t, raw, func(w *wireItem) { w.Space = w.Space[:31] }), ErrMalformed},
		{"no signature", reencode(t, raw, func(w *wireItem) { w.Sig = nil }), ErrMalformed},
		{"kind zero", reencode(t, raw, func(w *wireItem) { w.Kind = 0 }), ErrMalformed},
		{"kind over 32 bits", reencode(t, raw, func(w *wireItem) { w.Kind = 1 << 32 }), ErrMalformed},
		{"created over int64", reencode(t, raw, func(w *wireItem) { w.Created = 1 << 63 }), ErrMalformed},
		{"empty payload as zero-length string", emptyPayloadString(t, k), ErrMalformed},
		{"unknown key", appendKey(raw), ErrMalformed},
		{"unknown key 8", appendKeyN(raw, 8), ErrMalformed},
		{"other author's key", reencode(t, raw, func(w *wireItem) { w.Author = other.ID().Bytes() }), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.b)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err == nil {
				// Well formed but forged: Verify must refuse it.
				if err := got.Verify(t0); !errors.Is(err, ErrBadSignature) {
					t.Fatalf("forged item: Verify got %v", err)
				}
			}
		})
	}
}

// nonCanonicalLength re-encodes the signature's length (64, one-byte
// argument 0x58 0x40) with a two-byte argument 0x59 0x00 0x40.
func nonCanonicalLength(raw []byte) []byte {
	i := bytes.Index(raw, []byte{0x06, 0x58, 0x40})
	if i < 0 {
		panic("bug: no signature header")
	}
	out := append([]byte{}, raw[:i+1]...)
	out = append(out, 0x59, 0x00, 0x40)
	return append(out, raw[i+3:]...)
}

func emptyPayloadString(t *testing.T, k *identity.PrivateKey) []byte {
	// Build a map with key 5 present and empty; omitempty cannot, so splice.
	it := mustNew(t, k, 9, space(1), t0, "")
	raw := it.Bytes()
	i := bytes.Index(raw, []byte{0x06, 0x58, 0x40})
	out := []byte{raw[0] + 1}
	out = append(out, raw[1:i]...)
	out = append(out, 0x05, 0x40)
	return append(out, raw[i:]...)
}

func appendKey(raw []byte) []byte { return appendKeyN(raw, 7) }

// appendKeyN adds map key n (< 24) with the value 0 after the last key.
func appendKeyN(raw []byte, n byte) []byte {
	out := []byte{raw[0] + 1}
	out = append(out, raw[1:]...)
	return append(out, n, 0x00)
}

func TestVerifyRejectsTampering(t *testing.T) {
	k := testKey(t, 1)
	it := mustNew(t, k, 9, space(1), t0, "payload")
	raw := it.Bytes()
	for _, tc := range []struct {
		name string
		f    func(*wireItem)
	}{
		{"kind", func(w *wireItem) { w.Kind = 10 }},
		{"space", func(w *wireItem) { w.Space = make([]byte, 32) }},
		{"created", func(w *wireItem) { w.Created++ }},
		{"payload", func(w *wireItem) { w.Payload = []byte("Payload") }},
		{"signature bit", func(w *wireItem) { w.Sig[5] ^= 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(reencode(t, raw, tc.f))
			if err != nil {
				t.Fatal(err)
			}
			if got.ID() == it.ID() {
				t.Fatal("changed item kept its ID")
			}
			if err := got.Verify(t0); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// TestSignatureDomain checks the signature is not over the bare CBOR body,
// so it cannot be replayed as a signature of another structure.
func TestSignatureDomain(t *testing.T) {
	k := testKey(t, 1)
	it := mustNew(t, k, 9, space(1), t0, "p")
	w := it.toWire()
	w.Sig = nil
	body, err := wire.Marshal(&w)
	if err != nil {
		t.Fatal(err)
	}
	if k.ID().Verify(body, it.sig) {
		t.Fatal("signature verifies without the label")
	}
	if !k.ID().Verify(append([]byte(signLabel), body...), it.sig) {
		t.Fatal("signature does not verify over label ‖ body")
	}
}

// vector is one known-answer case in testdata/vectors.json.
type vector struct {
	Name   string `json:"name"`
	Item   string `json:"item"`         // hex of the encoding
	ID     string `json:"id,omitempty"` // expected ID when valid
	Expect string `json:"expect"`       // "ok", "malformed", "bad signer", "bad signature", "future", "too large"
	Now    int64  `json:"now_unix_ms"`  // verifier clock
	Note   string `json:"note,omitempty"`
}

func makeVectors(t *testing.T) []vector {
	k := testKey(t, 1)
	now := t0.UnixMilli()
	ok := mustNew(t, k, 42, space(7), t0, "hello, ghostwire")
	tomb, err := NewTombstone(k, ok, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	future := mustNew(t, k, 42, space(7), t0.Add(MaxFutureSkew+time.Second), "late")
	forged := reencode(t, ok.Bytes(), func(w *wireItem) { w.Payload = []byte("hello, ghostwirf") })
	v := []vector{
		{Name: "valid", Item: hex.EncodeToString(ok.Bytes()), ID: ok.ID().String(), Expect: "ok", Now: now,
			Note: "seed 0x01*32, kind 42, space 07 00.., created 2025-06-01T12:00:00Z"},
		{Name: "tombstone", Item: hex.EncodeToString(tomb.Bytes()), ID: tomb.ID().String(), Expect: "ok", Now: now + 1000},
		{Name: "future", Item: hex.EncodeToString(future.Bytes()), ID: future.ID().String(), Expect: "future", Now: now},
		{Name: "forged payload", Item: hex.EncodeToString(forged), Expect: "bad signature", Now: now},
		{Name: "non-canonical length", Item: hex.EncodeToString(nonCanonicalLength(ok.Bytes())), Expect: "malformed", Now: now},
		{Name: "unknown key", Item: hex.EncodeToString(appendKey(ok.Bytes())), Expect: "malformed", Now: now},
	}
	// Items signed by a subkey (§5.9): identity seed 0x01*32, subkey seed
	// 0x03*32, window t0 ± 1 h, created t0, kind 42, space zero.
	sub := validSubkeyItem(t)
	valid := sub.encode(t)
	vid, err := Decode(valid)
	if err != nil {
		t.Fatal(err)
	}
	expired, purpose, byOther := sub, sub, sub
	expired.notAfter = t0.Add(-time.Millisecond)
	purpose.purpose = 2
	byOther.certifier = testKey(t, 2)
	tampered := reencode(t, valid, func(w *wireItem) { w.Payload[0] ^= 1 })
	v = append(v,
		vector{Name: "subkey valid", Item: hex.EncodeToString(valid), ID: vid.ID().String(), Expect: "ok", Now: now,
			Note: "identity seed 0x01*32, subkey seed 0x03*32, purpose 1, window created ± 1 h"},
		vector{Name: "subkey expired", Item: hex.EncodeToString(expired.encode(t)), Expect: "bad signer", Now: now,
			Note: "not-after 1 ms before created"},
		vector{Name: "subkey wrong purpose", Item: hex.EncodeToString(purpose.encode(t)), Expect: "bad signer", Now: now,
			Note: "purpose 2"},
		vector{Name: "subkey certified by another identity", Item: hex.EncodeToString(byOther.encode(t)), Expect: "bad signer", Now: now,
			Note: "certificate signed by seed 0x02*32"},
		vector{Name: "subkey tampered", Item: hex.EncodeToString(tampered), Expect: "bad signature", Now: now,
			Note: "first payload byte flipped"},
		vector{Name: "unknown key 8", Item: hex.EncodeToString(appendKeyN(ok.Bytes(), 8)), Expect: "malformed", Now: now},
	)
	return v
}

func outcome(b []byte, now time.Time) (string, *Item) {
	it, err := Decode(b)
	if err == nil {
		err = it.Verify(now)
	}
	switch {
	case err == nil:
		return "ok", it
	case errors.Is(err, ErrTooLarge):
		return "too large", nil
	case errors.Is(err, ErrMalformed):
		return "malformed", nil
	case errors.Is(err, ErrBadSigner):
		return "bad signer", nil
	case errors.Is(err, ErrBadSignature):
		return "bad signature", nil
	case errors.Is(err, ErrFuture):
		return "future", nil
	}
	return "unexpected: " + err.Error(), nil
}

func TestVectors(t *testing.T) {
	path := filepath.Join("testdata", "vectors.json")
	if *update {
		b, err := json.MarshalIndent(makeVectors(t), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			raw, err := hex.DecodeString(v.Item)
			if err != nil {
				t.Fatal(err)
			}
			got, it := outcome(raw, time.UnixMilli(v.Now))
			if got != v.Expect {
				t.Fatalf("got %q, want %q", got, v.Expect)
			}
			if it != nil && it.ID().String() != v.ID {
				t.Fatalf("id %s, want %s", it.ID(), v.ID)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "vectors.json"))
	if err != nil {
		f.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		f.Fatal(err)
	}
	for _, v := range vs {
		raw, _ := hex.DecodeString(v.Item)
		f.Add(raw)
	}
	now := t0
	f.Fuzz(func(t *testing.T, b []byte) {
		it, err := Decode(b)
		if err != nil {
			return
		}
		// Oracle: canonical bytes round-trip exactly, and every accessor works.
		if !bytes.Equal(it.Bytes(), b) {
			t.Fatal("decode→encode changed the bytes")
		}
		w := it.toWire()
		again, err := wire.Marshal(&w)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs: %v", err)
		}
		_ = it.Verify(now)
		signer := it.Author()
		if c, ok := it.Cert(); ok {
			signer = c.Key
		}
		if it.Signer() != signer {
			t.Fatal("Signer and Cert disagree")
		}
		if it.Kind() == KindTombstone {
			_, _ = TombstoneTarget(it)
		}
		// No strict prefix of a valid item parses.
		if _, err := Decode(b[:len(b)-1]); err == nil {
			t.Fatal("strict prefix parsed")
		}
	})
}
