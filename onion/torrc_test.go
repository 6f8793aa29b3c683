package onion_test

import (
	"os"
	"strings"
	"testing"

	"github.com/ghostwire/ghostwire/onion"
)

// TestTorrcExample keeps torrc.example and the managed tor's settings for
// the real network saying the same safe things.
func TestTorrcExample(t *testing.T) {
	b, err := os.ReadFile("../torrc.example")
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines[l] = true
		}
	}
	for _, want := range []string{"SocksPort 127.0.0.1:9050 ExtendedErrors IsolateSOCKSAuth",
		"ControlPort 127.0.0.1:9051", "CookieAuthentication 1", "DNSPort 0", "ClientOnly 1", "SafeSocks 1"} {
		if !lines[want] {
			t.Errorf("torrc.example lacks %q", want)
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(onion.RealNetworkTorrc), "\n") {
		if !lines[l] {
			t.Errorf("onion.RealNetworkTorrc has %q, torrc.example does not", l)
		}
	}
	for l := range lines {
		if strings.HasPrefix(l, "SocksPort") || strings.HasPrefix(l, "ControlPort") {
			if !strings.Contains(l, "127.0.0.1:") {
				t.Errorf("%q is not bound to loopback", l)
			}
		}
	}
}
