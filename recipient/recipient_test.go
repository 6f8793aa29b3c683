package recipient

import (
	"bytes"
	"crypto/hpke"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/wire"
)

func newPeer(t testing.TB, b byte) (*identity.PrivateKey, *PrivateKey) {
	t.Helper()
	k, err := identity.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{b}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Derive(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, p
}

func TestSealOpen(t *testing.T) {
	_, alice := newPeer(t, 1)
	_, bob := newPeer(t, 2)
	_, carol := newPeer(t, 3)
	aad := []byte("space|author")
	msg := []byte("meet at the usual place")
	sealed, err := Seal(rand.Reader, msg, aad, []*PublicKey{bob.Public(), alice.Public(), bob.Public()})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := Recipients(sealed)
	if err != nil || len(ids) != 2 || ids[0] != bob.owner || ids[1] != alice.owner {
		t.Fatalf("recipients %v %v", ids, err)
	}
	for _, k := range []*PrivateKey{alice, bob} {
		pt, err := Open(sealed, aad, k)
		if err != nil || !bytes.Equal(pt, msg) {
			t.Fatalf("open: %q %v", pt, err)
		}
	}
	if _, err := Open(sealed, aad, carol); !errors.Is(err, ErrNotRecipient) {
		t.Fatalf("carol: %v", err)
	}
	if _, err := Open(sealed, []byte("other context"), bob); !errors.Is(err, ErrMalformed) {
		t.Fatalf("moved to another context: %v", err)
	}
	for i := 0; i < len(sealed); i += 7 {
		b := bytes.Clone(sealed)
		b[i] ^= 0x20
		if pt, err := Open(b, aad, bob); err == nil && !bytes.Equal(pt, msg) {
			t.Fatalf("byte %d flipped: opened to different plaintext", i)
		} else if err == nil {
			// A flip in a stanza not ours can leave ours intact; that is fine
			// only if the plaintext is unchanged (checked above) and the
			// flipped stanza was another recipient's.
			continue
		}
	}
	if _, err := Seal(rand.Reader, msg, aad, nil); err == nil {
		t.Fatal("sealed to nobody")
	}
}

func TestDeriveDeterministic(t *testing.T) {
	k, p := newPeer(t, 9)
	p2, err := Derive(k)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.Public().Bytes(), p2.Public().Bytes()) {
		t.Fatal("derivation not deterministic")
	}
	if len(p.Public().Bytes()) != 1216 {
		t.Fatalf("public key %d bytes, want 1216 (ML-KEM-768 + X25519)", len(p.Public().Bytes()))
	}
}

func TestCertificate(t *testing.T) {
	k, p := newPeer(t, 4)
	now := time.Unix(1_800_000_000, 0)
	cert, err := Certificate(k, p, now)
	if err != nil {
		t.Fatal(err)
	}
	back, err := item.Decode(cert.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := back.Verify(now); err != nil {
		t.Fatal(err)
	}
	pub, err := FromCertificate(back)
	if err != nil || pub.Owner != k.ID() || !bytes.Equal(pub.Bytes(), p.Public().Bytes()) {
		t.Fatalf("certificate: %v", err)
	}
	// Another identity cannot certify this key.
	mallory, _ := newPeer(t, 5)
	if _, err := Certificate(mallory, p, now); err == nil {
		t.Fatal("certified someone else's key")
	}
	// A certificate item of another kind is refused.
	other, _ := item.New(k, 99, Space, now, cert.Payload())
	if _, err := FromCertificate(other); !errors.Is(err, ErrMalformed) {
		t.Fatalf("wrong kind: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	_, bob := newPeer(f, 2)
	sealed, _ := Seal(rand.Reader, []byte("hello"), nil, []*PublicKey{bob.Public()})
	f.Add(sealed)
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		ids, rerr := Recipients(b)
		pt, err := Open(b, nil, bob)
		if err != nil {
			return
		}
		// Whatever opens names bob among decodable recipients, and its
		// plaintext authenticates under a key only a sealer could choose.
		if rerr != nil {
			t.Fatalf("opened although the recipient list does not decode: %v", rerr)
		}
		found := false
		for _, id := range ids {
			found = found || id == bob.owner
		}
		if !found || pt == nil {
			t.Fatal("opened a payload not sealed to bob")
		}
	})
}

// FuzzRecipients fuzzes the sealed payload's decoder and recipient list
// alone. FuzzOpen reaches them too, but pays an ML-KEM-768+X25519
// decapsulation for every input that names bob, which holds it to about a
// thousand inputs a second; this target runs the parser at the decoders'
// rate. Whatever lists recipients is canonical (decode → encode gives the
// input back) and lists each recipient once, in stanza order.
func FuzzRecipients(f *testing.F) {
	_, alice := newPeer(f, 1)
	_, bob := newPeer(f, 2)
	for _, to := range [][]*PublicKey{{bob.Public()}, {alice.Public(), bob.Public()}} {
		sealed, err := Seal(rand.Reader, []byte("hello"), nil, to)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(sealed)
	}
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		ids, err := Recipients(b)
		if err != nil {
			return
		}
		w, err := decode(b)
		if err != nil {
			t.Fatalf("Recipients accepted what decode refuses: %v", err)
		}
		if again, err := wire.Marshal(w); err != nil || !bytes.Equal(again, b) {
			t.Fatalf("decode→encode changed the bytes: %v", err)
		}
		if len(ids) != len(w.Stanzas) {
			t.Fatalf("%d recipients listed for %d stanzas", len(ids), len(w.Stanzas))
		}
		seen := map[identity.ID]bool{}
		for i, id := range ids {
			if seen[id] || !bytes.Equal(id.Bytes(), w.Stanzas[i].To) {
				t.Fatalf("recipient %d (%v) listed twice or out of order", i, id)
			}
			seen[id] = true
		}
	})
}

// TestKeyCommitment: an author who wraps a different payload key for one
// recipient (to show two recipients of one item two texts) is caught: the
// recipient whose key does not match the payload's commitment gets
// ErrMalformed and no plaintext, and a payload without a commitment does
// not decode.
func TestKeyCommitment(t *testing.T) {
	_, alice := newPeer(t, 1)
	_, bob := newPeer(t, 2)
	aad := []byte("space|author")
	sealed, err := Seal(rand.Reader, []byte("the real text"), aad, []*PublicKey{alice.Public(), bob.Public()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := decode(sealed)
	if err != nil {
		t.Fatal(err)
	}
	// Rewrap bob's stanza around another key.
	other := bytes.Repeat([]byte{7}, payloadKeySize)
	_, kdf, aead := suite()
	w.Stanzas[1].Wrapped, err = hpke.Seal(bob.Public().k, kdf, aead, info(bob.owner, aad), other)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := wire.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := Open(forged, aad, alice); err != nil || string(pt) != "the real text" {
		t.Fatalf("alice, whose stanza is intact: %q %v", pt, err)
	}
	if pt, err := Open(forged, aad, bob); !errors.Is(err, ErrMalformed) || pt != nil || !strings.Contains(err.Error(), "commits") {
		t.Fatalf("bob, given another key: %q %v; want the commitment refused", pt, err)
	}
	w.Commit = nil
	bare, err := wire.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Recipients(bare); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a payload without its commitment: %v", err)
	}
}
