// Package lantest builds private networks of Linux network namespaces for
// LAN-mode tests: a hub namespace holding a bridge, and node namespaces
// each joined to it by a veth pair whose inner end is gw0 with 10.77.0.N/24.
// No address in a lab exists outside it, and the lab is removed when the
// test ends. It needs root and iproute2; their absence fails the test with
// what to do, as a missing tor does in the onion tests.
package lantest

import (
	"crypto/rand"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Interface is the name of every node namespace's link to the lab.
const Interface = "gw0"

// Lab is one private network. Its fields are read-only.
type Lab struct {
	Hub   string       // the namespace holding the bridge (br0) and the veths' outer ends
	Nodes []string     // node i's namespace is Nodes[i]
	Addrs []netip.Addr // node i's address on gw0 is Addrs[i]
	t     testing.TB
}

// New builds a lab with n node namespaces, removed by t.Cleanup.
func New(t testing.TB, n int) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the LAN tests build network namespaces and need root (run them as root, or in CI)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("the LAN tests need iproute2's ip command (apt-get install iproute2)")
	}
	if n < 1 || n > 200 {
		t.Fatalf("lantest: bug: %d nodes", n)
	}
	// Random, so that two labs (two tests, two processes) never share a
	// name.
	id := fmt.Sprintf("gwl%s-", rand.Text()[:8])
	l := &Lab{Hub: id + "h", t: t}
	t.Cleanup(l.destroy)
	l.ip("netns", "add", l.Hub)
	l.Run(l.Hub, "ip", "link", "add", "br0", "type", "bridge")
	l.Run(l.Hub, "ip", "link", "set", "br0", "up")
	for i := 1; i <= n; i++ {
		ns := fmt.Sprintf("%s%d", id, i)
		addr := netip.AddrFrom4([4]byte{10, 77, 0, byte(i)})
		l.Nodes, l.Addrs = append(l.Nodes, ns), append(l.Addrs, addr)
		port := fmt.Sprintf("p%d", i)
		l.ip("netns", "add", ns)
		l.ip("link", "add", Interface, "netns", ns, "type", "veth", "peer", "name", port, "netns", l.Hub)
		l.Run(l.Hub, "ip", "link", "set", port, "master", "br0")
		l.Run(l.Hub, "ip", "link", "set", port, "up")
		l.Run(ns, "ip", "addr", "add", addr.String()+"/24", "dev", Interface)
		l.Run(ns, "ip", "link", "set", Interface, "up")
		l.Run(ns, "ip", "link", "set", "lo", "up")
	}
	return l
}

// Command returns a command that runs name with args inside namespace ns.
func (l *Lab) Command(ns, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Run runs name with args inside namespace ns and fails the test if it
// fails.
func (l *Lab) Run(ns, name string, args ...string) {
	l.t.Helper()
	if out, err := l.Command(ns, name, args...).CombinedOutput(); err != nil {
		l.t.Fatalf("in %s: %s %s: %v\n%s", ns, name, strings.Join(args, " "), err, out)
	}
}

func (l *Lab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// destroy removes the namespaces; their veths and the bridge go with them.
func (l *Lab) destroy() {
	for _, ns := range append(l.Nodes, l.Hub) {
		exec.Command("ip", "netns", "del", ns).Run()
	}
}

// BlockMulticast stops the bridge from carrying multicast to or from node
// i (0-based), as a network that filters mDNS does: its adverts reach no
// one and it hears none. Unicast is untouched.
func (l *Lab) BlockMulticast(i int) {
	l.t.Helper()
	l.Run(l.Hub, "bridge", "link", "set", "dev", fmt.Sprintf("p%d", i+1), "mcast_flood", "off")
}
