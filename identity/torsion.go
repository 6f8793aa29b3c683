package identity

import (
	"fmt"
	"math/big"
	"math/bits"
)

// checkPrimeOrder refuses a public key with a torsion component: a point P
// with [ℓ]P ≠ identity, where ℓ is the order of the base point. It runs after
// checkPublicKey, so pub is a canonical point of order greater than 8; of
// those, only the ones in the prime-order subgroup pass (docs/protocol.md
// §1.3).
//
// Why refuse them: no Ed25519 secret key has such a public key ([s]B never
// has one), tor refuses their onion addresses (rend-spec-v3, "Client-side
// validation of onion addresses"), so no peer can reach such an identity,
// and for such a key a cofactored verifier (ZIP-215) and Go's cofactorless
// one disagree on most signatures its holder makes, which would let one
// item be accepted by one implementation and refused by another.
//
// The check is one Montgomery ladder on 4×64-bit field elements, which
// needs only y: no square root, no inversion, no math/big. It costs about
// as much as one signature verification, and NewID's cache means it runs
// once per key.
func checkPrimeOrder(pub []byte) error {
	var y fe
	for i := range 4 {
		for j := range 8 {
			y[i] |= uint64(pub[8*i+j]) << (8 * j)
		}
	}
	y[3] &= 1<<63 - 1 // the sign of x: −P has a torsion component iff P has
	// The Montgomery form's u = (1+y)/(1−y), kept as the fraction (X1:Z1);
	// y ≠ 1 since checkPublicKey refused the identity.
	x1, z1 := feOne.add(y), feOne.sub(y)
	// RFC 7748 §5's ladder, computing (x2:z2) = [ℓ]P with (x3:z3) = [ℓ]P + P;
	// ℓ is public, so the swaps may branch.
	x2, z2, x3, z3 := feOne, fe{}, x1, z1
	swap := uint(0)
	for i := groupOrder.BitLen() - 1; i >= 0; i-- {
		bit := groupOrder.Bit(i)
		if swap^bit == 1 {
			x2, x3, z2, z3 = x3, x2, z3, z2
		}
		swap = bit
		a, b := x2.add(z2), x2.sub(z2)
		aa, bb := a.square(), b.square()
		e := aa.sub(bb)
		c, d := x3.add(z3), x3.sub(z3)
		da, cb := d.mul(a), c.mul(b)
		x3 = z1.mul(da.add(cb).square())
		z3 = x1.mul(da.sub(cb).square())
		x2 = aa.mul(bb)
		z2 = e.mul(aa.add(e.mulSmall(121665)))
	}
	if swap == 1 {
		z2 = z3
	}
	if !z2.isZero() {
		return fmt.Errorf("%w: public key has a torsion component (no Ed25519 secret key has it, and tor refuses its address)", ErrInvalidID)
	}
	return nil
}

// groupOrder is ℓ = 2^252 + 27742317777372353535851937790883648493, the
// order of the base point (RFC 8032 §5.1).
var groupOrder, _ = new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)

// fe is an element of GF(2^255-19) as four little-endian 64-bit limbs. A
// value is any 256-bit number congruent to the element; operations keep the
// result below 2^256 and reduce fully only when compared (isZero).
type fe [4]uint64

var feOne = fe{1}

func feFromBig(v *big.Int) fe {
	var b [32]byte
	v.FillBytes(b[:])
	var f fe
	for i := range 4 {
		for j := range 8 {
			f[i] |= uint64(b[31-8*i-j]) << (8 * j)
		}
	}
	return f
}

func (a fe) big() *big.Int {
	var b [32]byte
	for i := range 4 {
		for j := range 8 {
			b[31-8*i-j] = byte(a[i] >> (8 * j))
		}
	}
	return new(big.Int).SetBytes(b[:])
}

func (a fe) isZero() bool { return new(big.Int).Mod(a.big(), fieldP).Sign() == 0 }

// fold adds c·38 to a: 2^256 ≡ 38 (mod p), so a carry out of the top limb
// is worth 38 at the bottom. c·38 < 2^64 for every c passed here; a second
// carry can only leave a tiny value, so the second round always ends it.
func (a fe) fold(c uint64) fe {
	for c != 0 {
		var carry uint64
		a[0], carry = bits.Add64(a[0], c*38, 0)
		a[1], carry = bits.Add64(a[1], 0, carry)
		a[2], carry = bits.Add64(a[2], 0, carry)
		a[3], carry = bits.Add64(a[3], 0, carry)
		c = carry
	}
	return a
}

func (a fe) add(b fe) fe {
	var r fe
	var c uint64
	r[0], c = bits.Add64(a[0], b[0], 0)
	r[1], c = bits.Add64(a[1], b[1], c)
	r[2], c = bits.Add64(a[2], b[2], c)
	r[3], c = bits.Add64(a[3], b[3], c)
	return r.fold(c)
}

// sub returns a − b. A borrow out of the top limb means the result is
// 2^256 too large, which is 38 too large mod p: take 38 off, which can
// borrow again only once (from a value below 38).
func (a fe) sub(b fe) fe {
	var r fe
	var bw uint64
	r[0], bw = bits.Sub64(a[0], b[0], 0)
	r[1], bw = bits.Sub64(a[1], b[1], bw)
	r[2], bw = bits.Sub64(a[2], b[2], bw)
	r[3], bw = bits.Sub64(a[3], b[3], bw)
	for bw != 0 {
		r[0], bw = bits.Sub64(r[0], 38, 0)
		r[1], bw = bits.Sub64(r[1], 0, bw)
		r[2], bw = bits.Sub64(r[2], 0, bw)
		r[3], bw = bits.Sub64(r[3], 0, bw)
	}
	return r
}

// madd returns a·b + t + c as (hi, lo); it cannot overflow 128 bits.
func madd(a, b, t, c uint64) (hi, lo uint64) {
	hi, lo = bits.Mul64(a, b)
	var k uint64
	lo, k = bits.Add64(lo, t, 0)
	hi += k
	lo, k = bits.Add64(lo, c, 0)
	return hi + k, lo
}

// mul is schoolbook multiplication into eight limbs, written out so that
// nothing is bounds-checked, then t = lo + 2^256·hi ≡ lo + 38·hi.
func (a fe) mul(b fe) fe {
	var t0, t1, t2, t3, t4, t5, t6, t7, c uint64
	c, t0 = madd(a[0], b[0], 0, 0)
	c, t1 = madd(a[0], b[1], 0, c)
	c, t2 = madd(a[0], b[2], 0, c)
	t4, t3 = madd(a[0], b[3], 0, c)

	c, t1 = madd(a[1], b[0], t1, 0)
	c, t2 = madd(a[1], b[1], t2, c)
	c, t3 = madd(a[1], b[2], t3, c)
	t5, t4 = madd(a[1], b[3], t4, c)

	c, t2 = madd(a[2], b[0], t2, 0)
	c, t3 = madd(a[2], b[1], t3, c)
	c, t4 = madd(a[2], b[2], t4, c)
	t6, t5 = madd(a[2], b[3], t5, c)

	c, t3 = madd(a[3], b[0], t3, 0)
	c, t4 = madd(a[3], b[1], t4, c)
	c, t5 = madd(a[3], b[2], t5, c)
	t7, t6 = madd(a[3], b[3], t6, c)

	var r fe
	c, r[0] = madd(t4, 38, t0, 0)
	c, r[1] = madd(t5, 38, t1, c)
	c, r[2] = madd(t6, 38, t2, c)
	c, r[3] = madd(t7, 38, t3, c)
	return r.fold(c)
}

func (a fe) square() fe { return a.mul(a) }

// mulSmall multiplies by a constant below 2^32.
func (a fe) mulSmall(k uint64) fe {
	var r fe
	var c uint64
	c, r[0] = madd(a[0], k, 0, 0)
	c, r[1] = madd(a[1], k, 0, c)
	c, r[2] = madd(a[2], k, 0, c)
	c, r[3] = madd(a[3], k, 0, c)
	return r.fold(c)
}
