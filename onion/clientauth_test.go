package onion

import (
	"bufio"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/ghostwire/ghostwire/identity"
)

// TestClientAuthKeysPair: the public key derived from an identity alone is
// the X25519 public key of the private key derived from its seed, so a peer
// can authorise us knowing only our onion address.
func TestClientAuthKeysPair(t *testing.T) {
	for range 50 {
		k, err := identity.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		priv := clientAuthPrivate(k)
		x, err := ecdh.X25519().NewPrivateKey(priv[:])
		if err != nil {
			t.Fatal(err)
		}
		pub, err := ClientAuthPublic(k.ID())
		if err != nil {
			t.Fatal(err)
		}
		if got := x.PublicKey().Bytes(); string(got) != string(pub[:]) {
			t.Fatalf("identity %s: X25519(priv) = %x, derived public %x", k.ID().Short(), got, pub)
		}
	}
}

// TestClientAuthVector checks the derivation against
// testdata/client_auth_v3.txt (docs/protocol.md §7.4): the RFC 8032 test-1
// seed, its onion address, and the keys tor is given.
func TestClientAuthVector(t *testing.T) {
	f, err := os.Open("testdata/client_auth_v3.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, val, ok := strings.Cut(sc.Text(), ": "); ok && !strings.HasPrefix(k, "#") {
			v[k] = val
		}
	}
	seed, _ := hex.DecodeString(v["seed"])
	k, err := identity.NewKeyFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	if k.ID().Onion() != v["onion"] {
		t.Fatalf("onion %s, vector %s", k.ID().Onion(), v["onion"])
	}
	priv := clientAuthPrivate(k)
	if got := base64.StdEncoding.EncodeToString(priv[:]); got != v["ONION_CLIENT_AUTH_ADD x25519"] {
		t.Errorf("private key %s, vector %s", got, v["ONION_CLIENT_AUTH_ADD x25519"])
	}
	args, err := clientAuthArgs([]identity.ID{k.ID()})
	if err != nil {
		t.Fatal(err)
	}
	if want := " ClientAuthV3=" + v["ClientAuthV3"]; args != want {
		t.Errorf("ADD_ONION tail %q, vector %q", args, want)
	}
}

// TestClientAuthArgsEmpty: with no peers the service is published for one
// random key, so it exists and nobody can reach it, and two calls differ.
func TestClientAuthArgsEmpty(t *testing.T) {
	a, err := clientAuthArgs(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := clientAuthArgs(nil)
	if strings.Count(a, "ClientAuthV3=") != 1 || len(a) != len(" ClientAuthV3=")+52 || a == b {
		t.Fatalf("no peers: %q then %q", a, b)
	}
}
