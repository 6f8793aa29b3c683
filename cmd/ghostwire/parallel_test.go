package main

import (
	"runtime"
	"strings"
	"sync"
	"testing"
)

// torTests is the group of end-to-end tests that each start their own
// private Tor network (parallelTor). They spend most of their time waiting
// on tor (a network's consensus, descriptors, circuits), not on the CPU,
// so they run at once, after the package's serial tests. checkBaseline
// counts the process's goroutines and fds, which tests running at once
// share: a member's check is made when the last member running ends,
// against the counts before the first of them began.
var torTests struct {
	mu   sync.Mutex
	idle sync.Cond // signalled when a group check ends
	// running: members begun and not ended. checking: the last one out is
	// waiting for the counts to settle; a new member waits for it.
	running  int
	checking bool
	members  map[*testing.T]bool
	g0, f0   int      // goroutines and fds before the first running member began
	checked  []string // members that asked for checkBaseline since the last check
}

// parallelTor marks t as a test that starts its own private Tor network
// and shares nothing else with the package's other tests (ports are
// picked free, directories are t.TempDir's), and runs it with the others
// of its kind. Call it first, so that its cleanup, the group's check, runs
// after every other.
func parallelTor(t *testing.T) {
	t.Parallel()
	g := &torTests
	g.mu.Lock()
	if g.idle.L == nil {
		g.idle.L = &g.mu
		g.members = map[*testing.T]bool{}
	}
	for g.checking {
		g.idle.Wait()
	}
	if g.running == 0 {
		g.g0, g.f0 = runtime.NumGoroutine(), openFDs()
	}
	g.running++
	g.members[t] = true
	g.mu.Unlock()
	t.Cleanup(func() { leaveTorTests(t) })
}

// inTorGroup reports whether t runs in the group; if so, the group checks
// t's goroutines and fds when its last running member ends.
func inTorGroup(t *testing.T) bool {
	g := &torTests
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.members[t] {
		return false
	}
	g.checked = append(g.checked, t.Name())
	return true
}

func leaveTorTests(t *testing.T) {
	g := &torTests
	g.mu.Lock()
	delete(g.members, t)
	g.running--
	if g.running > 0 || len(g.checked) == 0 {
		g.mu.Unlock()
		return
	}
	g.checking = true
	g0, f0, names := g.g0, g.f0, g.checked
	g.checked = nil
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.checking = false
		g.idle.Broadcast()
		g.mu.Unlock()
	}()
	if n, f, ok := settle(g0, f0); !ok {
		t.Errorf("leak test: %d goroutines and %d fds once %s (run at once with other tor tests) ended, %d and %d before they began",
			n, f, strings.Join(names, ", "), g0, f0)
	}
}
