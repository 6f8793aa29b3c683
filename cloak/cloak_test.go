package cloak

import (
	"errors"
	"testing"
)

func TestPolicy(t *testing.T) {
	all := []Kind{OnionDial, OnionListen, TCPDial, TCPListen, MDNS, DNS}
	tests := []struct {
		name string
		mode Mode
		want map[Kind]bool
	}{
		{"tor: onion only", ModeTor, map[Kind]bool{OnionDial: true, OnionListen: true}},
		{"lan: direct tcp and mdns", ModeLAN, map[Kind]bool{TCPDial: true, TCPListen: true, MDNS: true}},
		{"zero mode fails closed", 0, map[Kind]bool{}},
		{"unknown mode fails closed", Mode(99), map[Kind]bool{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Policy{Mode: tt.mode}
			for _, k := range append(all, Kind(0), Kind(42)) {
				if got := p.Allow(k); got != tt.want[k] {
					t.Errorf("Allow(%s) = %v, want %v", k, got, tt.want[k])
				}
				err := p.Check(k)
				if tt.want[k] != (err == nil) {
					t.Errorf("Check(%s) = %v", k, err)
				}
				if err != nil && !errors.Is(err, ErrForbidden) {
					t.Errorf("Check(%s) = %v, does not wrap ErrForbidden", k, err)
				}
			}
		})
	}
}

func TestDialListenSplit(t *testing.T) {
	tor, lan := Policy{ModeTor}, Policy{ModeLAN}
	cases := []struct {
		p            Policy
		k            Kind
		dial, listen bool
	}{
		{tor, OnionDial, true, false},
		{tor, OnionListen, false, true},
		{tor, TCPDial, false, false},
		{tor, TCPListen, false, false},
		{tor, MDNS, false, false},
		{tor, DNS, false, false},
		{lan, TCPDial, true, false},
		{lan, TCPListen, false, true},
		{lan, OnionDial, false, false},
		{lan, MDNS, false, false},
		{lan, DNS, false, false},
	}
	for _, c := range cases {
		if got := c.p.AllowDial(c.k); got != c.dial {
			t.Errorf("%s: AllowDial(%s) = %v", c.p.Mode, c.k, got)
		}
		if got := c.p.AllowListen(c.k); got != c.listen {
			t.Errorf("%s: AllowListen(%s) = %v", c.p.Mode, c.k, got)
		}
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"tor": ModeTor, "TOR": ModeTor, " lan ": ModeLAN} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %v, %v", in, got, err)
		}
		if got, _ := ParseMode(want.String()); got != want {
			t.Errorf("round trip of %s", want)
		}
	}
	for _, in := range []string{"", "direct", "tor2", "clearnet"} {
		if _, err := ParseMode(in); err == nil {
			t.Errorf("ParseMode(%q) accepted", in)
		}
	}
}
