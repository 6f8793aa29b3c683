package identity

import (
	"fmt"
	"math/big"
)

// Curve constants of edwards25519 (RFC 8032 §5.1): -x² + y² = 1 + d·x²·y²
// over GF(p), p = 2^255 - 19.
var (
	fieldP    = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	curveD, _ = new(big.Int).SetString("37095705934669439343138083508754565189542113879843219016388785533085940283555", 10)
	sqrtM1, _ = new(big.Int).SetString("19681161376707505956807079304988542015446066515923890162744021073123829784752", 10)
	expSqrt   = new(big.Int).Rsh(new(big.Int).Add(fieldP, big.NewInt(3)), 3) // (p+3)/8
	bigOne    = big.NewInt(1)
)

// checkPublicKey refuses encodings that are not canonical points or are of
// small order. ed25519.Verify decodes non-canonical y coordinates and accepts
// signatures under small-order keys for many messages, so such a key could
// "sign" items nobody holds a private key for. It decompresses the point as
// RFC 8032 §5.1.3 does, with math/big rather than a non-standard dependency;
// the cost is fixed (one inversion, one exponentiation, three doublings).
func checkPublicKey(pub []byte) error {
	var be [32]byte
	for i := range 32 {
		be[i] = pub[31-i]
	}
	sign := be[0] >> 7
	be[0] &= 0x7f
	y := new(big.Int).SetBytes(be[:])
	if y.Cmp(fieldP) >= 0 {
		return fmt.Errorf("%w: non-canonical public key encoding", ErrInvalidID)
	}
	x, ok := recoverX(y)
	if !ok {
		return fmt.Errorf("%w: not a point on the curve", ErrInvalidID)
	}
	if x.Sign() == 0 && sign == 1 {
		return fmt.Errorf("%w: non-canonical public key encoding", ErrInvalidID)
	}
	// P has small order iff [8]P is the identity (0, 1).
	for range 3 {
		x, y = double(x, y)
	}
	if x.Sign() == 0 && y.Cmp(bigOne) == 0 {
		return fmt.Errorf("%w: public key of small order", ErrInvalidID)
	}
	return nil
}

// recoverX returns an x with (x, y) on the curve, or false if none exists.
func recoverX(y *big.Int) (*big.Int, bool) {
	p := fieldP
	y2 := new(big.Int).Mul(y, y)
	u := new(big.Int).Sub(y2, bigOne)
	u.Mod(u, p)
	v := new(big.Int).Mul(curveD, y2)
	v.Add(v, bigOne).Mod(v, p)
	x2 := new(big.Int).ModInverse(v, p) // v ≠ 0 since d is not a square
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

// double returns 2·(x, y) with the affine doubling formula for a = -1:
// x' = 2xy / (y² - x²), y' = (y² + x²) / (2 - y² + x²). The denominators
// are never zero on the curve (the addition law is complete).
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
