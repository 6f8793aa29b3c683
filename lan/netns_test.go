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

	"github.com/ghostwire/ghostwire/lan/lantest"
)

func TestMain(m *testing.M) {
	if cfg := os.Getenv(helperEnv); cfg != "" {
		os.Exit(runHelper(cfg))
	}
	os.Exit(m.Run())
}

// lab is a lantest.Lab whose nodes can run the test binary as helpers.
type lab struct {
	*lantest.Lab
	t     *testing.T
	hub   string
	nodes []string
}

func newLab(t *testing.T, n int) *lab {
	t.Helper()
	l := lantest.New(t, n)
	return &lab{Lab: l, t: t, hub: l.Hub, nodes: l.Nodes}
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
	h.cmd = l.Command(ns, os.Args[0], "-test.run=^$")
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

// browse has the helper browse for serviceType for secs seconds and
// returns the services it saw.
func (h *helper) browse(serviceType string, secs int) []helperEvent {
	h.t.Helper()
	h.send(fmt.Sprintf("browse %s %d", serviceType, secs))
	var out []helperEvent
	for {
		e, ok := <-h.events
		if !ok {
			h.t.Fatalf("helper exited while browsing:\n%s", h.stderr.String())
		}
		switch e.Ev {
		case "browsed":
			return out
		case "service":
			out = append(out, e)
		}
	}
}
