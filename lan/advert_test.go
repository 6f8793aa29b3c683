package lan

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// seededRand is a deterministic randomness source for tests.
func seededRand(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	s[0] = byte(seed)
	return rand.NewChaCha8(s)
}

func TestAdvertTokenVector(t *testing.T) {
	// docs/protocol.md §12.3: a fixed secret, window and role; the value
	// was computed once and pins the construction (label, byte order,
	// role byte, truncation), checked against Python's hmac module:
	// hmac.new(b"\x42"*32, b"ghostwire-lan-advert" + struct.pack(">Q",
	// 493000) + b"\x01", hashlib.sha256).digest()[:10].
	secret := bytes.Repeat([]byte{0x42}, 32)
	got := advertToken(secret, 493000, true)
	if want := "47a92e85bc23cc276cbb"; hex.EncodeToString(got[:]) != want {
		t.Errorf("advertToken = %x, want %s", got[:], want)
	}
	if want := "i6us5bn4epgco3f3"; got.String() != want {
		t.Errorf("token text %s, want %s", got, want)
	}
}

// TestAdvertTokenRoles: the two sides of a pair put different tokens in
// their adverts (or an observer would see the pair), and a token changes
// with every window.
func TestAdvertTokenRoles(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, 32)
	w := window(time.Date(2026, 12, 3, 13, 30, 0, 0, time.UTC))
	low, high := advertToken(secret, w, true), advertToken(secret, w, false)
	if low == high {
		t.Fatal("both sides of a pair advertise the same token")
	}
	if next := advertToken(secret, w+1, true); next == low {
		t.Fatal("the token did not change with the window")
	}
	if w != window(time.Date(2026, 12, 3, 13, 59, 59, 0, time.UTC)) || w == window(time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)) {
		t.Fatal("windows are not whole hours")
	}
}

// TestNewAdvertPads: an advert carries a whole bucket of tokens, real
// ones among random ones, sorted, and round-trips through its TXT form.
func TestNewAdvertPads(t *testing.T) {
	r := seededRand(1)
	for _, real := range []int{0, 1, 7, 8, 9, 39, 40, 41, 100} {
		toks := make([]Token, real)
		for i := range toks {
			r.Read(toks[i][:])
		}
		adv, err := newAdvert(toks, r)
		if err != nil {
			t.Fatal(err)
		}
		want := max(tokenBucket, (min(real, MaxTokens)+tokenBucket-1)/tokenBucket*tokenBucket)
		if len(adv.Tokens) != want {
			t.Errorf("%d real tokens: advert has %d, want %d", real, len(adv.Tokens), want)
		}
		for _, tok := range toks[:min(real, MaxTokens)] {
			if !adv.Has(tok) {
				t.Errorf("%d real tokens: advert lacks %s", real, tok)
			}
		}
		back, err := ParseAdvert(adv.Text())
		if err != nil || !slices.Equal(back.Tokens, adv.Tokens) {
			t.Errorf("%d real tokens: round trip = %v, %v", real, back, err)
		}
	}
}

func TestParseAdvert(t *testing.T) {
	tok := func(b byte) string { return "t=" + Token(bytes.Repeat([]byte{b}, TokenSize)).String() }
	many := []string{"v=1"}
	for i := range MaxTokens + 1 {
		many = append(many, tok(byte(i)))
	}
	cases := []struct {
		name string
		txt  []string
		ok   bool
	}{
		{"one token", []string{"v=1", tok(1)}, true},
		{"ascending", []string{"v=1", tok(1), tok(2), tok(3)}, true},
		{"max tokens", many[:MaxTokens+1], true},
		{"max+1 tokens", many, false},
		{"no version", []string{tok(1)}, false},
		{"version not first", []string{tok(1), "v=1"}, false},
		{"other version", []string{"v=2", tok(1)}, false},
		{"no tokens", []string{"v=1"}, false},
		{"empty", nil, false},
		{"duplicate", []string{"v=1", tok(1), tok(1)}, false},
		{"descending", []string{"v=1", tok(2), tok(1)}, false},
		{"unknown key", []string{"v=1", tok(1), "name=alice"}, false},
		{"upper case", []string{"v=1", strings.ToUpper(tok(1)[2:])}, false},
		{"short token", []string{"v=1", tok(1)[:len(tok(1))-1]}, false},
		{"long token", []string{"v=1", tok(1) + "a"}, false},
		{"bad base32", []string{"v=1", "t=" + strings.Repeat("1", tokenLen)}, false},
		{"padding", []string{"v=1", "t=" + strings.Repeat("a", tokenLen-1) + "="}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			adv, err := ParseAdvert(c.txt)
			if (err == nil) != c.ok {
				t.Fatalf("ParseAdvert = %v, %v; want ok=%v", adv, err, c.ok)
			}
			if err != nil && !errors.Is(err, errAdvert) {
				t.Fatalf("error %v does not wrap errAdvert", err)
			}
			if err == nil && !slices.Equal(adv.Text(), c.txt) {
				t.Fatalf("Text(ParseAdvert(x)) = %q, want %q", adv.Text(), c.txt)
			}
		})
	}
}

// TestNoPrefixParses: no strict prefix of a valid advert's bytes, cut
// inside its last string, is accepted.
func TestNoPrefixParses(t *testing.T) {
	adv, err := newAdvert(nil, seededRand(2))
	if err != nil {
		t.Fatal(err)
	}
	txt := adv.Text()
	last := txt[len(txt)-1]
	for i := range len(last) {
		cut := append(slices.Clone(txt[:len(txt)-1]), last[:i])
		if _, err := ParseAdvert(cut); err == nil {
			t.Fatalf("advert cut to %d bytes of its last string parsed", i)
		}
	}
}

func TestRandomLabel(t *testing.T) {
	r := seededRand(3)
	a, err := randomLabel(r)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := randomLabel(r)
	if len(a) != 16 || a == b || strings.Trim(a, "abcdefghijklmnopqrstuvwxyz234567") != "" {
		t.Fatalf("labels %q, %q: want two different 16-character base32 labels", a, b)
	}
}
