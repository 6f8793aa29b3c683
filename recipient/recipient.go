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

// PrivateKey is a peer's recipient key, from its [Keyring], [Derive] or
// [NewSubkey]. It may carry older keys of the same owner ([PrivateKey.WithOlder]):
// payloads are sealed to, and certified as, the newest alone, and [Open]
// tries each in turn, so that what was sealed to a key rotated out still
// opens until that key is destroyed.
type PrivateKey struct {
	owner identity.ID
	k     hpke.PrivateKey
	older []hpke.PrivateKey
}

// Derive computes the identity's derived recipient key, the first key of
// every keyring (docs/protocol.md §9.1): HKDF-SHA256 of the seed with the
// label as info gives the input keying material for the KEM's
// DeriveKeyPair.
func Derive(k *identity.PrivateKey) (*PrivateKey, error) {
	seed := k.Seed()
	defer clear(seed)
	return keyFrom(k.ID(), seed, deriveLabel)
}

// keyFrom is the KEM's DeriveKeyPair of HKDF-SHA256(secret, info = label,
// L = 64): how both the derived key and encryption subkeys are made.
func keyFrom(owner identity.ID, secret []byte, label string) (*PrivateKey, error) {
	ikm, err := hkdf.Key(sha256.New, secret, nil, label, 64)
	if err != nil {
		return nil, fmt.Errorf("bug: %w", err)
	}
	defer clear(ikm)
	kem, _, _ := suite()
	priv, err := kem.DeriveKeyPair(ikm)
	if err != nil {
		return nil, fmt.Errorf("recipient: derive: %w", err)
	}
	return &PrivateKey{owner: owner, k: priv}, nil
}

// Public returns the public half.
func (p *PrivateKey) Public() *PublicKey {
	return &PublicKey{Owner: p.owner, k: p.k.PublicKey()}
}

// PublicKey is a peer's certified recipient key.
type PublicKey struct {
	Owner identity.ID
	k     hpke.PublicKey
	// NotBefore and NotAfter bound the certificate of an encryption
	// subkey (docs/protocol.md §9.1); both are zero for a key certified
	// without a window (the derived key, and every key before rotation).
	NotBefore, NotAfter time.Time
}

// Bytes returns the serialized HPKE public key.
func (p *PublicKey) Bytes() []byte { return p.k.Bytes() }

// Expired reports whether the certificate has a window that ended before
// now. A sender does not seal to such a key: its owner may have destroyed
// it (§9.1), and waits for the owner's next certificate instead.
func (p *PublicKey) Expired(now time.Time) bool {
	return !p.NotAfter.IsZero() && now.After(p.NotAfter)
}

// PurposeEncryption is the purpose an encryption subkey's certificate
// names (docs/protocol.md §9.1): 2, beside §5.9's 1 for item signing, so
// that one registry of purposes serves both kinds of certificate.
const PurposeEncryption = 2

// wireKey is the certificate payload (docs/protocol.md §9.1). Keys 3–5
// are present together (an encryption subkey) or not at all (a key
// without a window).
type wireKey struct {
	KEM       uint16 `cbor:"1,keyasint"`
	Key       []byte `cbor:"2,keyasint"`
	Purpose   uint64 `cbor:"3,keyasint,omitempty"`
	NotBefore uint64 `cbor:"4,keyasint,omitempty"`
	NotAfter  uint64 `cbor:"5,keyasint,omitempty"`
}

// Certificate returns the signed item that publishes p's public key,
// without a window.
func Certificate(k *identity.PrivateKey, p *PrivateKey, created time.Time) (*item.Item, error) {
	return certificate(k, p, created, wireKey{})
}

// SubkeyCertificate returns the signed item that publishes p as an
// encryption subkey valid from notBefore to notAfter (inclusive, Unix ms),
// created at created (§9.1).
func SubkeyCertificate(k *identity.PrivateKey, p *PrivateKey, created, notBefore, notAfter time.Time) (*item.Item, error) {
	nb, na := notBefore.UnixMilli(), notAfter.UnixMilli()
	if nb <= 0 || na < nb {
		return nil, fmt.Errorf("recipient: a subkey window from %d to %d ms", nb, na)
	}
	return certificate(k, p, created, wireKey{Purpose: PurposeEncryption, NotBefore: uint64(nb), NotAfter: uint64(na)})
}

func certificate(k *identity.PrivateKey, p *PrivateKey, created time.Time, w wireKey) (*item.Item, error) {
	if k.ID() != p.owner {
		return nil, fmt.Errorf("bug: recipient: certifying another identity's key")
	}
	kem, _, _ := suite()
	w.KEM, w.Key = kem.ID(), p.k.PublicKey().Bytes()
	payload, err := wire.Marshal(w)
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
	w, err := decodeCert(it.Payload())
	if err != nil {
		return nil, err
	}
	kem, _, _ := suite()
	pk, err := kem.NewPublicKey(w.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	out := &PublicKey{Owner: it.Author(), k: pk}
	if w.Purpose != 0 {
		out.NotBefore, out.NotAfter = time.UnixMilli(int64(w.NotBefore)).UTC(), time.UnixMilli(int64(w.NotAfter)).UTC()
	}
	return out, nil
}

// decodeCert reads a certificate payload strictly (§9.1): canonical CBOR,
// our KEM, and keys 3–5 all present with purpose 2 and a window that
// does not end before it starts, or all absent.
func decodeCert(b []byte) (*wireKey, error) {
	var w wireKey
	if err := wire.UnmarshalCanonical(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	kem, _, _ := suite()
	switch {
	case w.KEM != kem.ID():
		return nil, fmt.Errorf("%w: KEM %#x, want %#x", ErrMalformed, w.KEM, kem.ID())
	case w.Purpose == 0 && (w.NotBefore != 0 || w.NotAfter != 0):
		return nil, fmt.Errorf("%w: a window without a purpose", ErrMalformed)
	case w.Purpose != 0 && w.Purpose != PurposeEncryption:
		return nil, fmt.Errorf("%w: purpose %d is not encryption", ErrMalformed, w.Purpose)
	case w.Purpose != 0 && (w.NotBefore == 0 || w.NotAfter < w.NotBefore || w.NotAfter > 1<<63-1):
		return nil, fmt.Errorf("%w: a window from %d to %d", ErrMalformed, w.NotBefore, w.NotAfter)
	}
	return &w, nil
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
		// Newest first: nearly everything is sealed to the key in use.
		// The stanza does not say which of our keys it was sealed to
		// (that would tell every holder of the item when we rotated), so
		// a key that fails is no proof of tampering until all have.
		var key []byte
		for _, pk := range append([]hpke.PrivateKey{k.k}, k.older...) {
			if key, err = hpke.Open(pk, kdf, aead, info(k.owner, aad), s.Wrapped); err == nil {
				break
			}
		}
		if err != nil || len(key) != payloadKeySize {
			return nil, fmt.Errorf("%w: none of our keys opens it (altered, or sealed to a key we destroyed)", ErrMalformed)
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
