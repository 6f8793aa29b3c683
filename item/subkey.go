package item

import (
	"errors"
	"fmt"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/wire"
)

// certLabel prefixes a subkey certificate's signing input (docs/protocol.md
// §5.9), so the identity's signature over a certificate can never be taken
// for its signature over an item, a handshake or anything else.
const certLabel = "ghostwire subkey v1\x00"

// Purpose says what a certified subkey may sign (docs/protocol.md §5.9).
// An item accepts only PurposeItem; other values decode (a later version may
// certify keys for other uses) but never sign an item.
type Purpose uint32

// PurposeItem certifies a subkey to sign items on the identity's behalf.
const PurposeItem Purpose = 1

// ErrBadSigner: the item names a subkey whose certificate does not verify
// under the author, is not for item signing, or does not cover the item's
// creation time. Like ErrBadSignature, the item is forged or broken.
var ErrBadSigner = errors.New("item: signer not certified for this item")

// Cert is an identity's certificate for a subkey: the identity's signature
// over the subkey's public key, its purpose and its validity window. A Cert
// is a value; the zero value is not valid.
type Cert struct {
	Key       identity.ID // the certified subkey
	Purpose   Purpose
	NotBefore time.Time // inclusive, millisecond resolution
	NotAfter  time.Time // inclusive, millisecond resolution
	sig       []byte
}

// Certify signs a certificate for subkey under id. The window is rounded
// down to the millisecond; it must not start before 1970 or end before it
// starts.
func Certify(id *identity.PrivateKey, subkey identity.ID, p Purpose, notBefore, notAfter time.Time) (Cert, error) {
	nb, na := notBefore.UnixMilli(), notAfter.UnixMilli()
	if p == 0 || nb < 0 || na < nb {
		return Cert{}, fmt.Errorf("%w: certificate purpose %d, window %s to %s", ErrMalformed, p, notBefore, notAfter)
	}
	w := wireCert{Key: subkey.Bytes(), Purpose: uint64(p), NotBefore: uint64(nb), NotAfter: uint64(na)}
	msg, err := certSigningInput(id.ID(), &w)
	if err != nil {
		return Cert{}, err
	}
	w.Sig = id.Sign(msg)
	return certFromWire(&w)
}

// certSigningInput is what the identity signs (§5.9): the label, the
// identity's own key, then the certificate without its signature.
func certSigningInput(author identity.ID, w *wireCert) ([]byte, error) {
	if w.Sig != nil {
		panic("bug: certificate signing input with a signature")
	}
	body, err := wire.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("item: encode: %w", err)
	}
	msg := append([]byte(certLabel), author.Bytes()...)
	return append(msg, body...), nil
}

func certFromWire(w *wireCert) (Cert, error) {
	key, err := identity.NewID(w.Key)
	if err != nil {
		return Cert{}, fmt.Errorf("%w: subkey: %v", ErrMalformed, err)
	}
	switch {
	case w.Purpose == 0 || w.Purpose > uint64(^Purpose(0)):
		return Cert{}, fmt.Errorf("%w: subkey purpose %d", ErrMalformed, w.Purpose)
	case w.NotAfter > maxCreated || w.NotBefore > w.NotAfter:
		return Cert{}, fmt.Errorf("%w: subkey validity window", ErrMalformed)
	case len(w.Sig) != SigSize:
		return Cert{}, fmt.Errorf("%w: certificate signature is %d bytes, want %d", ErrMalformed, len(w.Sig), SigSize)
	}
	return Cert{
		Key:       key,
		Purpose:   Purpose(w.Purpose),
		NotBefore: time.UnixMilli(int64(w.NotBefore)).UTC(),
		NotAfter:  time.UnixMilli(int64(w.NotAfter)).UTC(),
		sig:       w.Sig,
	}, nil
}

func (c *Cert) toWire() *wireCert {
	return &wireCert{
		Key:       c.Key.Bytes(),
		Purpose:   uint64(c.Purpose),
		NotBefore: uint64(c.NotBefore.UnixMilli()),
		NotAfter:  uint64(c.NotAfter.UnixMilli()),
		Sig:       c.sig,
	}
}

// check reports whether c lets its subkey sign, for author, an item created
// at created (Unix ms). It wraps ErrBadSigner.
func (c *Cert) check(author identity.ID, created uint64) error {
	w := c.toWire()
	w.Sig = nil
	msg, err := certSigningInput(author, w)
	if err != nil {
		return err
	}
	switch {
	case !author.Verify(msg, c.sig):
		return fmt.Errorf("%w: the certificate is not signed by the author", ErrBadSigner)
	case c.Purpose != PurposeItem:
		return fmt.Errorf("%w: the subkey is certified for purpose %d, not item signing", ErrBadSigner, c.Purpose)
	case int64(created) < c.NotBefore.UnixMilli() || int64(created) > c.NotAfter.UnixMilli():
		return fmt.Errorf("%w: created %s, outside the subkey's window %s to %s", ErrBadSigner,
			time.UnixMilli(int64(created)).UTC().Format(time.RFC3339), c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339))
	}
	return nil
}

// Subkey is a Signer that signs items for an identity with a subkey the
// identity certified: the items' author is the identity, so their IDs,
// logical keys and who may delete them are as if the identity had signed,
// and each item carries the certificate (docs/protocol.md §5.9). A Subkey is
// safe for concurrent use.
type Subkey struct {
	author identity.ID
	key    *identity.PrivateKey
	cert   Cert
}

// NewSubkey returns a Signer for author that signs with key under cert. It
// fails with ErrBadSigner unless cert is author's certificate of key for
// item signing.
func NewSubkey(author identity.ID, key *identity.PrivateKey, cert Cert) (*Subkey, error) {
	if cert.Key != key.ID() {
		return nil, fmt.Errorf("%w: the certificate is for another key", ErrBadSigner)
	}
	if err := cert.check(author, uint64(cert.NotBefore.UnixMilli())); err != nil {
		return nil, err
	}
	return &Subkey{author: author, key: key, cert: cert}, nil
}

// ID returns the identity the subkey signs for, which becomes the author of
// every item it signs; not the subkey's own key.
func (s *Subkey) ID() identity.ID { return s.author }

// Sign signs msg with the subkey.
func (s *Subkey) Sign(msg []byte) []byte { return s.key.Sign(msg) }

// Cert returns the certificate New puts into every item the subkey signs.
func (s *Subkey) Cert() Cert { return s.cert }
