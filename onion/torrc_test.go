package onion_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ghostwire/ghostwire/onion"
)

// TestTorrcExample keeps torrc.example and the managed tor's settings for
// the real network saying the same safe things: control and SOCKS only as
// Unix sockets (docs/tor.md says why), SOCKS for onions only and with
// per-peer isolation, cookie authentication, no DNS port, a client only.
// And the file is one a real tor accepts: tor --verify-config reads it with
// its paths moved into a directory the test owns.
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
	for _, want := range []string{"SocksPort unix:/run/tor-ghostwire/socks OnionTrafficOnly ExtendedErrors IsolateSOCKSAuth",
		"ControlPort unix:/run/tor-ghostwire/control", "CookieAuthentication 1", "DNSPort 0", "ClientOnly 1", "SafeSocks 1"} {
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
		if f := strings.Fields(l); len(f) > 1 && (f[0] == "SocksPort" || f[0] == "ControlPort") && !strings.HasPrefix(f[1], "unix:") {
			t.Errorf("%q is a TCP port, which every local user can reach; torrc.example uses Unix sockets", l)
		}
	}

	tor, err := exec.LookPath("tor")
	if err != nil {
		t.Fatalf("checking torrc.example needs a real tor (Debian: apt-get install tor): %v", err)
	}
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	moved := strings.NewReplacer("/run/tor-ghostwire", run, "/var/lib/tor-ghostwire", filepath.Join(dir, "data")).Replace(string(b))
	torrc := filepath.Join(dir, "torrc")
	if err := os.WriteFile(torrc, []byte(moved), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tor, "--verify-config", "-f", torrc, "--defaults-torrc", "/dev/null").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Configuration was valid") {
		t.Fatalf("tor --verify-config refuses torrc.example (%v):\n%s", err, out)
	}
}
