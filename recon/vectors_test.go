package recon

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata files")

// mappingVector pins the §6.4 derived values so that every platform and
// every implementation codes IDs into the same symbols.
type mappingVector struct {
	ID       string   `json:"id"`
	Checksum string   `json:"checksum"`
	Indices  []uint64 `json:"indices"` // first 24 symbol indices
}

func vectorIDs() []ID {
	out := []ID{{}, {0xff}}
	for i := range 6 {
		out = append(out, ID(sha256.Sum256([]byte{byte(i)})))
	}
	return out
}

func mappingOf(id ID) mappingVector {
	v := mappingVector{ID: id.String(), Checksum: hex.EncodeToString(binaryAppend(nil, checksum(&id)))}
	m := newMapping(&id)
	for i := uint64(0); len(v.Indices) < 24; i = m.next() {
		v.Indices = append(v.Indices, i)
	}
	return v
}

func TestMappingVectors(t *testing.T) {
	path := filepath.Join("testdata", "mapping.json")
	if *update {
		var vs []mappingVector
		for _, id := range vectorIDs() {
			vs = append(vs, mappingOf(id))
		}
		b, _ := json.MarshalIndent(vs, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var vs []mappingVector
	if err := json.Unmarshal(b, &vs); err != nil || len(vs) == 0 {
		t.Fatalf("vectors: %v", err)
	}
	for _, v := range vs {
		raw, err := hex.DecodeString(v.ID)
		if err != nil {
			t.Fatal(err)
		}
		got := mappingOf(ID(raw))
		if got.Checksum != v.Checksum || !slicesEqual(got.Indices, v.Indices) {
			t.Fatalf("id %s: got %+v, want %+v", v.ID, got, v)
		}
	}
}

func slicesEqual(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestMappingDensity checks the mapping hits symbol i about 2/(i+2) of the
// time, the density §6.4 specifies.
func TestMappingDensity(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	const n = 20000
	hits := make([]int, 1000)
	for range n {
		id := randomID(rng)
		m := newMapping(&id)
		for i := uint64(0); i < uint64(len(hits)); i = m.next() {
			hits[i]++
		}
	}
	for _, i := range []int{0, 1, 10, 100, 998} {
		want := 2 / float64(i+2) * n
		if got := float64(hits[i]); got < want*0.8-30 || got > want*1.2+30 {
			t.Errorf("symbol %d: %v hits, want about %.0f", i, got, want)
		}
	}
}

// sessionMessages returns the encoded messages of a few small sessions, one
// of each type: the fuzz corpus and testdata/messages.txt.
func sessionMessages(t testing.TB) [][]byte {
	rng := rand.New(rand.NewPCG(3, 3))
	var out [][]byte
	record := func(a, b []ID) {
		ini, _ := NewInitiator(NewMemSet(a), Limits{})
		res, _ := NewResponder(NewMemSet(b), Limits{})
		msgs, _, _ := ini.Next(nil)
		for step := 0; len(msgs) > 0 && step < 8; step++ {
			var next []Message
			for _, m := range msgs {
				out = append(out, m.Encode())
			}
			if step%2 == 0 {
				next, _, _ = res.Next(msgs)
			} else {
				next, _, _ = ini.Next(msgs)
			}
			msgs = next
		}
	}
	a, b := makeSets(rng, 1000, 3, 2)
	record(a, b) // hello, estimate, symbols, result
	a, b = makeSets(rng, 5, 1, 1)
	record(a, b) // hello, manifest, manifest result
	a, _ = makeSets(rng, 600, 0, 0)
	record(a, a) // hello, equal
	record(nil, nil)
	for _, m := range []Message{{Type: TypeMore}, {Type: TypeFallback}} {
		out = append(out, m.Encode())
	}
	return out
}

func TestMessageVectors(t *testing.T) {
	path := filepath.Join("testdata", "messages.txt")
	if *update {
		var buf bytes.Buffer
		buf.WriteString("# one canonical recon message per line, hex; docs/protocol.md §6.5\n")
		for _, m := range sessionMessages(t) {
			buf.WriteString(hex.EncodeToString(m) + "\n")
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	types := map[Type]bool{}
	for _, b := range readMessageVectors(t) {
		m, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(m.Encode(), b) {
			t.Fatal("vector does not re-encode to itself")
		}
		types[m.Type] = true
	}
	if len(types) != len(fields) {
		t.Fatalf("vectors cover %d of %d message types", len(types), len(fields))
	}
}

func readMessageVectors(t testing.TB) [][]byte {
	f, err := os.Open(filepath.Join("testdata", "messages.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func FuzzDecode(f *testing.F) {
	for _, b := range readMessageVectors(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		if !bytes.Equal(m.Encode(), b) {
			t.Fatal("decode→encode changed the bytes")
		}
		if _, err := Decode(b[:len(b)-1]); err == nil {
			t.Fatal("strict prefix decoded")
		}
	})
}

// FuzzResponder feeds a decoded message, as the first and second round, to a
// responder over a small set: no panic, and any error is a protocol or
// decode error.
func FuzzResponder(f *testing.F) {
	for _, b := range readMessageVectors(f) {
		f.Add(b)
	}
	rng := rand.New(rand.NewPCG(8, 8))
	a, _ := makeSets(rng, 700, 0, 0)
	// A result naming IDs the initiator holds, out of order: the seed that
	// reaches the check after "we lack".
	byID := sorted(a)
	outOfOrder := Message{Type: TypeResult, Data2: append(slices.Clone(byID[1][:]), byID[0][:]...)}
	f.Add(outOfOrder.Encode())
	set := NewMemSet(a)
	set.Warm(1024)
	small := NewMemSet(a[:100])
	hello := Message{Type: TypeHello, Count: 650, Digest: Digest{1}}
	sk := set.Sketch()
	near := sketchBytes(&sk, uint64(set.Len()))
	near[1] += 2 // about one difference: the initiator sends symbols
	lim := Limits{MaxItems: 4096}
	// Each machine is brought to a state where it reads what a hostile
	// peer sends next, then given the fuzzed message.
	states := []struct {
		name  string
		setup func() (next func([]Message) ([]Message, bool, error), err error)
	}{
		{"responder, first message", func() (func([]Message) ([]Message, bool, error), error) {
			r, _ := NewResponder(set, lim)
			return r.Next, nil
		}},
		{"responder after hello (symbols or manifest)", func() (func([]Message) ([]Message, bool, error), error) {
			r, _ := NewResponder(set, lim)
			out, _, err := r.Next([]Message{hello})
			return r.Next, errors.Join(err, wantType(out, TypeEstimate))
		}},
		{"responder after its manifest (manifest result)", func() (func([]Message) ([]Message, bool, error), error) {
			r, _ := NewResponder(small, lim)
			out, _, err := r.Next([]Message{hello})
			return r.Next, errors.Join(err, wantType(out, TypeManifest))
		}},
		{"initiator after hello", func() (func([]Message) ([]Message, bool, error), error) {
			i, _ := NewInitiator(set, lim)
			_, _, err := i.Next(nil)
			return i.Next, err
		}},
		{"initiator after symbols (result, more, fallback)", func() (func([]Message) ([]Message, bool, error), error) {
			i, _ := NewInitiator(set, lim)
			i.Next(nil)
			out, _, err := i.Next([]Message{{Type: TypeEstimate, Count: uint64(set.Len()), Data: near}})
			return i.Next, errors.Join(err, wantType(out, TypeSymbols))
		}},
		{"initiator after its manifest (manifest result)", func() (func([]Message) ([]Message, bool, error), error) {
			i, _ := NewInitiator(set, lim)
			i.Next(nil)
			out, _, err := i.Next([]Message{{Type: TypeEstimate, Count: 4000, Data: near}})
			return i.Next, errors.Join(err, wantType(out, TypeManifest))
		}},
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		for _, st := range states {
			next, err := st.setup()
			if err != nil {
				t.Fatalf("%s: setup: %v", st.name, err)
			}
			next([]Message{m})
		}
	})
}

// wantType checks the type of a round a fuzz target's setup produced.
func wantType(out []Message, t Type) error {
	if len(out) == 0 || out[0].Type != t {
		return fmt.Errorf("round %v, want type %d", out, t)
	}
	return nil
}
