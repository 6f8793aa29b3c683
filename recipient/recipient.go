// Package recipient seals payloads to named peers: how a direct message is
// readable only by its two peers, and an AMBER or RED indicator only by its
// recipients, even though both are stored and travel through sync.
//
// A peer's recipient keys, HPKE (RFC 9180) MLKEM768-X25519 key pairs that
// survive post-quantum adversaries recording traffic today, live in a
// [Keyring] beside the identity key file; the newest is in use, and the
// first is derived from the identity seed ([Derive]), so a node restored
// from its key file reads what was sealed to it. The public half is
// published as an ordinary signed item (kind item.KindRecipientKey in
// Space), so the identity's signature certifies it and sync carries it like
// anything else. A sealed payload is one ChaCha20-Poly1305 ciphertext under a random
// payload key, and one HPKE-wrapped copy of that key per recipient, the
// construction age uses for its recipient stanzas. docs/protocol.md §9.
package recipient

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hpke"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/wire"
)

// Labels, spelled as in docs/protocol.md §9.
const (
	deriveLabel = "ghostwire recipient key v1"
	commitLabel = "ghostwire sealed payload commitment v1"
	spaceLabel  = "ghostwire space: recipient keys v1"
	wrapInfo    = "ghostwire sealed payload key v1"
)

// Limits (docs/protocol.md §9.2).
const (
	// MaxRecipients bounds the work a sealed payload can demand of a reader.
	MaxRecipients  = 64
	payloadKeySize = chacha20poly1305.KeySize
)

// Space is the space every recipient-key certificate lives in.
var Space = item.Space(sha256.Sum256([]byte(spaceLabel)))

func suite() (hpke.KEM, hpke.KDF, hpke.AEAD) {
	return hpke.MLKEM768X25519(), hpke.HKDFSHA256(), hpke.ChaCha20Poly1305()
}

// Errors callers branch on.
var (
	// ErrNotRecipient: the payload was not sealed to this key.
	ErrNotRecipient = errors.New("recipient: not sealed to this identity")
	// ErrMalformed: the sealed payload or certificate does not decode, or
	// does not open although it names us (it was altered).
	ErrMalformed = errors.New("recipient: malformed or altered sealed payload")
)

// PrivateKey is a peer's recipient key, from its [Keyring] or [Derive].
type PrivateKey struct {
	owner identity.ID
	k     hpke.PrivateKey
}

// Derive computes the identity's derived recipient key, the first key of
// every keyring (docs/protocol.md §9.1): HKDF-SHA256 of the seed with the
// label as info gives the input keying material for the KEM's
// DeriveKeyPair.
func Derive(k *identity.PrivateKey) (*PrivateKey, error) {
	seed := k.Seed()
	defer clear(seed)
	ikm, err := hkdf.Key(sha256.New, seed, nil, deriveLabel, 64)
	if err != nil {
		return nil, fmt.Errorf("bug: %w", err)
	}
	defer clear(ikm)
	kem, _, _ := suite()
	priv, err := kem.DeriveKeyPair(ikm)
	if err != nil {
		return nil, fmt.Errorf("recipient: derive: %w", err)
	}
	return &PrivateKey{owner: k.ID(), k: priv}, nil
}

// Public returns the public half.
func (p *PrivateKey) Public() *PublicKey {
	return &PublicKey{Owner: p.owner, k: p.k.PublicKey()}
}

// PublicKey is a peer's certified recipient key.
type PublicKey struct {
	Owner identity.ID
	k     hpke.PublicKey
}

// Bytes returns the serialized HPKE public key.
func (p *PublicKey) Bytes() []byte { return p.k.Bytes() }

// wireKey is the certificate payload (docs/protocol.md §9.1).
type wireKey struct {
	KEM uint16 `cbor:"1,keyasint"`
	Key []byte `cbor:"2,keyasint"`
}

// Certificate returns the signed item that publishes p's public key.
func Certificate(k *identity.PrivateKey, p *PrivateKey, created time.Time) (*item.Item, error) {
	if k.ID() != p.owner {
		return nil, fmt.Errorf("bug: recipient: certifying another identity's key")
	}
	kem, _, _ := suite()
	payload, err := wire.Marshal(wireKey{KEM: kem.ID(), Key: p.k.PublicKey().Bytes()})
	if err != nil {
		return nil, err
	}
	return item.New(k, item.KindRecipientKey, Space, created, payload)
}

// FromCertificate reads a verified certificate item (the caller has run
// item.Verify). The owner is the item's author.
func FromCertificate(it *item.Item) (*PublicKey, error) {
	if it.Kind() != item.KindRecipientKey || it.Space() != Space {
		return nil, fmt.Errorf("%w: not a recipient-key certificate", ErrMalformed)
	}
	var w wireKey
	if err := wire.UnmarshalCanonical(it.Payload(), &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	kem, _, _ := suite()
	if w.KEM != kem.ID() {
		return nil, fmt.Errorf("%w: KEM %#x, want %#x", ErrMalformed, w.KEM, kem.ID())
	}
	pk, err := kem.NewPublicKey(w.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return &PublicKey{Owner: it.Author(), k: pk}, nil
}

// wireSealed is a sealed payload (docs/protocol.md §9.2).
type wireSealed struct {
	Stanzas    []wireStanza `cbor:"1,keyasint"`
	Ciphertext []byte       `cbor:"2,keyasint"`
	Commit     []byte       `cbor:"3,keyasint"` // commitment to the payload key, §9.2
}

// commitment binds a sealed payload to its one payload key (§9.2).
// ChaCha20-Poly1305 does not commit to its key: an author could craft a
// ciphertext that opens under two keys to two texts and wrap a different
// key for each recipient, so that recipients of one signed item read
// different things. Every recipient checks the key it unwrapped against
// this hash before opening, so all read the same text, and a payload key
// shown to a third party binds. The key is random, so its hash reveals
// nothing of it.
func commitment(key []byte) []byte {
	h := sha256.New()
	h.Write([]byte(commitLabel))
	h.Write(key)
	return h.Sum(nil)
}

type wireStanza struct {
	To      []byte `cbor:"1,keyasint"` // recipient identity, 32 bytes
	Wrapped []byte `cbor:"2,keyasint"` // HPKE enc ‖ ciphertext of the payload key
}

// Seal encrypts plaintext to every recipient. aad binds the payload to its
// context (the caller passes, for example, the item's space and author), so
// a sealed payload moved into another item does not open. The list of
// recipients is visible in the result; callers that sign the result (as
// items do) thereby sign the recipient list.
func Seal(rand io.Reader, plaintext, aad []byte, to []*PublicKey) ([]byte, error) {
	if len(to) == 0 || len(to) > MaxRecipients {
		return nil, fmt.Errorf("recipient: %d recipients, want 1 to %d", len(to), MaxRecipients)
	}
	key := make([]byte, payloadKeySize)
	if _, err := io.ReadFull(rand, key); err != nil {
		return nil, fmt.Errorf("recipient: reading randomness: %w", err)
	}
	defer clear(key)
	var out wireSealed
	seen := map[identity.ID]bool{}
	_, kdf, aead := suite()
	for _, r := range to {
		if seen[r.Owner] {
			continue
		}
		seen[r.Owner] = true
		wrapped, err := hpke.Seal(r.k, kdf, aead, info(r.Owner, aad), key)
		if err != nil {
			return nil, fmt.Errorf("recipient: wrap: %w", err)
		}
		out.Stanzas = append(out.Stanzas, wireStanza{To: r.Owner.Bytes(), Wrapped: wrapped})
	}
	// The payload key is fresh for every payload, so a fixed zero nonce is
	// safe: no (key, nonce) pair is ever used twice.
	c, err := chacha20poly1305.New(key)
	if err != nil {
		return nil, fmt.Errorf("bug: %w", err)
	}
	out.Ciphertext = c.Seal(nil, make([]byte, chacha20poly1305.NonceSize), plaintext, aad)
	out.Commit = commitment(key)
	return wire.Marshal(out)
}

// info binds a wrapped key to its recipient and the payload's context.
func info(to identity.ID, aad []byte) []byte {
	h := sha256.Sum256(aad)
	return bytes.Join([][]byte{[]byte(wrapInfo), to.Bytes(), h[:]}, nil)
}

func decode(sealed []byte) (*wireSealed, error) {
	var w wireSealed
	if err := wire.UnmarshalCanonical(sealed, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(w.Stanzas) == 0 || len(w.Stanzas) > MaxRecipients {
		return nil, fmt.Errorf("%w: %d recipients", ErrMalformed, len(w.Stanzas))
	}
	if len(w.Ciphertext) < chacha20poly1305.Overhead {
		return nil, fmt.Errorf("%w: short ciphertext", ErrMalformed)
	}
	if len(w.Commit) != sha256.Size {
		return nil, fmt.Errorf("%w: key commitment is %d bytes, want %d", ErrMalformed, len(w.Commit), sha256.Size)
	}
	return &w, nil
}

// Recipients lists the identities a payload is sealed to, in order.
func Recipients(sealed []byte) ([]identity.ID, error) {
	w, err := decode(sealed)
	if err != nil {
		return nil, err
	}
	return recipientsOf(w)
}

// recipientsOf checks and lists a decoded payload's recipients.
func recipientsOf(w *wireSealed) ([]identity.ID, error) {
	ids := make([]identity.ID, 0, len(w.Stanzas))
	seen := map[identity.ID]bool{}
	for _, s := range w.Stanzas {
		id, err := identity.NewID(s.To)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if seen[id] {
			return nil, fmt.Errorf("%w: recipient listed twice", ErrMalformed)
		}
		seen[id] = true
		ids = append(ids, id)
	}
	return ids, nil
}

// Open decrypts a payload sealed to k with the same aad. It returns
// ErrNotRecipient when k is not listed, and ErrMalformed when the payload
// does not decode or does not open although k is listed.
func Open(sealed, aad []byte, k *PrivateKey) ([]byte, error) {
	w, err := decode(sealed)
	if err != nil {
		return nil, err
	}
	if _, err := recipientsOf(w); err != nil {
		return nil, err
	}
	_, kdf, aead := suite()
	own := k.owner.Bytes()
	for _, s := range w.Stanzas {
		if !bytes.Equal(s.To, own) {
			continue
		}
		key, err := hpke.Open(k.k, kdf, aead, info(k.owner, aad), s.Wrapped)
		if err != nil || len(key) != payloadKeySize {
			return nil, fmt.Errorf("%w: our key does not open it", ErrMalformed)
		}
		defer clear(key)
		if subtle.ConstantTimeCompare(commitment(key), w.Commit) != 1 {
			return nil, fmt.Errorf("%w: the payload key is not the one the payload commits to", ErrMalformed)
		}
		c, _ := chacha20poly1305.New(key)
		pt, err := c.Open(nil, make([]byte, chacha20poly1305.NonceSize), w.Ciphertext, aad)
		if err != nil {
			return nil, fmt.Errorf("%w: payload does not open", ErrMalformed)
		}
		return pt, nil
	}
	return nil, ErrNotRecipient
}
