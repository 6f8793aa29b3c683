package identity

import (
	"crypto/ed25519"
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"
)

// SeedSize is the size of the secret from which the whole identity derives.
const SeedSize = ed25519.SeedSize

// PrivateKey is a peer's long-term signing key. It is deliberately not
// comparable with == (that would not be constant time): use Equal. It never
// prints itself: String, Format and LogValue all redact.
type PrivateKey struct {
	_    [0]func() // not comparable
	priv ed25519.PrivateKey
	id   ID
}

// GenerateKey makes a new identity key from rand (crypto/rand.Reader in
// production, a fixed stream in tests). It retries the vanishingly unlikely
// seeds whose public key NewID refuses, so the key always has a usable ID.
func GenerateKey(rand io.Reader) (*PrivateKey, error) {
	for range 4 {
		seed := make([]byte, SeedSize)
		if _, err := io.ReadFull(rand, seed); err != nil {
			return nil, fmt.Errorf("identity: reading randomness: %w", err)
		}
		k, err := NewKeyFromSeed(seed)
		clear(seed)
		if err == nil {
			return k, nil
		}
	}
	return nil, fmt.Errorf("identity: random source produced only unusable keys")
}

// NewKeyFromSeed rebuilds the key from its 32-byte seed.
func NewKeyFromSeed(seed []byte) (*PrivateKey, error) {
	if len(seed) != SeedSize {
		return nil, fmt.Errorf("identity: seed is %d bytes, want %d", len(seed), SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	id, err := NewID(priv[SeedSize:])
	if err != nil {
		return nil, err
	}
	return &PrivateKey{priv: priv, id: id}, nil
}

// ID returns the public identity.
func (k *PrivateKey) ID() ID { return k.id }

// Sign signs msg with pure Ed25519.
func (k *PrivateKey) Sign(msg []byte) []byte { return ed25519.Sign(k.priv, msg) }

// Seed returns a copy of the 32-byte seed; only the key file should need it.
func (k *PrivateKey) Seed() []byte { return k.priv.Seed() }

// Ed25519 returns a copy of the standard-library key, for APIs such as tor
// controllers that take one. Callers own the copy and should zero it.
func (k *PrivateKey) Ed25519() ed25519.PrivateKey {
	out := make(ed25519.PrivateKey, len(k.priv))
	copy(out, k.priv)
	return out
}

// TorExpandedKey returns the 64-byte blob tor's ADD_ONION takes as
// "ED25519-V3:<base64>": SHA-512 of the seed with the first half clamped as
// RFC 8032 §5.1.5 describes. Tor uses the bytes as given; an unclamped hash or
// Go's seed‖pub form are accepted too but publish a different (wrong) address.
func (k *PrivateKey) TorExpandedKey() [64]byte {
	h := sha512.Sum512(k.priv.Seed())
	h[0] &= 248
	h[31] &= 127
	h[31] |= 64
	return h
}

// Equal reports in constant time whether k and o are the same key.
func (k *PrivateKey) Equal(o *PrivateKey) bool {
	if k == nil || o == nil {
		return k == o
	}
	return subtle.ConstantTimeCompare(k.priv, o.priv) == 1
}

// Destroy zeroes the key material. The key must not be used afterwards.
func (k *PrivateKey) Destroy() { clear(k.priv) }

const redacted = "identity.PrivateKey(REDACTED)"

// String redacts the key.
func (k *PrivateKey) String() string { return redacted }

// GoString redacts the key.
func (k *PrivateKey) GoString() string { return redacted }

// Format redacts the key for every verb, including %#v and %x.
func (k *PrivateKey) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// LogValue redacts the key.
func (k *PrivateKey) LogValue() slog.Value { return slog.StringValue(redacted) }
