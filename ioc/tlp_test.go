package ioc

import (
	"bytes"
	"slices"
	"testing"

	"github.com/ghostwire/ghostwire/identity"
)

func testKey(t testing.TB, n byte) *identity.PrivateKey {
	t.Helper()
	k, err := identity.NewKeyFromSeed(bytes.Repeat([]byte{n}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseTLP(t *testing.T) {
	cases := map[string]TLP{"clear": TLPClear, "TLP:CLEAR": TLPClear, "white": TLPClear, "tlp:white": TLPClear,
		"green": TLPGreen, "Amber": TLPAmber, "tlp:amber+strict": TLPAmberStrict, " RED ": TLPRed}
	for in, want := range cases {
		if got, err := ParseTLP(in); err != nil || got != want {
			t.Errorf("ParseTLP(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "amber strict", "ex:chr", "unclear", "tlp:", "black"} {
		if m, err := ParseTLP(bad); err == nil {
			t.Errorf("ParseTLP(%q) = %v, want error", bad, m)
		}
	}
	for m := TLPClear; m < tlpEnd; m++ {
		if got, _ := ParseTLP(m.String()); got != m {
			t.Errorf("%v does not parse back", m)
		}
	}
}

func TestMayExchange(t *testing.T) {
	alice, bob, carol, dave := testKey(t, 1).ID(), testKey(t, 2).ID(), testKey(t, 3).ID(), testKey(t, 4).ID()
	amber := func(m TLP) Audience { return Audience{TLP: m, Author: alice, Recipients: []identity.ID{bob, dave}} }
	cases := []struct {
		name          string
		a             Audience
		holder, peer  identity.ID
		trusted, want bool
	}{
		{"clear to stranger", Audience{TLP: TLPClear, Author: alice}, bob, carol, false, true},
		{"green to trusted", Audience{TLP: TLPGreen, Author: alice}, bob, carol, true, true},
		{"green to untrusted", Audience{TLP: TLPGreen, Author: alice}, alice, carol, false, false},
		{"amber author to recipient", amber(TLPAmber), alice, bob, false, true},
		{"amber recipient back to author", amber(TLPAmber), bob, alice, true, true},
		{"amber recipient to other recipient", amber(TLPAmber), bob, dave, true, false},
		{"amber recipient to trusted outsider", amber(TLPAmber), bob, carol, true, false},
		{"amber author to trusted outsider", amber(TLPAmber), alice, carol, true, false},
		{"amber+strict author to recipient", amber(TLPAmberStrict), alice, dave, false, true},
		{"red author to recipient", amber(TLPRed), alice, bob, false, true},
		{"red outsider to author", amber(TLPRed), carol, alice, true, false},
		{"to self", Audience{TLP: TLPClear, Author: alice}, bob, bob, true, false},
		{"invalid marking", Audience{TLP: 0, Author: alice}, alice, bob, true, false},
		{"invalid marking 9", Audience{TLP: 9, Author: alice, Recipients: []identity.ID{bob}}, alice, bob, true, false},
	}
	for _, c := range cases {
		if got := MayExchange(c.a, c.holder, c.peer, c.trusted); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

// TestClassesAgreeWithMayExchange: reconciling per class sends a peer
// exactly what MayExchange allows, for every marking, holder, peer and
// trust combination among four peers.
func TestClassesAgreeWithMayExchange(t *testing.T) {
	ids := []identity.ID{testKey(t, 1).ID(), testKey(t, 2).ID(), testKey(t, 3).ID(), testKey(t, 4).ID()}
	checked := 0
	for m := TLP(0); m <= tlpEnd; m++ {
		for _, author := range ids {
			a := Audience{TLP: m, Author: author, Recipients: ids[1:3]}
			classes := Classes(a)
			for _, h := range ids {
				for _, p := range ids {
					for _, trusted := range []bool{false, true} {
						shared := false
						for _, c := range PeerClasses(h, p, trusted) {
							shared = shared || slices.Contains(classes, c)
						}
						if want := MayExchange(a, h, p, trusted); shared != want {
							t.Errorf("%v author %v holder %v peer %v trusted %v: classes say %v, MayExchange %v",
								m, author.Short(), h.Short(), p.Short(), trusted, shared, want)
						}
						checked++
					}
				}
			}
		}
	}
	if checked != 7*4*4*4*2 {
		t.Fatalf("checked %d combinations", checked)
	}
}
