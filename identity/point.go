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
	bigOne    = big.NewInt(1)
)

// checkPublicKey refuses encodings that are not canonical points or are of
// small order. ed25519.Verify decodes non-canonical y coordinates and accepts
// signatures under small-order keys for many messages, so such a key could
// "sign" items nobody holds a private key for.
//
// It runs on every handshake, so it avoids decompressing the point (RFC 8032
// §5.1.3): a y has a point on the curve iff x² = (y²-1)/(d·y²+1) is a square,
// which the Jacobi symbol of (y²-1)(d·y²+1) decides; the 8 small-order
// points have exactly 5 y values (computed once, below); and the only
// non-canonical encodings are y >= p, or x = 0 (y = ±1) with the sign bit
// set. The exact decompression lives in the tests as the reference.
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
	for _, s := range smallOrderY {
		if y.Cmp(s) == 0 {
			if sign == 1 && (y.Cmp(bigOne) == 0 || y.Cmp(pMinusOne) == 0) {
				return fmt.Errorf("%w: non-canonical public key encoding", ErrInvalidID)
			}
			return fmt.Errorf("%w: public key of small order", ErrInvalidID)
		}
	}
	y2 := new(big.Int).Mul(y, y)
	u := new(big.Int).Sub(y2, bigOne)
	v := new(big.Int).Mul(curveD, y2)
	v.Add(v, bigOne)
	u.Mul(u, v).Mod(u, fieldP)
	if big.Jacobi(u, fieldP) < 0 {
		return fmt.Errorf("%w: not a point on the curve", ErrInvalidID)
	}
	return nil
}

var pMinusOne = new(big.Int).Sub(fieldP, bigOne)

// smallOrderEncoding reports whether b (32 bytes) encodes a point of small
// order, canonically or not: whatever the sign bit, its y reduced mod p is
// one of smallOrderY. Such an R in a signature is refused (docs/protocol.md
// §1.3): no signer that follows RFC 8032 makes one, and libraries disagree
// on them.
func smallOrderEncoding(b []byte) bool {
	var be [32]byte
	for i := range 32 {
		be[i] = b[31-i]
	}
	be[0] &= 0x7f
	y := new(big.Int).SetBytes(be[:])
	y.Mod(y, fieldP)
	for _, s := range smallOrderY {
		if y.Cmp(s) == 0 {
			return true
		}
	}
	return false
}

// smallOrderY holds the y coordinates of the 8 points of small order:
// 1 (the identity), -1 (order 2), 0 (order 4), and ±y8 (order 8), where an
// order-8 point doubles to (±√-1, 0), so x² = -y², which on the curve gives
// d·y⁴ + 2y² - 1 = 0, y² = (-1 ± √(1+d)) / d (one sign gives a square).
var smallOrderY = func() []*big.Int {
	p := fieldP
	ys := []*big.Int{big.NewInt(1), pMinusOne, big.NewInt(0)}
	s := new(big.Int).ModSqrt(new(big.Int).Add(big.NewInt(1), curveD), p)
	dInv := new(big.Int).ModInverse(curveD, p)
	for _, sgn := range []int{1, -1} {
		num := new(big.Int).Mul(big.NewInt(int64(sgn)), s)
		num.Sub(num, bigOne).Mod(num, p)
		y2 := num.Mul(num, dInv).Mod(num, p)
		if y := new(big.Int).ModSqrt(y2, p); y != nil {
			ys = append(ys, y, new(big.Int).Sub(p, y))
		}
	}
	if len(ys) != 5 {
		panic("bug: identity: small-order y values")
	}
	return ys
}()
