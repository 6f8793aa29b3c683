package ioc

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/wire"
)

func fullRecord(t testing.TB) Record {
	t.Helper()
	r := Record{Type: TypeURL, Value: "HTTP://Evil.example:80/x", TLP: TLPAmber, Confidence: 0,
		Tags: []string{"b", " a ", "b"}, Description: "dropper", ValidFrom: time.UnixMilli(1_700_000_000_123),
		ValidUntil: time.UnixMilli(1_800_000_000_000), References: []string{"https://r.example/2", "https://r.example/1"},
		Recipients: []identity.ID{testKey(t, 3).ID(), testKey(t, 2).ID()}, Informational: true}
	if err := r.Normalize(); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRecordRoundTrip(t *testing.T) {
	r := fullRecord(t)
	if r.Value != "http://evil.example/x" || strings.Join(r.Tags, ",") != "a,b" || r.Recipients[0].Compare(r.Recipients[1]) >= 0 {
		t.Fatalf("not normalised: %+v", r)
	}
	b, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := got.Encode()
	if !bytes.Equal(again, b) || got.ContentID() != r.ContentID() || got.Confidence != 0 || !got.ValidFrom.Equal(r.ValidFrom) {
		t.Fatalf("round trip changed the record: %+v", got)
	}
	// No confidence stated is distinct from confidence 0.
	r.Confidence = NoConfidence
	b2, _ := r.Encode()
	if got, _ := Decode(b2); got.Confidence != NoConfidence || bytes.Equal(b, b2) {
		t.Fatal("NoConfidence not kept apart from 0")
	}
}

func TestDecodeRejects(t *testing.T) {
	enc := func(w wireRecord) []byte {
		b, err := wire.Marshal(&w)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rec := testKey(t, 2).ID().Bytes()
	good := wireRecord{Type: uint8(TypeIPv4), Value: "1.2.3.4", TLP: uint8(TLPClear)}
	if _, err := Decode(enc(good)); err != nil {
		t.Fatalf("good record refused: %v", err)
	}
	c101 := uint8(101)
	cases := map[string][]byte{
		"not normalised":         enc(wireRecord{Type: uint8(TypeDomain), Value: "A.example", TLP: 1}),
		"bad value":              enc(wireRecord{Type: uint8(TypeIPv4), Value: "010.0.0.1", TLP: 1}),
		"unknown type":           enc(wireRecord{Type: 99, Value: "x", TLP: 1}),
		"unknown tlp":            enc(wireRecord{Type: 1, Value: "1.2.3.4", TLP: 6}),
		"zero tlp":               enc(wireRecord{Type: 1, Value: "1.2.3.4"}),
		"confidence 101":         enc(wireRecord{Type: 1, Value: "1.2.3.4", TLP: 1, Confidence: &c101}),
		"amber no recipients":    enc(wireRecord{Type: 1, Value: "1.2.3.4", TLP: uint8(TLPAmber)}),
		"green with recipients":  enc(wireRecord{Type: 1, Value: "1.2.3.4", TLP: uint8(TLPGreen), Recipients: [][]byte{rec}}),
		"bad recipient":          enc(wireRecord{Type: 1, Value: "1.2.3.4", TLP: uint8(TLPRed), Recipients: [][]byte{{1, 2}}}),
		"duplicate recipients":   enc(wireRecord{Type: 1, Value: "1.2.3.4", TLP: uint8(TLPRed), Recipients: [][]byte{rec, rec}}),
		"unsorted tags":          enc(wireRecord{Type: 1, Value: "1.2.3.4", TLP: 1, Tags: []string{"b", "a"}}),
		"padded tag":             enc(wireRecord{Type: 1, Value: "1.2.3.4", TLP: 1, Tags: []string{" a"}}),
		"until before from":      enc(wireRecord{Type: 1, Value: "1.2.3.4", TLP: 1, ValidFrom: 10, ValidUntil: 5}),
		"time out of range":      enc(wireRecord{Type: 1, Value: "1.2.3.4", TLP: 1, ValidUntil: 1 << 60}),
		"trailing byte":          append(enc(good), 0),
		"truncated":              enc(good)[:5],
		"non-canonical int":      {0xa3, 0x01, 0x18, 0x01, 0x02, 0x67, '1', '.', '2', '.', '3', '.', '4', 0x03, 0x01},
		"unknown key":            {0xa4, 0x01, 0x01, 0x02, 0x67, '1', '.', '2', '.', '3', '.', '4', 0x03, 0x01, 0x18, 0x63, 0x00},
		"empty":                  nil,
		"over the payload limit": make([]byte, item.MaxPayload+1),
	}
	for name, b := range cases {
		if _, err := Decode(b); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
	// No strict prefix of a valid payload decodes.
	full, _ := func() ([]byte, error) { r := fullRecord(t); return r.Encode() }()
	for i := range full {
		if _, err := Decode(full[:i]); err == nil {
			t.Fatalf("prefix of %d bytes decoded", i)
		}
	}
}

func TestItem(t *testing.T) {
	k := testKey(t, 1)
	r, err := NewRecord(TypeSHA256, strings.Repeat("AB", 32), TLPGreen)
	if err != nil {
		t.Fatal(err)
	}
	it, err := NewItem(k, item.Space{7}, time.UnixMilli(1_700_000_000_000), &r)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := item.Decode(it.Bytes())
	if err != nil || dec.Verify(time.UnixMilli(1_700_000_000_000)) != nil {
		t.Fatalf("item does not verify: %v", err)
	}
	got, err := FromItem(dec)
	if err != nil || got.ContentID() != r.ContentID() || dec.Kind() != item.KindIOC {
		t.Fatalf("FromItem: %+v, %v", got, err)
	}
	if LogicalKey(dec, &got).Name != string(r.ContentID().bytes()) {
		t.Fatal("logical key is not the content ID")
	}
	red := fullRecord(t)
	if _, err := NewItem(k, item.Space{}, time.Now(), &red); !errors.Is(err, ErrSealRequired) {
		t.Fatalf("restricted record signed in the clear: %v", err)
	}
	// A restricted payload smuggled into a plaintext item is refused.
	p, _ := red.Encode()
	bad, _ := item.New(k, item.KindIOC, item.Space{}, time.Now(), p)
	if _, err := FromItem(bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("restricted record in the clear accepted: %v", err)
	}
	other, _ := item.New(k, item.KindIOCSealed+1, item.Space{}, time.Now(), p)
	if _, err := FromItem(other); !errors.Is(err, ErrInvalid) {
		t.Fatal("wrong kind accepted")
	}
	sealed, _ := item.New(k, item.KindIOCSealed, item.Space{}, time.Now(), []byte("opaque"))
	if _, err := FromItem(sealed); !errors.Is(err, ErrSealRequired) {
		t.Fatalf("sealed item read as plaintext: %v", err)
	}
	// FromSealed: the stanza list must be the record's recipients.
	if got, err := FromSealed(sealed, p, []identity.ID{red.Recipients[1], red.Recipients[0]}); err != nil || got.ContentID() != red.ContentID() {
		t.Fatalf("FromSealed: %v", err)
	}
	for name, stanzas := range map[string][]identity.ID{
		"missing one": red.Recipients[:1],
		"extra one":   append(slices.Clone(red.Recipients), testKey(t, 9).ID()),
	} {
		if _, err := FromSealed(sealed, p, stanzas); !errors.Is(err, ErrInvalid) {
			t.Errorf("FromSealed with stanzas %s: %v", name, err)
		}
	}
	green, _ := r.Encode()
	if _, err := FromSealed(sealed, green, nil); !errors.Is(err, ErrInvalid) {
		t.Error("FromSealed accepted a GREEN record")
	}
	if _, err := FromSealed(dec, p, red.Recipients); !errors.Is(err, ErrInvalid) {
		t.Error("FromSealed accepted a plaintext-kind item")
	}
	if a, b := SealAAD(item.Space{1}, k.ID()), SealAAD(item.Space{2}, k.ID()); bytes.Equal(a, b) {
		t.Error("SealAAD ignores the space")
	}
}

func (c ContentID) bytes() []byte { return c[:] }

// TestVectors checks testdata/payload_vectors.txt: each line is a hex
// payload and either "ok <content id>" or "invalid".
func TestVectors(t *testing.T) {
	lines := readVectors(t)
	if len(lines) < 3 {
		t.Fatal("too few vectors")
	}
	for _, v := range lines {
		r, err := Decode(v.payload)
		switch {
		case v.expect == "invalid" && err == nil:
			t.Errorf("%s: decoded, want invalid", v.name)
		case v.expect != "invalid" && err != nil:
			t.Errorf("%s: %v", v.name, err)
		case v.expect != "invalid" && "ok "+r.ContentID().String() != v.expect:
			t.Errorf("%s: content ID %s, want %s", v.name, r.ContentID(), v.expect)
		}
	}
}

type vector struct {
	name, expect string
	payload      []byte
}

func readVectors(t testing.TB) []vector {
	b, err := os.ReadFile(filepath.Join("testdata", "payload_vectors.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out []vector
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		f := strings.SplitN(l, " ", 3)
		if len(f) != 3 {
			t.Fatalf("bad vector line %q", l)
		}
		p, err := hexDecode(f[1])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, vector{name: f[0], payload: p, expect: f[2]})
	}
	return out
}

func FuzzDecode(f *testing.F) {
	for _, v := range readVectors(f) {
		f.Add(v.payload)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err != nil {
			return
		}
		again, err := r.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("decoded record does not re-encode to the same bytes: %v", err)
		}
	})
}

func hexDecode(s string) ([]byte, error) { return hex.DecodeString(s) }

var update = flag.Bool("update", false, "rewrite testdata/payload_vectors.txt")

// TestUpdateVectors regenerates the vector file with -update; without it,
// it checks that the file is what the generator would write.
func TestUpdateVectors(t *testing.T) {
	var b strings.Builder
	b.WriteString("# IOC payload vectors (docs/protocol.md §5.8): name, hex payload, then \"ok <content id>\" or \"invalid\".\n")
	ok := func(name string, r Record) {
		p, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %x ok %s\n", name, p, r.ContentID())
	}
	bad := func(name string, w wireRecord) {
		p, err := wire.Marshal(&w)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %x invalid\n", name, p)
	}
	r, _ := NewRecord(TypeIPv4, "192.0.2.1", TLPClear)
	ok("clear-ipv4", r)
	r, _ = NewRecord(TypeDomain, "Bücher.example", TLPGreen)
	r.Confidence, r.Tags = 80, []string{"apt", "c2"}
	ok("green-idn-domain", r)
	ok("amber-url-full", fullRecord(t))
	r, _ = NewRecord(TypeCVE, "cve-2021-44228", TLPClear)
	r.Informational = true
	ok("clear-cve-informational", r)
	bad("not-normalised", wireRecord{Type: uint8(TypeDomain), Value: "A.example", TLP: 1})
	bad("octal-ipv4", wireRecord{Type: uint8(TypeIPv4), Value: "010.0.0.1", TLP: 1})
	bad("amber-without-recipients", wireRecord{Type: uint8(TypeIPv4), Value: "192.0.2.1", TLP: uint8(TLPAmber)})
	bad("cidr-host-bits", wireRecord{Type: uint8(TypeCIDR), Value: "10.1.0.0/8", TLP: 1})
	// Key 12 (the collection a sealed record was published in): only in
	// restricted records.
	r = Record{Type: TypeIPv4, Value: "192.0.2.1", TLP: TLPAmber, Confidence: NoConfidence,
		Recipients: fullRecord(t).Recipients, Collection: "ops-2026"}
	if err := r.Normalize(); err != nil {
		t.Fatal(err)
	}
	ok("amber-collection", r)
	bad("clear-collection", wireRecord{Type: uint8(TypeIPv4), Value: "192.0.2.1", TLP: 1, Collection: "ops-2026"})
	path := filepath.Join("testdata", "payload_vectors.txt")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(path)
	if err != nil || string(have) != b.String() {
		t.Fatalf("%s is not what the generator writes (run go test -run TestUpdateVectors -update): %v", path, err)
	}
}
