package recipient

import (
	"crypto/hpke"
	"crypto/sha256"
	"fmt"

	"github.com/ghostwire/ghostwire/identity"
)

// subkeyLabel derives an encryption subkey from its 32-byte secret
// (docs/protocol.md §9.1).
const subkeyLabel = "ghostwire encryption subkey v1"

// NewSubkey computes the encryption subkey of owner whose secret is
// secret (32 bytes, kept where it can be destroyed: a vault slot). The
// secret is the whole key: HKDF-SHA256 of it with the label as info gives
// the input keying material for the KEM's DeriveKeyPair, as for the
// derived key, so destroying the secret destroys the key.
func NewSubkey(owner identity.ID, secret []byte) (*PrivateKey, error) {
	if len(secret) != 32 {
		return nil, fmt.Errorf("bug: recipient: a subkey secret of %d bytes", len(secret))
	}
	return keyFrom(owner, secret, subkeyLabel)
}

// WithOlder returns a key that seals and certifies as p and opens what
// was sealed to p or to any of older (each with its own older keys), in
// that order. Keys of another owner are a programmer's error.
func (p *PrivateKey) WithOlder(older ...*PrivateKey) *PrivateKey {
	out := &PrivateKey{owner: p.owner, k: p.k, older: append([]hpke.PrivateKey(nil), p.older...)}
	for _, o := range older {
		if o.owner != p.owner {
			panic("bug: recipient: older key of another identity")
		}
		out.older = append(append(out.older, o.k), o.older...)
	}
	return out
}

// Fingerprint names a key: SHA-256 of its public key. It is local, like
// KeyInfo.ID (its first 8 bytes): nothing on the wire names a recipient
// key.
func (p *PrivateKey) Fingerprint() [32]byte {
	return sha256.Sum256(p.k.PublicKey().Bytes())
}
