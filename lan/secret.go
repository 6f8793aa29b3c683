package lan

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"math/big"

	"github.com/ghostwire/ghostwire/identity"
)

// pairSecretLabel is the HKDF info of the per-pair advert secret,
// docs/protocol.md §12.2.
const pairSecretLabel = "ghostwire-lan-pair-secret v1"

// fieldP is 2^255 - 19, the prime of Curve25519 and Edwards25519.
var fieldP = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))

// montgomeryU maps an Ed25519 public key to the X25519 public key of the
// same secret scalar: u = (1 + y) / (1 - y) mod p (RFC 7748 §4.1's
// birational map). The key was checked when its identity.ID was made
// (docs/protocol.md §1.3), so y is a point's coordinate; y = 1 (the
// identity point, never a valid key) would divide by zero and is refused.
// math/big is not constant time, which is fine here: the input is public.
func montgomeryU(id identity.ID) ([]byte, error) {
	b := id.Bytes()
	b[31] &= 0x7f // the sign of x is not part of y
	y := new(big.Int).SetBytes(reverse(b))
	den := new(big.Int).Sub(big.NewInt(1), y)
	den.Mod(den, fieldP)
	if den.Sign() == 0 {
		return nil, errors.New("lan: identity key is the neutral point")
	}
	u := new(big.Int).Add(big.NewInt(1), y)
	u.Mul(u, den.ModInverse(den, fieldP))
	u.Mod(u, fieldP)
	out := make([]byte, 32)
	u.FillBytes(out)
	return reverse(out), nil
}

// reverse turns a little-endian byte string into big-endian and back, in
// place, and returns it.
func reverse(b []byte) []byte {
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return b
}

// x25519Key is the X25519 private key whose scalar is the identity's
// Ed25519 secret scalar (the clamped first half of SHA-512(seed), as RFC
// 8032 §5.1.5 derives it), so its public key is montgomeryU(key.ID()).
func x25519Key(key *identity.PrivateKey) (*ecdh.PrivateKey, error) {
	exp := key.TorExpandedKey()
	defer clear(exp[:])
	return ecdh.X25519().NewPrivateKey(exp[:32])
}

// pairSecret is the secret that me and peer share for recognising each
// other's adverts (docs/protocol.md §12.2): HKDF-SHA256 of the X25519
// shared secret of their identity keys, salted with both public keys in
// ascending order so both sides derive the same bytes. Pairing keeps it
// (§12.5.6): it needs one of the two private keys already.
func pairSecret(me *ecdh.PrivateKey, self, peer identity.ID) ([]byte, error) {
	u, err := montgomeryU(peer)
	if err != nil {
		return nil, err
	}
	pub, err := ecdh.X25519().NewPublicKey(u)
	if err != nil {
		return nil, err
	}
	shared, err := me.ECDH(pub) // fails on an all-zero result (a small-order point)
	if err != nil {
		return nil, errors.New("lan: identity key gives no shared secret")
	}
	defer clear(shared)
	lo, hi := self, peer
	if lo.Compare(hi) > 0 {
		lo, hi = hi, lo
	}
	salt := append(lo.Bytes(), hi.Bytes()...)
	return hkdf.Key(sha256.New, shared, salt, pairSecretLabel, 32)
}
