package recipient

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/wire"
)

// TestSubkeyCertificate: an encryption subkey's certificate carries its
// window, which the reader gets back; a sender does not seal to it after
// the window ends.
func TestSubkeyCertificate(t *testing.T) {
	k, _ := newPeer(t, 6)
	sub, err := NewSubkey(k.ID(), bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(1_800_000_000_000).UTC()
	end := now.Add(21 * 24 * time.Hour)
	cert, err := SubkeyCertificate(k, sub, now, now, end)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.Verify(now); err != nil {
		t.Fatal(err)
	}
	pub, err := FromCertificate(cert)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.NotBefore.Equal(now) || !pub.NotAfter.Equal(end) || !bytes.Equal(pub.Bytes(), sub.Public().Bytes()) {
		t.Fatalf("read back %v to %v; want %v to %v", pub.NotBefore, pub.NotAfter, now, end)
	}
	if pub.Expired(end) || !pub.Expired(end.Add(time.Millisecond)) {
		t.Fatal("the certificate's end is inclusive, and it expires just after")
	}
	again, _ := SubkeyCertificate(k, sub, now, now, end)
	if again.ID() != cert.ID() {
		t.Fatal("certifying the same subkey again gives another item; the node re-makes it from its record")
	}
	if _, err := SubkeyCertificate(k, sub, now, end, now); err == nil {
		t.Fatal("a window that ends before it starts was certified")
	}
}

// TestCertificatePayloadRejects: keys 3–5 come together, with purpose 2
// and an ordered window, or not at all.
func TestCertificatePayloadRejects(t *testing.T) {
	_, p := newPeer(t, 8)
	kem, _, _ := suite()
	pub := p.Public().Bytes()
	for _, c := range []struct {
		name string
		w    wireKey
	}{
		{"window without purpose", wireKey{NotBefore: 1, NotAfter: 2}},
		{"purpose 1 (item signing)", wireKey{Purpose: 1, NotBefore: 1, NotAfter: 2}},
		{"purpose without window", wireKey{Purpose: PurposeEncryption}},
		{"window ends first", wireKey{Purpose: PurposeEncryption, NotBefore: 5, NotAfter: 4}},
		{"window beyond 2^63", wireKey{Purpose: PurposeEncryption, NotBefore: 5, NotAfter: 1 << 63}},
		{"other KEM", wireKey{KEM: 0x20, Purpose: PurposeEncryption, NotBefore: 1, NotAfter: 2}},
	} {
		if c.w.KEM == 0 {
			c.w.KEM = kem.ID()
		}
		c.w.Key = pub
		b, err := wire.Marshal(c.w)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeCert(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want malformed", c.name, err)
		}
	}
}

// TestWithOlder: a key set seals as its newest and opens what was sealed
// to any of its keys; a key no longer in the set opens nothing.
func TestWithOlder(t *testing.T) {
	k, derived := newPeer(t, 9)
	old, _ := NewSubkey(k.ID(), bytes.Repeat([]byte{1}, 32))
	cur, _ := NewSubkey(k.ID(), bytes.Repeat([]byte{2}, 32))
	aad := []byte("ctx")
	sealedTo := func(p *PrivateKey) []byte {
		b, err := Seal(rand.Reader, []byte("hi"), aad, []*PublicKey{p.Public()})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	set := cur.WithOlder(old, derived)
	if !bytes.Equal(set.Public().Bytes(), cur.Public().Bytes()) || set.Fingerprint() != cur.Fingerprint() {
		t.Fatal("a key set does not seal as its newest key")
	}
	for _, p := range []*PrivateKey{cur, old, derived} {
		if pt, err := Open(sealedTo(p), aad, set); err != nil || string(pt) != "hi" {
			t.Fatalf("the set does not open what was sealed to one of its keys: %v", err)
		}
	}
	if _, err := Open(sealedTo(old), aad, cur.WithOlder(derived)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a destroyed key's payload: %v, want malformed", err)
	}
}

// FuzzCertificatePayload: no input panics, whatever decodes re-encodes to
// the same bytes, and no strict prefix of it decodes.
func FuzzCertificatePayload(f *testing.F) {
	k, p := newPeer(f, 10)
	now := time.UnixMilli(1_800_000_000_000)
	for _, mk := range []func() (*item.Item, error){
		func() (*item.Item, error) { return Certificate(k, p, now) },
		func() (*item.Item, error) { return SubkeyCertificate(k, p, now, now, now.Add(time.Hour)) },
	} {
		it, err := mk()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(it.Payload())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := decodeCert(b)
		if err != nil {
			return
		}
		again, err := wire.Marshal(w)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("decoded %x, re-encoded %x (%v)", b, again, err)
		}
		for i := range b {
			if _, err := decodeCert(b[:i]); err == nil {
				t.Fatalf("the prefix %x of %x decodes", b[:i], b)
			}
		}
	})
}

// TestSubkeyVector pins the encryption subkey derivation and its
// certificate (docs/protocol.md §9.1, §8.9): identity seed 0x05*32,
// subkey secret 0x07*32, created = not-before = t0 (2025-06-01 12:00 UTC)
// and not-after = t0 + 21 days. The file holds the public key's SHA-256, the certificate
// payload and the certificate item, in hex (regenerate with -update).
func TestSubkeyVector(t *testing.T) {
	id, err := identity.NewKeyFromSeed(bytes.Repeat([]byte{5}, identity.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := NewSubkey(id.ID(), bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := SubkeyCertificate(id, sub, t0, t0, t0.Add(21*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	fp := sub.Fingerprint()
	got := fmt.Sprintf("fingerprint %x\npayload %x\nitem %x\n", fp, cert.Payload(), cert.Bytes())
	vec := filepath.Join("testdata", "subkey_v1.txt")
	if *update {
		if err := os.WriteFile(vec, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(vec)
	if err != nil {
		t.Fatalf("%v (regenerate with: go test ./recipient -run TestSubkeyVector -update)", err)
	}
	if got != string(want) {
		t.Fatalf("the subkey or its certificate differs from %s:\n%s\nwant\n%s", vec, got, want)
	}
}
