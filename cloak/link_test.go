package cloak

import (
	"errors"
	"net"
	"net/netip"
	"testing"
)

// TestCheckOnLink: LAN mode reaches only the chosen interface's networks,
// and link-local IPv6 only with that interface's zone.
func TestCheckOnLink(t *testing.T) {
	link := []netip.Prefix{netip.MustParsePrefix("10.77.0.0/24"), netip.MustParsePrefix("fe80::/64")}
	tcp := func(s string) net.Addr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }
	lan, tor := Policy{Mode: ModeLAN}, Policy{Mode: ModeTor}
	cases := []struct {
		name string
		p    Policy
		a    net.Addr
		link []netip.Prefix
		ok   bool
	}{
		{"on the link", lan, tcp("10.77.0.2:4000"), link, true},
		{"private, another network", lan, tcp("10.78.0.2:4000"), link, false},
		{"private, no link given", lan, tcp("10.77.0.2:4000"), nil, false},
		{"link-local v6 on our zone", lan, tcp("[fe80::1%gw0]:4000"), link, true},
		{"link-local v6 on another zone", lan, tcp("[fe80::1%eth9]:4000"), link, false},
		{"link-local v6 without a zone", lan, tcp("[fe80::1]:4000"), link, false},
		{"public", lan, tcp("8.8.8.8:53"), []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, false},
		{"loopback", lan, tcp("127.0.0.1:4000"), []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, false},
		{"udp", lan, &net.UDPAddr{IP: net.IPv4(10, 77, 0, 2), Port: 5353}, link, false},
		{"tor mode ignores the link", tor, tcp("127.0.0.1:9050"), nil, true},
		{"tor mode still refuses the lan", tor, tcp("10.77.0.2:4000"), link, false},
	}
	for _, c := range cases {
		err := c.p.CheckOnLink(c.a, c.link, "gw0")
		if (err == nil) != c.ok {
			t.Errorf("%s: CheckOnLink(%s) = %v, want ok=%v", c.name, c.a, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrForbidden) {
			t.Errorf("%s: %v does not wrap ErrForbidden", c.name, err)
		}
	}
}
