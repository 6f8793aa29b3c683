package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"errors"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

// addAffine adds two points with the affine twisted Edwards formulas (a = −1):
// the slow, obviously right reference for point.add.
func addAffine(x1, y1, x2, y2 *big.Int) (*big.Int, *big.Int) {
	p := fieldP
	x1y2 := new(big.Int).Mul(x1, y2)
	y1x2 := new(big.Int).Mul(y1, x2)
	y1y2 := new(big.Int).Mul(y1, y2)
	x1x2 := new(big.Int).Mul(x1, x2)
	dxy := new(big.Int).Mul(curveD, x1x2)
	dxy.Mul(dxy, y1y2).Mod(dxy, p)
	nx := new(big.Int).Add(x1y2, y1x2)
	dx := new(big.Int).Add(bigOne, dxy)
	nx.Mul(nx, new(big.Int).ModInverse(dx, p)).Mod(nx, p)
	ny := new(big.Int).Add(y1y2, x1x2)
	dy := new(big.Int).Sub(bigOne, dxy)
	dy.Mod(dy, p)
	ny.Mul(ny, new(big.Int).ModInverse(dy, p)).Mod(ny, p)
	return nx, ny
}

// mulAffine is [k](x, y) by double-and-add on affine coordinates.
func mulAffine(k, x, y *big.Int) (*big.Int, *big.Int) {
	qx, qy := big.NewInt(0), big.NewInt(1)
	for i := k.BitLen() - 1; i >= 0; i-- {
		qx, qy = addAffine(qx, qy, qx, qy)
		if k.Bit(i) == 1 {
			qx, qy = addAffine(qx, qy, x, y)
		}
	}
	return qx, qy
}

// decompress returns the affine coordinates of a canonical encoding (RFC
// 8032 §5.1.3), with recoverX as the square root.
func decompress(pub []byte) (x, y *big.Int, ok bool) {
	y = new(big.Int).SetBytes(reversed(pub))
	sign := y.Bit(255)
	y.SetBit(y, 255, 0)
	if y.Cmp(fieldP) >= 0 {
		return nil, nil, false
	}
	x, ok = recoverX(y)
	if !ok {
		return nil, nil, false
	}
	if x.Bit(0) != sign {
		x.Sub(fieldP, x).Mod(x, fieldP)
	}
	return x, y, true
}

func encodePoint(x, y *big.Int) []byte {
	b := make([]byte, 32)
	y.FillBytes(b)
	for i, j := 0, 31; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	b[31] |= byte(x.Bit(0)) << 7
	return b
}

// smallOrderPoints returns the 8 points of small order as affine
// coordinates, from the canonical encodings smallOrderEncodings derives.
func smallOrderPoints(t *testing.T) [][2]*big.Int {
	var pts [][2]*big.Int
	for _, b := range smallOrderEncodings(t) {
		x, y, ok := decompress(b)
		if !ok || !bytes.Equal(encodePoint(x, y), b) {
			continue // a non-canonical encoding of a point already listed
		}
		pts = append(pts, [2]*big.Int{x, y})
	}
	if len(pts) != 8 {
		t.Fatalf("%d small-order points, want 8", len(pts))
	}
	return pts
}

func TestFieldMatchesBig(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	max256 := new(big.Int).Sub(new(big.Int).Lsh(bigOne, 256), bigOne)
	edges := []*big.Int{big.NewInt(0), big.NewInt(1), big.NewInt(37), big.NewInt(38),
		new(big.Int).Sub(fieldP, bigOne), fieldP, new(big.Int).Add(fieldP, bigOne), max256,
		new(big.Int).Sub(max256, big.NewInt(37)), new(big.Int).Lsh(bigOne, 255)}
	var vals []*big.Int
	vals = append(vals, edges...)
	for range 300 {
		var w [4]uint64
		for i := range w {
			w[i] = r.Uint64()
		}
		vals = append(vals, fe(w).big())
	}
	mod := func(v *big.Int) *big.Int { return v.Mod(v, fieldP) }
	for i, a := range vals {
		for _, b := range vals[max(0, i-12) : i+1] {
			fa, fb := feFromBig(a), feFromBig(b)
			for name, c := range map[string]struct{ got, want *big.Int }{
				"add": {fa.add(fb).big(), mod(new(big.Int).Add(a, b))},
				"sub": {fa.sub(fb).big(), mod(new(big.Int).Sub(a, b))},
				"mul": {fa.mul(fb).big(), mod(new(big.Int).Mul(a, b))},
			} {
				if mod(c.got).Cmp(c.want) != 0 {
					t.Fatalf("%s(%x, %x) = %x, want %x mod p", name, a, b, c.got, c.want)
				}
			}
		}
	}
}

// TestPrimeOrderMatchesReference compares checkPrimeOrder with [ℓ]P computed
// on affine coordinates, over random points (7 in 8 of which have a torsion
// component), real keys, and real keys plus each small-order point.
func TestPrimeOrderMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var inputs [][]byte
	for len(inputs) < 120 {
		b := make([]byte, 32)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if checkPublicKey(b) == nil {
			inputs = append(inputs, b)
		}
	}
	torsion := smallOrderPoints(t)
	for i := range 16 {
		k, err := GenerateKey(bytes.NewReader(bytes.Repeat([]byte{byte(i), 77}, 16)))
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, k.ID().Bytes())
		ax, ay, _ := decompress(k.ID().Bytes())
		tp := torsion[i%8]
		inputs = append(inputs, encodePoint(addAffine(ax, ay, tp[0], tp[1])))
	}
	accepted, refused := 0, 0
	for _, b := range inputs {
		x, y, ok := decompress(b)
		if !ok {
			t.Fatalf("%x: not decompressed", b)
		}
		lx, ly := mulAffine(groupOrder, x, y)
		wantOK := lx.Sign() == 0 && ly.Cmp(bigOne) == 0
		err := checkPrimeOrder(b)
		if (err == nil) != wantOK {
			t.Fatalf("%x: checkPrimeOrder = %v, reference says prime order: %v", b, err, wantOK)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidID) || !strings.Contains(err.Error(), "torsion") {
				t.Fatalf("%x: %v", b, err)
			}
			refused++
		} else {
			accepted++
		}
	}
	if accepted < 16+5 || refused < 16+60 {
		t.Fatalf("accepted %d, refused %d: the inputs do not exercise both sides", accepted, refused)
	}
}

// signRaw signs msg for the public key bytes pub with the secret scalar a
// and nonce r, as RFC 8032 §5.1.6 does but with pub taken as given: how the
// holder of a crafted key signs.
func signRaw(a, r *big.Int, pub, msg []byte) []byte {
	bx, by, _ := decompress(basePointEnc)
	R := encodePoint(mulAffine(r, bx, by))
	h := sha512.Sum512(append(append(append([]byte{}, R...), pub...), msg...))
	k := new(big.Int).SetBytes(reversed(h[:]))
	k.Mod(k, groupOrder)
	S := new(big.Int).Mul(k, a)
	S.Add(S, r).Mod(S, groupOrder)
	sb := make([]byte, 32)
	S.FillBytes(sb)
	return append(R, reversed(sb)...)
}

var basePointEnc = func() []byte {
	b := bytes.Repeat([]byte{0x66}, 32)
	b[0] = 0x58
	return b
}()

func reversed(b []byte) []byte {
	out := make([]byte, len(b))
	for i := range b {
		out[len(b)-1-i] = b[i]
	}
	return out
}

// hashScalar is k = SHA-512(R ‖ A ‖ M) mod ℓ.
func hashScalar(sig, pub, msg []byte) *big.Int {
	h := sha512.Sum512(append(append(append([]byte{}, sig[:32]...), pub...), msg...))
	k := new(big.Int).SetBytes(reversed(h[:]))
	return k.Mod(k, groupOrder)
}

// TestMixedOrderKeyRefused: a real key plus a point of order 8 is a curve
// point of large order that checkPublicKey passes; NewID refuses it. Its
// holder knows the scalar a of the prime-order part and signs as usual;
// Go's cofactorless verifier then accepts exactly the signatures whose k is
// a multiple of 8 (so that [k]T vanishes), while a cofactored verifier
// (ZIP-215) accepts them all: the divergence docs/protocol.md §1.3 rules out
// by refusing the key.
func TestMixedOrderKeyRefused(t *testing.T) {
	k := rfcKey(t)
	ax, ay, _ := decompress(k.ID().Bytes())
	pts := smallOrderPoints(t)
	var t8 [2]*big.Int
	for _, p := range pts {
		if ox, oy := mulAffine(big.NewInt(4), p[0], p[1]); !(ox.Sign() == 0 && oy.Cmp(bigOne) == 0) {
			t8 = p
			break
		}
	}
	if t8[0] == nil {
		t.Fatal("no point of order 8")
	}
	mixed := encodePoint(addAffine(ax, ay, t8[0], t8[1]))
	if err := checkPublicKey(mixed); err != nil {
		t.Fatalf("checkPublicKey refused the mixed-order key: %v", err)
	}
	if _, err := NewID(mixed); err == nil || !strings.Contains(err.Error(), "torsion") {
		t.Fatalf("NewID(mixed-order key) = %v, want a torsion refusal", err)
	}
	h := sha512.Sum512(k.Seed())
	h[0] &= 248
	h[31] &= 127
	h[31] |= 64
	a := new(big.Int).SetBytes(reversed(h[:32]))
	accepted := 0
	for i := range 64 {
		msg := []byte{byte(i)}
		sig := signRaw(a, big.NewInt(int64(1000+i)), mixed, msg)
		want := new(big.Int).Mod(hashScalar(sig, mixed, msg), big.NewInt(8)).Sign() == 0
		if got := ed25519.Verify(mixed, msg, sig); got != want {
			t.Fatalf("message %d: Go's Verify = %v, want %v (k mod 8 = 0: %v)", i, got, want, want)
		}
		if got := (ID{key: [32]byte(mixed)}).Verify(msg, sig); got != want {
			t.Fatalf("message %d: ID.Verify on an unchecked ID = %v, want %v", i, got, want)
		}
		if want {
			accepted++
		}
	}
	if accepted == 0 || accepted == 64 {
		t.Fatalf("%d of 64 accepted: the test does not show the split", accepted)
	}
}

func BenchmarkCheckPrimeOrder(b *testing.B) {
	pub := rfcKey(b).ID().Bytes()
	sig := rfcKey(b).Sign([]byte("m"))
	b.Run("checkPublicKey", func(b *testing.B) {
		for range b.N {
			_ = checkPublicKey(pub)
		}
	})
	b.Run("checkPrimeOrder", func(b *testing.B) {
		for range b.N {
			_ = checkPrimeOrder(pub)
		}
	})
	b.Run("ed25519.Verify (reference)", func(b *testing.B) {
		for range b.N {
			ed25519.Verify(pub, []byte("m"), sig)
		}
	})
}
