package identity

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"strings"
	"testing"
)

// RFC 8032 §7.1 TEST 1.
const (
	rfcSeed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	rfcPub  = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
)

func rfcKey(t testing.TB) *PrivateKey {
	seed, _ := hex.DecodeString(rfcSeed)
	k, err := NewKeyFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRFC8032Key(t *testing.T) {
	k := rfcKey(t)
	if got := k.ID().Hex(); got != rfcPub {
		t.Fatalf("public key %s, want %s", got, rfcPub)
	}
	sig := k.Sign(nil)
	// RFC 8032 §7.1 TEST 1 signature of the empty message.
	want := "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
	if hex.EncodeToString(sig) != want {
		t.Fatalf("signature %x", sig)
	}
	if !k.ID().Verify(nil, sig) || k.ID().Verify([]byte("x"), sig) {
		t.Fatal("Verify disagrees with the RFC vector")
	}
}

func TestSpellingsParseToOneAddress(t *testing.T) {
	canon := rfcKey(t).ID().String()
	bare := strings.TrimSuffix(canon, ".onion")
	for name, s := range map[string]string{
		"canonical":        canon,
		"no suffix":        bare,
		"upper case":       strings.ToUpper(canon),
		"mixed case":       strings.ToUpper(bare[:20]) + bare[20:] + ".ONION",
		"surrounding tabs": "\t " + canon + "\n",
		"upper no suffix":  strings.ToUpper(bare),
	} {
		id, err := ParseID(s)
		if err != nil {
			t.Errorf("%s: ParseID(%q): %v", name, s, err)
			continue
		}
		if id.String() != canon {
			t.Errorf("%s: got %s, want %s", name, id, canon)
		}
	}
}

func TestParseIDRejects(t *testing.T) {
	canon := rfcKey(t).ID().Onion()
	flip := func(i int) string {
		b := []byte(canon)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	// Rebuild an address with a wrong version byte but a checksum computed for it.
	pub := rfcKey(t).ID().Bytes()
	v2 := append(append([]byte{}, pub...), 0, 0, 0x02)
	cases := []struct{ name, in, want string }{
		{"empty", "", "characters"},
		{"too short", canon[:55], "characters"},
		{"too long", canon + "a", "characters"},
		{"v2 address", "expyuzz4wqqyqhjn", "characters"},
		{"not base32", strings.Repeat("1", 56), "base32"},
		{"checksum typo", flip(40), "checksum"},
		{"key typo", flip(3), ""},
		{"wrong version", strings.ToLower(onionEncoding.EncodeToString(v2)), "version"},
		{"inner space", canon[:10] + " " + canon[11:], ""},
		{"double suffix", canon + ".onion.onion", "characters"},
		{"hostname", "example.com", "characters"},
		{"ip", "127.0.0.1", "characters"},
	}
	for _, c := range cases {
		_, err := ParseID(c.in)
		if err == nil {
			t.Errorf("%s: ParseID(%q) accepted", c.name, c.in)
			continue
		}
		if !errors.Is(err, ErrInvalidID) {
			t.Errorf("%s: error %v does not wrap ErrInvalidID", c.name, err)
		}
		if c.want != "" && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.want)
		}
	}
}

// smallOrderEncodings derives, independently of point.go, every 32-byte
// string that encodes one of the 8 points of small order, canonically or not.
// The points: (0,1) order 1; (0,-1) order 2; (±√-1, 0) order 4; and the four
// order-8 points, whose double has y = 0, i.e. x² = -y², which on the curve
// gives d·y⁴ + 2y² - 1 = 0, so y² = (-1 ± √(1+d)) / d.
func smallOrderEncodings(t *testing.T) [][]byte {
	p := fieldP
	mod := func(v *big.Int) *big.Int { return v.Mod(v, p) }
	var ys []*big.Int
	ys = append(ys, big.NewInt(1), new(big.Int).Sub(p, big.NewInt(1)), big.NewInt(0))
	s := new(big.Int).ModSqrt(mod(new(big.Int).Add(big.NewInt(1), curveD)), p)
	if s == nil {
		t.Fatal("1+d has no square root")
	}
	dInv := new(big.Int).ModInverse(curveD, p)
	for _, num := range []*big.Int{mod(new(big.Int).Sub(s, big.NewInt(1))), mod(new(big.Int).Sub(new(big.Int).Neg(s), big.NewInt(1)))} {
		y2 := mod(new(big.Int).Mul(num, dInv))
		if y := new(big.Int).ModSqrt(y2, p); y != nil {
			ys = append(ys, y, mod(new(big.Int).Neg(y)))
		}
	}
	if len(ys) != 5 {
		t.Fatalf("derived %d y values, want 5 (1, -1, 0 and two order-8 values)", len(ys))
	}
	enc := func(y *big.Int, sign byte) []byte {
		b := make([]byte, 32)
		y.FillBytes(b)
		for i, j := 0, 31; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
		b[31] |= sign << 7
		return b
	}
	var out [][]byte
	for _, y := range ys {
		// Both sign bits: for x = 0 the set sign bit is a non-canonical "-0".
		out = append(out, enc(y, 0), enc(y, 1))
		// y + p still fits in 255 bits only for y < 19: non-canonical y.
		if y.Cmp(big.NewInt(19)) < 0 {
			yp := new(big.Int).Add(y, p)
			out = append(out, enc(yp, 0), enc(yp, 1))
		}
	}
	return out
}

func TestSmallOrderKeysRefused(t *testing.T) {
	derived := smallOrderEncodings(t)
	seen := map[string]bool{}
	for _, b := range derived {
		seen[hex.EncodeToString(b)] = true
	}
	if len(seen) != 14 {
		t.Fatalf("derived %d distinct encodings, want 14", len(seen))
	}
	// The vector file must list exactly the derived set.
	f, err := os.Open("testdata/low_order.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		listed[strings.Fields(line)[0]] = true
	}
	if fmt.Sprint(len(listed)) != "14" {
		t.Fatalf("testdata lists %d encodings, want 14", len(listed))
	}
	for h := range seen {
		if !listed[h] {
			t.Errorf("derived %s missing from testdata/low_order.txt", h)
		}
	}
	for h := range listed {
		b, _ := hex.DecodeString(h)
		if _, err := NewID(b); !errors.Is(err, ErrInvalidID) {
			t.Errorf("NewID(%s) = %v, want refusal", h, err)
		}
		// The onion form of such a key is refused as well.
		sum := onionChecksum(b)
		addr := strings.ToLower(onionEncoding.EncodeToString(append(append(b, sum[:2]...), onionVersion)))
		if _, err := ParseID(addr); !errors.Is(err, ErrInvalidID) {
			t.Errorf("ParseID(%s) accepted a small-order key", addr)
		}
	}
	// Why it matters: the identity point verifies a forged signature
	// (R = identity, S = 0) on any message in crypto/ed25519.
	id1, _ := hex.DecodeString("0100000000000000000000000000000000000000000000000000000000000000")
	sig := append(append([]byte{}, id1...), make([]byte, 32)...)
	if !ed25519.Verify(id1, []byte("anything"), sig) {
		t.Log("note: this Go version no longer accepts the small-order forgery")
	}
	if (ID{key: [32]byte(id1)}).IsZero() {
		t.Fatal("unexpected zero")
	}
}

func TestRandomKeysAreValidIDs(t *testing.T) {
	r := bytes.NewReader(bytes.Repeat([]byte{7, 1, 9, 200, 33}, 2000))
	for i := 0; i < 100; i++ {
		k, err := GenerateKey(r)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseID(k.ID().String())
		if err != nil || back != k.ID() {
			t.Fatalf("round trip: %v", err)
		}
	}
}

func TestOffCurveRefused(t *testing.T) {
	// y = 2 has no x on the curve.
	b := make([]byte, 32)
	b[0] = 2
	if _, err := NewID(b); err == nil || !strings.Contains(err.Error(), "not a point") {
		t.Fatalf("NewID(y=2) = %v", err)
	}
	if _, err := NewID(b[:31]); err == nil {
		t.Fatal("accepted 31 bytes")
	}
}

func TestSafetyNumberSymmetric(t *testing.T) {
	a := rfcKey(t).ID()
	r := bytes.NewReader(bytes.Repeat([]byte{42}, 64))
	bk, _ := GenerateKey(r)
	b := bk.ID()
	ab, ba := SafetyNumber(a, b), SafetyNumber(b, a)
	if ab != ba {
		t.Fatalf("not symmetric: %s vs %s", ab, ba)
	}
	if len(strings.Fields(ab)) != 12 || len(ab) != 12*5+11 {
		t.Fatalf("bad shape %q", ab)
	}
	if ab == SafetyNumber(a, a) || Fingerprint(a) == Fingerprint(b) {
		t.Fatal("different pairs gave the same number")
	}
}

func TestPrivateKeyRedacts(t *testing.T) {
	k := rfcKey(t)
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "key", k, "peer", k.ID())
	outs := []string{
		fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %x %q", k, k, k, k, k, k), k.String(), buf.String(),
	}
	for _, o := range outs {
		if strings.Contains(o, rfcSeed[:16]) || strings.Contains(strings.ToLower(o), "9d61b1") ||
			strings.Contains(o, rfcPub[:16]) {
			t.Fatalf("key material in %q", o)
		}
		if !strings.Contains(o, "REDACTED") {
			t.Fatalf("no redaction marker in %q", o)
		}
	}
	if strings.Contains(buf.String(), k.ID().Onion()) {
		t.Fatal("full address in log line")
	}
	k2 := rfcKey(t)
	other, _ := GenerateKey(bytes.NewReader(bytes.Repeat([]byte{1}, 32)))
	if !k.Equal(k2) || k.Equal(other) {
		t.Fatal("Equal wrong")
	}
}

func TestTorExpandedKey(t *testing.T) {
	// The expanded key's first half is the clamped scalar; multiplying the
	// base point by it must give the public key (checked against the real
	// tor in onion's tests too).
	k := rfcKey(t)
	x := k.TorExpandedKey()
	if x[0]&7 != 0 || x[31]&128 != 0 || x[31]&64 == 0 {
		t.Fatalf("not clamped: %x", x[:32])
	}
	want, _ := os.ReadFile("testdata/tor_expanded_key.hex")
	if got := hex.EncodeToString(x[:]); got != strings.TrimSpace(string(want)) {
		t.Fatalf("expanded key for the RFC 8032 seed:\n got %s\nwant %s", got, want)
	}
}
