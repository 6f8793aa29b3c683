package gate

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestEvictsOldestHandshakeNeverASession: at the handshake cap a newcomer
// evicts the handshake that waited longest; sessions are never evicted,
// and only when every slot is a session is a newcomer refused.
func TestEvictsOldestHandshakeNeverASession(t *testing.T) {
	g := New(Limits{Conns: 4, Handshakes: 2})
	var evicted []int
	enter := func(i int) *Ticket { return g.Enter(func() { evicted = append(evicted, i) }) }

	a, b := enter(0), enter(1)
	if a == nil || b == nil {
		t.Fatal("the first two connections were refused")
	}
	if !a.Promote() {
		t.Fatal("promoting a live handshake failed")
	}
	c := enter(2) // one handshake slot free (a became a session)
	d := enter(3) // handshakes full: evicts b, the oldest handshake
	if c == nil || d == nil || fmt.Sprint(evicted) != "[1]" {
		t.Fatalf("evicted %v; want [1] (the oldest handshake, not the session)", evicted)
	}
	if b.Promote() {
		t.Fatal("an evicted handshake was promoted")
	}
	b.Leave() // after an eviction: no effect
	if !c.Promote() || !d.Promote() {
		t.Fatal("promoting live handshakes failed")
	}
	e := enter(4) // 3 sessions + 1 handshake = Conns
	f := enter(5) // at Conns: evicts e, never a session
	if e == nil || f == nil || fmt.Sprint(evicted) != "[1 4]" {
		t.Fatalf("evicted %v; want [1 4]", evicted)
	}
	if !f.Promote() {
		t.Fatal("promoting f failed")
	}
	if enter(6) != nil {
		t.Fatal("a newcomer was admitted with every slot a session")
	}
	if got := g.Counts(); got != (Counts{Conns: 4, Sessions: 4, Evicted: 2, Refused: 1}) {
		t.Fatalf("counts %+v", got)
	}
	a.Leave()
	a.Leave() // twice: no effect
	if enter(7) == nil {
		t.Fatal("no room after a session left")
	}
	if got := g.Counts(); got.Conns != 4 || got.Sessions != 3 || got.Handshakes != 1 {
		t.Fatalf("counts after a session left %+v", got)
	}
}

func TestLimitsFor(t *testing.T) {
	for _, c := range []struct {
		fds  int
		want Limits
	}{
		{0, Limits{Conns: 256, Handshakes: 64}}, // unknown: as for 1024
		{16, Limits{Conns: 8, Handshakes: 2}},
		{1024, Limits{Conns: 256, Handshakes: 64}},
		{4096, Limits{Conns: 1024, Handshakes: 256}},
		{1 << 20, Limits{Conns: 16384, Handshakes: 512}},
	} {
		if got := LimitsFor(c.fds); got != c.want {
			t.Errorf("LimitsFor(%d) = %+v; want %+v", c.fds, got, c.want)
		}
		if got := LimitsFor(c.fds); c.fds > 0 && got.Conns >= c.fds {
			t.Errorf("LimitsFor(%d) allows %d connections: not below the limit", c.fds, got.Conns)
		}
	}
}

func TestTemporary(t *testing.T) {
	op := func(err error) error { return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", err)} }
	for _, c := range []struct {
		err  error
		want bool
	}{
		{op(syscall.EMFILE), true},
		{op(syscall.ENFILE), true},
		{op(syscall.ECONNABORTED), true},
		{op(syscall.ENOBUFS), true},
		{net.ErrClosed, false},
		{&net.OpError{Op: "accept", Net: "tcp", Err: net.ErrClosed}, false},
		{op(syscall.EBADF), false},
		{errors.New("tor went away"), false},
		{nil, false},
	} {
		if got := Temporary(c.err); got != c.want {
			t.Errorf("Temporary(%v) = %v; want %v", c.err, got, c.want)
		}
	}
}

// TestBackoff: 5 ms doubling to 1 s, the first of a burst marked, and a
// success starts the next burst afresh.
func TestBackoff(t *testing.T) {
	var b Backoff
	var got []time.Duration
	for i := range 10 {
		d, first := b.Failed()
		if first != (i == 0) {
			t.Fatalf("failure %d: first = %v", i, first)
		}
		got = append(got, d)
	}
	want := "[5ms 10ms 20ms 40ms 80ms 160ms 320ms 640ms 1s 1s]"
	if fmt.Sprint(got) != want {
		t.Fatalf("delays %v; want %s", got, want)
	}
	if !b.Succeeded() || b.Succeeded() {
		t.Fatal("Succeeded should end a burst once")
	}
	if d, first := b.Failed(); d != 5*time.Millisecond || !first {
		t.Fatalf("after a success: %v, first=%v; want 5ms, true", d, first)
	}
}
