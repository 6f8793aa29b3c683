package node

import (
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/contacts"
	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/keys"
	"github.com/ghostwire/ghostwire/rating"
	"github.com/ghostwire/ghostwire/store"
)

// subkeyOf certifies a fresh signing subkey for h's identity, valid from an
// hour ago for a month.
func subkeyOf(t testing.TB, h *hnode, seed byte) *item.Subkey {
	t.Helper()
	return certifiedSubkey(t, h, testKey(t, seed))
}

// certifiedSubkey certifies sub as a signing subkey of h's identity, valid
// from an hour ago for a month.
func certifiedSubkey(t testing.TB, h *hnode, sub *identity.PrivateKey) *item.Subkey {
	t.Helper()
	now := time.Now()
	cert, err := item.Certify(h.key, sub.ID(), item.PurposeItem, now.Add(-time.Hour), now.Add(30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	sk, err := item.NewSubkey(h.ID(), sub, cert)
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

// publishRating stores, at h, a rating signed by key (for its identity) in
// the reputation scope, which every peer relays.
func publishRating(t testing.TB, h *hnode, key item.Signer, subject identity.ID, created time.Time) *item.Item {
	t.Helper()
	it, err := rating.NewRating(key, rating.Rating{Subject: subject, Verdict: rating.Good}, created)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (host{h.Node}).Publish([]store.Entry{{Item: it, Scopes: []item.Scope{rating.Scope()}}}, nil); err != nil {
		t.Fatal(err)
	}
	return it
}

// TestRevocationTwoHops: A–B–C in a line, and T, a thief with A's subkey,
// paired with C only. A revokes its subkey; after one sync round (A–B,
// then B–C) C holds the revocation and the item the subkey signed before
// it, and refuses the one the thief signed after it, as B did (§5.12).
func TestRevocationTwoHops(t *testing.T) {
	a, b, c, thief := newHNode(t, 51), newHNode(t, 52), newHNode(t, 53), newHNode(t, 54)
	pairUp(t, a, b)
	pairUp(t, b, c)
	pairUp(t, thief, c)
	sk := subkeyOf(t, a, 55)
	before := publishRating(t, a, sk, b.ID(), time.Now().Add(-time.Minute))
	rev, err := a.keys.Revoke(sk.Cert().Key, "device stolen")
	if err != nil {
		t.Fatal(err)
	}
	if rev.Identity() || rev.Subject != sk.Cert().Key {
		t.Fatalf("revocation %+v; want one of the subkey", rev)
	}
	// A's own store took the forged item too (Publish checks nothing):
	// B must refuse it when A offers it.
	after := publishRating(t, a, sk, c.ID(), rev.At.Add(time.Millisecond))
	afterThief := publishRating(t, thief, sk, thief.ID(), rev.At.Add(2*time.Millisecond))

	mustSync(t, a, b)
	mustSync(t, b, c)
	revs, err := c.keys.Revocations()
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) != 1 || revs[0].Subject != sk.Cert().Key || revs[0].Author != a.ID() {
		t.Fatalf("C holds revocations %+v after one round; want A's of its subkey", revs)
	}
	if !holds(b, before.ID()) || !holds(c, before.ID()) {
		t.Error("the item the subkey signed before its revocation did not reach B and C")
	}
	if holds(b, after.ID()) || holds(c, after.ID()) {
		t.Error("an item the subkey signed after its revocation was stored")
	}
	mustSync(t, thief, c)
	if holds(c, afterThief.ID()) {
		t.Error("C stored the thief's item signed by the revoked subkey after the revocation")
	}
	if err := c.keys.Admit(afterThief); !errors.Is(err, keys.ErrRevoked) {
		t.Errorf("C admits the thief's item: %v; want ErrRevoked", err)
	}
	// The edge (§5.12): at the revocation time is after, a millisecond
	// before is before.
	for _, e := range []struct {
		created time.Time
		refused bool
	}{{rev.At, true}, {rev.At.Add(-time.Millisecond), false}} {
		it, err := rating.NewRating(sk, rating.Rating{Subject: c.ID(), Verdict: rating.Bad}, e.created)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.keys.Admit(it); errors.Is(err, keys.ErrRevoked) != e.refused {
			t.Errorf("an item created %s from the revocation time: admit %v, want refused=%v", e.created.Sub(rev.At), err, e.refused)
		}
	}
}

// TestRevocationBindsOnlyItsAuthor: a revocation by T naming A's subkey
// is a valid item (it travels like any), but takes nothing from A: only
// A's own revocation binds A's items. One claiming A as author but signed
// by T does not verify, and one signed by A's subkey is refused as not by
// the identity.
func TestRevocationBindsOnlyItsAuthor(t *testing.T) {
	a, b, other := newHNode(t, 61), newHNode(t, 62), newHNode(t, 63)
	pairUp(t, a, b)
	pairUp(t, other, b)
	sk := subkeyOf(t, a, 64)
	if _, err := other.keys.Revoke(sk.Cert().Key, "I say so"); err != nil {
		t.Fatal(err)
	}
	mustSync(t, other, b)
	it := publishRating(t, a, sk, b.ID(), time.Now())
	mustSync(t, a, b)
	if !holds(b, it.ID()) {
		t.Fatal("B refused A's subkey-signed item because someone else revoked the subkey")
	}

	now := time.Now()
	forged, err := keys.NewRevocation(other.key, sk.Cert().Key, now, "forged", now)
	if err != nil {
		t.Fatal(err)
	}
	raw := forged.Bytes()
	// Claim A as the author: the author's key is the first field after
	// the map header and key 1 (a1 01 58 20 …); the signature stays T's.
	copy(raw[4:36], a.ID().Bytes())
	f, err := item.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Verify(now); !errors.Is(err, item.ErrBadSignature) {
		t.Errorf("a revocation claiming A but signed by T verifies: %v", err)
	}
	bySub, err := item.New(sk, item.KindRevocation, item.KeysSpace(), now, forged.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.RevocationOf(bySub); !errors.Is(err, keys.ErrNotIdentity) {
		t.Errorf("a revocation signed by A's subkey reads as %v; want ErrNotIdentity", err)
	}
}

// TestIdentityRevocation: an identity that revokes itself becomes a
// revoked contact at its peer, and its items dated after are refused.
func TestIdentityRevocation(t *testing.T) {
	a, b := newHNode(t, 71), newHNode(t, 72)
	pairUp(t, a, b)
	rev, err := a.keys.Revoke(a.ID(), "identity key compromised")
	if err != nil {
		t.Fatal(err)
	}
	mustSync(t, a, b)
	if st, _ := b.contacts.StateOf(a.ID()); st != contacts.Revoked {
		t.Fatalf("B sees A as %s after A revoked itself; want revoked", st)
	}
	later, err := rating.NewRating(a.key, rating.Rating{Subject: b.ID(), Verdict: rating.Bad}, rev.At.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.keys.Admit(later); !errors.Is(err, keys.ErrRevoked) {
		t.Errorf("B admits A's item dated after A revoked itself: %v", err)
	}
}

// signerOf returns the key that signed it, failing unless a subkey did.
func signerOf(t *testing.T, it *item.Item) identity.ID {
	t.Helper()
	if _, ok := it.Cert(); !ok {
		t.Fatalf("item %s was signed by the identity key; want a signing subkey", it.ID())
	}
	return it.Signer()
}

func rate(t *testing.T, h *hnode, peer identity.ID, verdict int) *item.Item {
	t.Helper()
	r, err := h.rate.Rate(peer, verdict)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := hex.DecodeString(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	it, _, err := h.db.GetItem(item.ID(raw))
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// TestSigningSubkeyRotates: the node signs its ratings with a certified
// subkey, the same one until its period ends, then a new one; key list
// shows both, the old one past; a peer accepts items of both; key revoke
// retires the current one at once and the next item has a new subkey.
func TestSigningSubkeyRotates(t *testing.T) {
	const period = 24 * time.Hour
	a := newHNode(t, 81, func(c *Config) { c.SubkeyPeriod = period })
	b := newHNode(t, 82)
	pairUp(t, a, b)
	first := signerOf(t, rate(t, a, b.ID(), rating.Good))
	if again := signerOf(t, rate(t, a, b.ID(), rating.Bad)); again != first {
		t.Fatalf("the subkey changed within its period: %s then %s", first.Short(), again.Short())
	}
	mustSync(t, a, b)
	a.setSkew(period + time.Minute)
	b.setSkew(period + time.Minute)
	second := signerOf(t, rate(t, a, b.ID(), rating.Good))
	if second == first {
		t.Fatal("the subkey did not rotate after its period")
	}
	subs, err := a.keys.Subkeys()
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 2 || subs[0].Key != second || subs[0].State != keys.StateCurrent || subs[1].Key != first || subs[1].State != keys.StatePast {
		t.Fatalf("key list %+v; want the new subkey current and the first past", subs)
	}
	res := mustSync(t, a, b)
	if len(res.gotB) == 0 {
		t.Fatal("B received nothing after the rotation")
	}

	info, err := a.keys.RevokeSubkey(second.Hex()[:12], "laptop lost")
	if err != nil {
		t.Fatal(err)
	}
	if info.State != keys.StateRevoked || info.Reason != "laptop lost" {
		t.Fatalf("revoked subkey shows %+v", info)
	}
	third := signerOf(t, rate(t, a, b.ID(), rating.Bad))
	if third == second || third == first {
		t.Fatal("the node signs with a revoked subkey")
	}
	mustSync(t, a, b)
	if revs, err := b.keys.Revocations(); err != nil || len(revs) != 1 || revs[0].Subject != second {
		t.Fatalf("B holds revocations %+v (%v); want A's of its second subkey", revs, err)
	}
	if _, err := a.keys.RevokeSubkey(second.Hex(), "again"); fault.KindOf(err) != fault.Invalid {
		t.Errorf("revoking a revoked subkey again: %v; want an invalid-request error", err)
	}
}

// TestKeysScopeFirst: the keys scope leads every peer's scope list, so
// its round finishes no later than any other and its items are sent first
// (docs/protocol.md §5.12).
func TestKeysScopeFirst(t *testing.T) {
	a, b := newHNode(t, 91), newHNode(t, 92)
	pairUp(t, a, b)
	sc := a.scopesFor(b.ID())
	if len(sc) < 2 || sc[0] != keys.Scope() {
		t.Fatalf("scopes offered to a peer start %x; want the keys scope %x first", sc[:1], keys.Scope())
	}
}
