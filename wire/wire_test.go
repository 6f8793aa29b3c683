package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"runtime"
	"strings"
	"testing"
)

type sample struct {
	A uint   `cbor:"1,keyasint"`
	B []byte `cbor:"2,keyasint,omitempty"`
	C string `cbor:"3,keyasint,omitempty"`
}

func TestStrictDecoding(t *testing.T) {
	h := func(s string) []byte {
		b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name string
		in   []byte
		want string // what the error mentions; "" for either no error or any
	}{
		{"valid", h("a2 01 05 02 43 616263"), ""},
		{"duplicate key", h("a2 01 05 01 06"), "duplicate"},
		{"unknown field", h("a1 04 01"), "unknown field"},
		{"trailing byte", h("a1 01 05 00"), "trailing"},
		{"indefinite map", h("bf 01 05 ff"), "indefinite"},
		{"indefinite bytes", h("a1 02 5f 41 61 ff"), "indefinite"},
		{"tag", h("a1 01 c1 05"), "tag"},
		{"truncated", h("a2 01 05 02 43 61"), ""},
		{"declared 4 GiB string", h("a1 02 5b 00000001 00000000"), "exceeds"},
		{"declared 2 MiB string", h("a1 03 7a 00200000"), "exceeds"},
		{"invalid utf-8", h("a1 03 62 c328"), "UTF-8"},
		{"empty", nil, ""},
	}
	for _, c := range cases {
		var v sample
		err := Unmarshal(c.in, &v)
		if c.name == "valid" { // the one case that decodes
			if err != nil || v.A != 5 || string(v.B) != "abc" {
				t.Errorf("%s: %v %+v", c.name, err, v)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if !errors.Is(err, ErrDecode) {
			t.Errorf("%s: %v does not wrap ErrDecode", c.name, err)
		}
		if c.want != "" && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v does not mention %q", c.name, err, c.want)
		}
	}
}

func TestNestingBounded(t *testing.T) {
	deep := append(bytes.Repeat([]byte{0x81}, MaxNesting+2), 0x00)
	var v any
	if err := Unmarshal(deep, &v); err == nil {
		t.Fatal("accepted nesting beyond the limit")
	}
}

// TestHugeLengthAllocatesLittle: a declared length far beyond the input is
// refused before anything of that size is allocated.
func TestHugeLengthAllocatesLittle(t *testing.T) {
	in := []byte{0xa1, 0x02, 0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 100 {
		var v sample
		if Unmarshal(in, &v) == nil {
			t.Fatal("accepted")
		}
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("100 refusals allocated %d bytes", grew)
	}
}

func TestCanonical(t *testing.T) {
	good, err := Marshal(sample{A: 5, B: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	var v sample
	if err := UnmarshalCanonical(good, &v); err != nil {
		t.Fatal(err)
	}
	// The same map with its keys in the wrong order, and with a
	// non-shortest integer: same value, other bytes, refused.
	for name, in := range map[string][]byte{
		"key order":    {0xa2, 0x02, 0x41, 'x', 0x01, 0x05},
		"long integer": {0xa2, 0x01, 0x18, 0x05, 0x02, 0x41, 'x'},
	} {
		if err := UnmarshalCanonical(in, &v); err == nil || !strings.Contains(err.Error(), "canonical") {
			t.Errorf("%s: %v", name, err)
		}
		if err := Unmarshal(in, &v); err != nil {
			t.Errorf("%s: the strict (non-canonical) decoder should accept it: %v", name, err)
		}
	}
}

// FuzzUnmarshal: no panic; whatever decodes canonically re-encodes to the
// same bytes, and no strict prefix of it decodes.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range []sample{{A: 1}, {A: 300, B: []byte("abc"), C: "x"}} {
		b, _ := Marshal(s)
		f.Add(b)
	}
	f.Add([]byte{0xbf, 0x01, 0x05, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		var v sample
		if UnmarshalCanonical(in, &v) != nil {
			var any_ any
			Unmarshal(in, &any_)
			return
		}
		again, err := Marshal(v)
		if err != nil || !bytes.Equal(again, in) {
			t.Fatalf("canonical input does not re-encode to itself")
		}
		for i := range in {
			var w sample
			if Unmarshal(in[:i], &w) == nil {
				t.Fatalf("strict prefix of %d bytes decodes", i)
			}
		}
	})
}
