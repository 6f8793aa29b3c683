//go:build linux

package lan

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if cfg := os.Getenv(helperEnv); cfg != "" {
		os.Exit(runHelper(cfg))
	}
	os.Exit(m.Run())
}

// lab is a private network the test builds: a hub namespace holding a
// bridge, and node namespaces each joined to it by a veth pair whose inner
// end is gw0 with 10.77.0.N/24. No address in it exists outside it.
type lab struct {
	t     *testing.T
	hub   string
	nodes []string // namespace of node i+1
}

// newLab builds the lab or fails the test saying what is missing: these
// tests need root and iproute2, as the tor tests need tor.
func newLab(t *testing.T, n int) *lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the LAN tests build network namespaces and need root (run them as root, or in CI)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("the LAN tests need iproute2's ip command (apt-get install iproute2)")
	}
	id := fmt.Sprintf("gwl%d", os.Getpid()%100000)
	l := &lab{t: t, hub: id + "h"}
	t.Cleanup(l.destroy)
	l.ip("netns", "add", l.hub)
	l.in(l.hub, "ip", "link", "add", "br0", "type", "bridge")
	l.in(l.hub, "ip", "link", "set", "br0", "up")
	for i := 1; i <= n; i++ {
		ns := fmt.Sprintf("%s%d", id, i)
		l.nodes = append(l.nodes, ns)
		port := fmt.Sprintf("p%d", i)
		l.ip("netns", "add", ns)
		l.ip("link", "add", "gw0", "netns", ns, "type", "veth", "peer", "name", port, "netns", l.hub)
		l.in(l.hub, "ip", "link", "set", port, "master", "br0")
		l.in(l.hub, "ip", "link", "set", port, "up")
		l.in(ns, "ip", "addr", "add", fmt.Sprintf("10.77.0.%d/24", i), "dev", "gw0")
		l.in(ns, "ip", "link", "set", "gw0", "up")
		l.in(ns, "ip", "link", "set", "lo", "up")
	}
	return l
}

func (l *lab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (l *lab) in(ns string, args ...string) {
	l.t.Helper()
	l.ip(append([]string{"netns", "exec", ns}, args...)...)
}

func (l *lab) destroy() {
	for _, ns := range append(l.nodes, l.hub) {
		exec.Command("ip", "netns", "del", ns).Run()
	}
}

// helper is a running helper process.
type helper struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan helperEvent
	stderr strings.Builder
}

// start runs the test binary as a helper in namespace ns.
func (l *lab) start(ns string, cfg helperConfig) *helper {
	l.t.Helper()
	b, _ := json.Marshal(cfg)
	h := &helper{t: l.t, events: make(chan helperEvent, 64)}
	h.cmd = exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^$")
	h.cmd.Env = append(os.Environ(), helperEnv+"="+string(b))
	h.cmd.Stderr = &h.stderr
	var err error
	if h.stdin, err = h.cmd.StdinPipe(); err != nil {
		l.t.Fatal(err)
	}
	stdout, err := h.cmd.StdoutPipe()
	if err != nil {
		l.t.Fatal(err)
	}
	if err := h.cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	go func() {
		defer close(h.events)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var e helperEvent
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				h.events <- e
			}
		}
	}()
	l.t.Cleanup(h.stop)
	return h
}

// send writes a command line to the helper.
func (h *helper) send(cmd string) {
	h.t.Helper()
	if _, err := fmt.Fprintln(h.stdin, cmd); err != nil {
		h.t.Fatalf("helper gone: %v\n%s", err, h.stderr.String())
	}
}

// next returns the helper's next event named ev, skipping others, or
// fails the test after timeout.
func (h *helper) next(ev string, timeout time.Duration) helperEvent {
	h.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e, ok := <-h.events:
			if !ok {
				h.t.Fatalf("helper exited waiting for %q:\n%s", ev, h.stderr.String())
			}
			if e.Ev == "error" {
				h.t.Fatalf("helper error: %s\n%s", e.Err, h.stderr.String())
			}
			if e.Ev == ev {
				return e
			}
		case <-deadline:
			h.t.Fatalf("no %q from the helper within %s:\n%s", ev, timeout, h.stderr.String())
		}
	}
}

// stop closes the helper's stdin, which ends it, and waits for it.
func (h *helper) stop() {
	if h.stdin == nil {
		return
	}
	h.stdin.Close()
	h.stdin = nil
	done := make(chan struct{})
	go func() { h.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		h.cmd.Process.Kill()
		<-done
	}
}
