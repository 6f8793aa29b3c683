package identity

import (
	"bytes"
	"errors"
	"math/big"
	"math/rand/v2"
	"testing"
)

var (
	sqrtM1, _ = new(big.Int).SetString("19681161376707505956807079304988542015446066515923890162744021073123829784752", 10)
	expSqrt   = new(big.Int).Rsh(new(big.Int).Add(fieldP, big.NewInt(3)), 3) // (p+3)/8
)

// slowCheck is the reference: decompress the point exactly as RFC 8032
// §5.1.3 does and test [8]P == identity.
func slowCheck(pub []byte) error {
	var be [32]byte
	for i := range 32 {
		be[i] = pub[31-i]
	}
	sign := be[0] >> 7
	be[0] &= 0x7f
	y := new(big.Int).SetBytes(be[:])
	if y.Cmp(fieldP) >= 0 {
		return ErrInvalidID
	}
	x, ok := recoverX(y)
	if !ok || (x.Sign() == 0 && sign == 1) {
		return ErrInvalidID
	}
	for range 3 {
		x, y = double(x, y)
	}
	if x.Sign() == 0 && y.Cmp(bigOne) == 0 {
		return ErrInvalidID
	}
	return nil
}

func recoverX(y *big.Int) (*big.Int, bool) {
	p := fieldP
	y2 := new(big.Int).Mul(y, y)
	u := new(big.Int).Sub(y2, bigOne)
	u.Mod(u, p)
	v := new(big.Int).Mul(curveD, y2)
	v.Add(v, bigOne).Mod(v, p)
	x2 := new(big.Int).ModInverse(v, p)
	x2.Mul(x2, u).Mod(x2, p)
	if x2.Sign() == 0 {
		return new(big.Int), true
	}
	x := new(big.Int).Exp(x2, expSqrt, p)
	if new(big.Int).Mod(new(big.Int).Mul(x, x), p).Cmp(x2) != 0 {
		x.Mul(x, sqrtM1).Mod(x, p)
	}
	if new(big.Int).Mod(new(big.Int).Mul(x, x), p).Cmp(x2) != 0 {
		return nil, false
	}
	return x, true
}

func double(x, y *big.Int) (*big.Int, *big.Int) {
	p := fieldP
	xx := new(big.Int).Mul(x, x)
	yy := new(big.Int).Mul(y, y)
	nx := new(big.Int).Mul(x, y)
	nx.Lsh(nx, 1)
	dx := new(big.Int).Sub(yy, xx)
	dx.Mod(dx, p)
	nx.Mul(nx, new(big.Int).ModInverse(dx, p)).Mod(nx, p)
	ny := new(big.Int).Add(yy, xx)
	dy := new(big.Int).Sub(big.NewInt(2), dx)
	dy.Mod(dy, p)
	ny.Mul(ny, new(big.Int).ModInverse(dy, p)).Mod(ny, p)
	return nx, ny
}

// TestFastCheckMatchesDecompression compares the fast check with exact
// decompression on random strings (about half are on the curve), random
// real keys, the small-order encodings and strings near p.
func TestFastCheckMatchesDecompression(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var inputs [][]byte
	for range 3000 {
		b := make([]byte, 32)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		inputs = append(inputs, b)
	}
	for i := range 200 {
		k, err := GenerateKey(bytes.NewReader(bytes.Repeat([]byte{byte(i), byte(i >> 3), 7}, 30)))
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, k.ID().Bytes())
	}
	inputs = append(inputs, smallOrderEncodings(t)...)
	for d := 0; d < 40; d++ { // y = p - 20 .. p + 19, both signs
		y := new(big.Int).Add(fieldP, big.NewInt(int64(d-20)))
		for _, sgn := range []byte{0, 0x80} {
			b := make([]byte, 32)
			y.FillBytes(b)
			for i, j := 0, 31; i < j; i, j = i+1, j-1 {
				b[i], b[j] = b[j], b[i]
			}
			b[31] = b[31]&0x7f | sgn
			inputs = append(inputs, b)
		}
	}
	on := 0
	for _, b := range inputs {
		fast, slow := checkPublicKey(b), slowCheck(b)
		if (fast == nil) != (slow == nil) {
			t.Fatalf("%x: fast %v, exact %v", b, fast, slow)
		}
		if fast != nil && !errors.Is(fast, ErrInvalidID) {
			t.Fatalf("%x: %v", b, fast)
		}
		if fast == nil {
			on++
		}
	}
	if on < 1500 {
		t.Fatalf("only %d of %d inputs were valid keys; the test is not exercising both sides", on, len(inputs))
	}
}

func BenchmarkNewID(b *testing.B) {
	k := rfcKey(b)
	pub := k.ID().Bytes()
	for range b.N {
		if _, err := NewID(pub); err != nil {
			b.Fatal(err)
		}
	}
}
