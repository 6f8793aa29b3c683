package dm

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/vault"
)

// checkHost is the part of Host that Check uses; the rest is nil and
// panics if Check ever reaches for it.
type checkHost struct {
	Host
	id identity.ID
	rk *recipient.PrivateKey
}

func (h checkHost) ID() identity.ID                     { return h.id }
func (h checkHost) RecipientKey() *recipient.PrivateKey { return h.rk }
func (h checkHost) Vault() *vault.Vault                 { return nil }

// TestCheckRefusesBodyThatIsNotText: a peer's message whose sealed body
// holds invalid UTF-8 (which JSON would later turn into U+FFFD, silently) is
// refused before it is stored; the same message with valid text, control
// characters included, is admitted (the CLI shows those escaped).
func TestCheckRefusesBodyThatIsNotText(t *testing.T) {
	me, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	myRK, err := recipient.Derive(me)
	if err != nil {
		t.Fatal(err)
	}
	s := New(checkHost{id: me.ID(), rk: myRK})
	check := s.Check(peer.ID(), item.PairScope(me.ID(), peer.ID()))
	if check == nil {
		t.Fatal("the pair scope is not the service's")
	}
	sp := item.DirectSpace(peer.ID(), me.ID())
	// message makes a message from peer whose body is the CBOR map
	// {1: text} with text's bytes as they are, valid UTF-8 or not.
	message := func(text string) *item.Item {
		body := append([]byte{0xa1, 0x01, 0x60 + byte(len(text))}, text...)
		sealed, err := recipient.Seal(rand.Reader, body, messageAAD(sp, peer.ID()), []*recipient.PublicKey{myRK.Public()})
		if err != nil {
			t.Fatal(err)
		}
		it, err := item.New(peer, item.KindMessage, sp, time.Now(), sealed)
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	for _, tc := range []struct {
		name, text string
		want       bool
	}{
		{"plain text", "hello", true},
		{"controls in valid UTF-8", "\x1b[2J\x1b]0;owned\x07\u202e\u009b", true},
		{"lone C1 byte", "a\x9bb", false},
		{"truncated sequence", "caf\xc3", false},
		{"overlong encoding", "\xc0\xaf", false},
	} {
		if got := check(message(tc.text)); got != tc.want {
			t.Errorf("%s: Check = %v, want %v", tc.name, got, tc.want)
		}
	}
}
