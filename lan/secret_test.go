package lan

import (
	"bytes"
	"crypto/ecdh"
	"testing"

	"github.com/ghostwire/ghostwire/identity"
)

func testKey(t testing.TB, b byte) *identity.PrivateKey {
	t.Helper()
	k, err := identity.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestMontgomeryMatchesScalar: the X25519 public key of the identity's
// scalar is the birational image of its Ed25519 public key, for many keys;
// if the conversion were wrong, the two sides of a pair would derive
// different secrets and never recognise each other.
func TestMontgomeryMatchesScalar(t *testing.T) {
	for b := range 64 {
		k := testKey(t, byte(b))
		priv, err := x25519Key(k)
		if err != nil {
			t.Fatal(err)
		}
		u, err := montgomeryU(k.ID())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(priv.PublicKey().Bytes(), u) {
			t.Fatalf("seed %d: X25519 public key %x, converted Ed25519 key %x", b, priv.PublicKey().Bytes(), u)
		}
	}
}

// TestPairSecret: both sides derive the same secret, and each pair its own.
func TestPairSecret(t *testing.T) {
	a, b, c := testKey(t, 1), testKey(t, 2), testKey(t, 3)
	secret := func(me, peer *identity.PrivateKey) []byte {
		x, err := x25519Key(me)
		if err != nil {
			t.Fatal(err)
		}
		s, err := pairSecret(x, me.ID(), peer.ID())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ab, ba, ac := secret(a, b), secret(b, a), secret(a, c)
	if !bytes.Equal(ab, ba) {
		t.Fatalf("a and b derive different pair secrets: %x, %x", ab, ba)
	}
	if bytes.Equal(ab, ac) || len(ab) != 32 {
		t.Fatalf("pair secrets ab %x and ac %x", ab, ac)
	}
}

// TestPairSecretRefusesSmallOrder: a peer key that maps to a small-order
// X25519 point gives an all-zero DH output, which would make the "secret"
// public; it is refused.
func TestPairSecretRefusesSmallOrder(t *testing.T) {
	me, err := x25519Key(testKey(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	// u = 0 is of small order; its Ed25519 preimage is y = -1.
	pub, err := ecdh.X25519().NewPublicKey(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := me.ECDH(pub); err == nil {
		t.Fatal("crypto/ecdh accepted a small-order point; pairSecret relies on it refusing")
	}
}
