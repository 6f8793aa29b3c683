//go:build linux

package lan

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	avahiDBusConf = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=SOCKET</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`
	avahiConf = `[server]
host-name=gwavahitest
use-ipv4=yes
use-ipv6=no
allow-interfaces=gw0
enable-dbus=yes
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
`
)

// startAvahi runs a private D-Bus system bus and avahi-daemon in namespace
// ns, and returns the environment avahi's tools need to reach it. Missing
// avahi is a failure that says what to install.
func (l *lab) startAvahi(ns string) []string {
	t := l.t
	for _, tool := range []string{"avahi-daemon", "avahi-browse", "avahi-publish", "dbus-daemon"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the avahi interop test needs %s (apt-get install -y avahi-daemon avahi-utils dbus)", tool)
		}
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "bus")
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	env := append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS=unix:path="+sock)
	bg := func(name string, args ...string) {
		cmd := l.Command(ns, name, args...)
		cmd.Env = env
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-done
			}
			if t.Failed() {
				t.Logf("%s said:\n%s", name, out.String())
			}
		})
	}
	bg("dbus-daemon", "--config-file="+write("dbus.conf", strings.Replace(avahiDBusConf, "SOCKET", sock, 1)), "--nofork", "--nopidfile")
	waitFor(t, 10*time.Second, "the D-Bus socket", func() bool { _, err := os.Stat(sock); return err == nil })
	// avahi-daemon keeps its pid file and socket in /run/avahi-daemon and
	// refuses to start beside a running one. `ip netns exec` gives the
	// command its own mount namespace, so a tmpfs there hides the
	// machine's avahi (if any) from ours and ours from it.
	if err := os.MkdirAll("/run/avahi-daemon", 0o755); err != nil {
		t.Fatal(err)
	}
	bg("sh", "-c", `mount -t tmpfs tmpfs /run/avahi-daemon && exec avahi-daemon -f "$0" --no-drop-root --no-chroot --no-rlimits`,
		write("avahi.conf", avahiConf))
	waitFor(t, 15*time.Second, "avahi-daemon on D-Bus", func() bool {
		cmd := l.Command(ns, "avahi-browse", "-a", "-t", "-p")
		cmd.Env = env
		return cmd.Run() == nil
	})
	return env
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !ok(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%s not ready within %s", what, d)
		}
	}
}

// TestLANAvahiInteropAndRestart: an independent mDNS implementation
// (avahi, in its own namespace) lists our advert under _ghostwire._tcp,
// and our browser sees a service avahi publishes; and a node that
// restarts finds its peer again and syncs.
func TestLANAvahiInteropAndRestart(t *testing.T) {
	l := newLab(t, 3)
	env := l.startAvahi(l.nodes[2])

	a := l.start(l.nodes[0], helperConfig{Role: "node", Seed: alice, Peers: []byte{bob}, Items: []string{"a1"}})
	b := l.start(l.nodes[1], helperConfig{Role: "node", Seed: bob, Peers: []byte{alice}, Items: []string{"b1"}})
	port := strings.Split(a.next("listening", 10*time.Second).Addr, ":")[1]
	b.next("listening", 10*time.Second)

	// avahi-browse lists alice's service, resolved to her address and port.
	var line string
	waitFor(t, 15*time.Second, "alice's advert in avahi-browse", func() bool {
		cmd := l.Command(l.nodes[2], "avahi-browse", "-p", "-r", "-t", ServiceType)
		cmd.Env = env
		out, _ := cmd.Output()
		for _, ln := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(ln, "=") && strings.Contains(ln, ";10.77.0.1;"+port+";") {
				line = ln
				return true
			}
		}
		return false
	})
	t.Logf("avahi-browse: %s", line)
	if !strings.Contains(line, `"v=1"`) || !strings.Contains(line, `"t=`) {
		t.Errorf("avahi resolved alice's advert without its TXT: %s", line)
	}

	// Our browser sees what avahi publishes.
	pub := l.Command(l.nodes[2], "avahi-publish", "-s", "gwinterop", "_gwinterop._tcp", "4242", "k=v")
	pub.Env = env
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { pub.Process.Signal(os.Interrupt); pub.Wait() }()
	a.send("browse _gwinterop._tcp 10")
	s := a.next("service", 15*time.Second)
	if s.Instance != "gwinterop" || len(s.Peers) == 0 || s.Peers[0] != "10.77.0.3:4242" || len(s.Text) != 1 || s.Text[0] != "k=v" {
		t.Errorf("our browser saw %+v; want avahi's gwinterop at 10.77.0.3:4242 with k=v", s)
	}
	a.next("browsed", 15*time.Second)

	// Alice syncs with bob, restarts, and finds him again.
	for round := range 2 {
		if round == 1 {
			a.stop()
			a = l.start(l.nodes[0], helperConfig{Role: "node", Seed: alice, Peers: []byte{bob}, Items: []string{"a1", "a2 after restart"}})
			a.next("listening", 10*time.Second)
		}
		a.send("dial 2")
		d := a.next("dialed", 40*time.Second)
		if d.Err != "" {
			t.Fatalf("round %d: alice dialing bob: %s", round, d.Err)
		}
		t.Logf("round %d: alice recognised bob %d ms after her process started", round, d.Ms)
	}
	b.send("items")
	if got := b.next("items", 10*time.Second).Items; len(got) != 3 {
		t.Errorf("bob holds %q after alice's restart, want a1, a2 and b1", got)
	}
}
