package gate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestEvictionOrder: at the caps a newcomer evicts the oldest connection
// still waiting for its first message, then the oldest handshake; a
// session is never evicted, and only when every slot is a session is a
// newcomer refused.
func TestEvictionOrder(t *testing.T) {
	g := New(Limits{Conns: 4, Handshakes: 2})
	var evicted []string
	enter := steppedEnter(g, &evicted)
	bg := context.Background()

	a := enter("a")
	if !a.Heard(bg) || !a.Promote() {
		t.Fatal("a could not become a session")
	}
	b := enter("b")
	if !b.Heard(bg) {
		t.Fatal("b could not start its handshake")
	}
	c := enter("c")
	enter("d")
	e := enter("e") // at Conns: evicts c, the oldest waiting for a first message
	if fmt.Sprint(evicted) != "[c]" {
		t.Fatalf("evicted %v; want [c]", evicted)
	}
	if c.Heard(bg) || c.Promote() {
		t.Fatal("an evicted connection went on")
	}
	c.Leave() // after an eviction: no effect
	if !e.Heard(bg) {
		t.Fatal("e could not start its handshake")
	}
	f := enter("f")   // evicts d (waiting), though b is older
	if !f.Heard(bg) { // handshakes full (b, e): evicts b, the oldest
		t.Fatal("f could not start its handshake")
	}
	if fmt.Sprint(evicted) != "[c d b]" {
		t.Fatalf("evicted %v; want [c d b]", evicted)
	}
	if b.Promote() {
		t.Fatal("an evicted handshake was promoted")
	}
	if !e.Promote() || !f.Promote() {
		t.Fatal("promoting live handshakes failed")
	}
	enter("h")      // sessions a, e, f and h waiting: Conns
	i := enter("i") // evicts h, never a session
	if !i.Heard(bg) || !i.Promote() || fmt.Sprint(evicted) != "[c d b h]" {
		t.Fatalf("evicted %v; want [c d b h]", evicted)
	}
	if enter("j") != nil {
		t.Fatal("a newcomer was admitted with every slot a session")
	}
	if got := g.Counts(); got != (Counts{Conns: 4, Sessions: 4, Evicted: 4, Refused: 1}) {
		t.Fatalf("counts %+v", got)
	}
	a.Leave()
	a.Leave() // twice: no effect
	if enter("k") == nil {
		t.Fatal("no room after a session left")
	}
	if got := g.Counts(); got.Conns != 4 || got.Sessions != 3 {
		t.Fatalf("counts after a session left %+v", got)
	}
}

// steppedEnter enters connection i with the gate's clock first moved past
// any grace, and records evictions.
func steppedEnter(g *Gate, evicted *[]string) func(name string) *Ticket {
	clock := time.Unix(1_800_000_000, 0)
	g.now = func() time.Time { return clock }
	return func(name string) *Ticket {
		clock = clock.Add(10 * time.Second)
		return g.Enter(context.Background(), func() { *evicted = append(*evicted, name) })
	}
}

// TestGraceBeforeEviction: a connection younger than its grace is not
// evicted; the newcomer waits for a free slot, or for ctx.
func TestGraceBeforeEviction(t *testing.T) {
	g := New(Limits{Conns: 1, Handshakes: 1})
	evicted := false
	first := g.Enter(context.Background(), func() { evicted = true })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if g.Enter(ctx, func() {}) != nil || evicted {
		t.Fatal("a handshake was evicted within its grace (firstEstimate × graceFactor)")
	}
	go first.Leave()
	second := g.Enter(context.Background(), func() {})
	if second == nil || evicted {
		t.Fatal("a newcomer was not admitted once a slot freed")
	}
	if c := g.Counts(); c.Conns != 1 || c.Evicted != 0 {
		t.Fatalf("counts %+v", c)
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
	op := func(err error) error {
		return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", err)}
	}
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

// TestHeardWaitsForAHandshakeSlot: past its first message a connection
// waits for a handshake slot rather than evict one within its grace.
func TestHeardWaitsForAHandshakeSlot(t *testing.T) {
	g := New(Limits{Conns: 4, Handshakes: 1})
	bg := context.Background()
	evicted := false
	a := g.Enter(bg, func() { evicted = true })
	b := g.Enter(bg, func() {})
	if !a.Heard(bg) {
		t.Fatal("a could not start its handshake")
	}
	ctx, cancel := context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	if b.Heard(ctx) || evicted {
		t.Fatal("b took the only handshake slot from a within a's grace")
	}
	go a.Promote()
	if !b.Heard(bg) || evicted {
		t.Fatal("b did not get the slot a left")
	}
}

// TestReplays: a first message is refused the second time, and the memory
// is bounded: the oldest is forgotten once replayMemory newer ones came.
func TestReplays(t *testing.T) {
	r := NewReplays()
	msg := func(i int) []byte { return []byte(fmt.Sprintf("message 1, number %d", i)) }
	if r.Seen(msg(0)) || !r.Seen(msg(0)) {
		t.Fatal("a first message was not refused when replayed")
	}
	for i := 1; i <= replayMemory; i++ {
		if r.Seen(msg(i)) {
			t.Fatalf("message %d reported as seen", i)
		}
	}
	if len(r.seen) != replayMemory || len(r.ring) != replayMemory {
		t.Fatalf("memory holds %d (%d); want %d", len(r.seen), len(r.ring), replayMemory)
	}
	if r.Seen(msg(0)) {
		t.Fatal("the oldest message was still remembered past the memory's size")
	}
	if !r.Seen(msg(replayMemory)) {
		t.Fatal("a recent message was forgotten")
	}
}
