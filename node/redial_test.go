package node

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
)

// TestRedial walks one peer's dial schedule through failures, background
// work, a user's action and a session, on a fixed clock.
func TestRedial(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	type step struct {
		at     float64
		do     string  // start, fail, end, poke, urge
		dueAt  float64 // 0: due now; -1: not checked
		reason string
	}
	// backoffs is the failure sequence the first case checks; later cases
	// start from k of its dials.
	backoffs := []step{
		{0, "start", 0, ""}, {1, "fail", 3, "2 s"},
		{3, "start", 0, ""}, {4, "fail", 8, "4 s"},
		{8, "start", 0, ""}, {9, "fail", 17, "8 s"},
		{17, "start", 0, ""}, {18, "fail", 34, "16 s"},
		{34, "start", 0, ""}, {35, "fail", 67, "32 s"},
		{67, "start", 0, ""}, {68, "fail", 128, "60 s, the maximum"},
		{128, "start", 0, ""}, {129, "fail", 189, "still 60 s"},
	}
	after := func(k int, more ...step) []step { return append(slices.Clone(backoffs[:2*k]), more...) }
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"a new peer is dialled at once", []step{
			{0, "", 0, "nothing scheduled"},
		}},
		{"failures back off to the maximum", backoffs},
		{"background work does not shorten a backoff", after(2,
			step{5, "poke", 8, "backing off: unchanged"},
		)},
		{"a user's action overrides a long backoff", after(4,
			step{20, "urge", 19, "2 s after the last attempt (at 17): due now"},
			step{20, "start", 0, ""},
		)},
		{"a user's action right after an attempt waits 2 s from it", after(2,
			step{4, "urge", 5, "last attempt at 3"},
		)},
		{"a user's action during a dial is served by a retry 2 s after its failure", after(2,
			step{8, "start", 0, ""},
			step{9, "urge", -1, "a dial is under way"},
			step{20, "fail", 22, "not the 8 s backoff"},
			step{22, "start", 0, ""}, step{23, "fail", 39, "urge served: back to the backoff (16 s)"},
		)},
		{"a user's action during a session is served 2 s after it ends", []step{
			{0, "start", 0, ""},
			{10, "urge", -1, "the session runs"},
			{100, "end", 102, "not the redial interval"},
			{102, "start", 0, ""}, {103, "fail", 105, "urge served: 2 s backoff"},
		}},
		{"a session that ended resets the backoff", []step{
			{0, "start", 0, ""}, {1, "fail", 3, ""},
			{3, "start", 0, ""}, {100, "end", 400, "redial interval"},
			{101, "poke", 0, "idle: background work dials it at once"},
			{101, "start", 0, ""}, {102, "fail", 104, "2 s again"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRedial()
			for i, s := range tc.steps {
				now := at(s.at)
				switch s.do {
				case "start":
					if !r.due(now) {
						t.Fatalf("step %d: start at %v s but not due until %v", i, s.at, r.next.Sub(t0))
					}
					r.started(now)
					continue
				case "fail":
					r.failed(now)
				case "end":
					r.ended(now, 300*time.Second)
				case "poke":
					r.poke()
				case "urge":
					r.urge()
				}
				switch {
				case s.dueAt < 0:
				case s.dueAt == 0 && !r.due(now):
					t.Fatalf("step %d (%s at %v s): due at %v, want now (%s)", i, s.do, s.at, r.next.Sub(t0), s.reason)
				case s.dueAt > 0 && !r.next.Equal(at(s.dueAt)):
					t.Fatalf("step %d (%s at %v s): due at %v, want %v s (%s)", i, s.do, s.at, r.next.Sub(t0), s.dueAt, s.reason)
				}
			}
		})
	}
}

// TestUrgeReachesTheDialer: what urge records wakes the dialer, reaches the
// named peers' schedules (every peer's when none is named) and is consumed.
func TestUrgeReachesTheDialer(t *testing.T) {
	n := &Node{wake: make(chan struct{}, 1)}
	n.st.urgent = map[identity.ID]bool{}
	a, b := testIdentity(t, 1), testIdentity(t, 2)
	t0 := time.Now()
	backedOff := func() *redial {
		r := newRedial()
		for i := range 4 { // next attempt 16 s after the last
			at := t0.Add(time.Duration(i) * time.Second)
			r.started(at)
			r.failed(at)
		}
		return r
	}
	peers := map[identity.ID]*redial{a: backedOff(), b: backedOff()}
	soon := t0.Add(3*time.Second + minBackoff) // 2 s after the last attempt
	n.urge(a)
	select {
	case <-n.wake:
	default:
		t.Fatal("urge did not wake the dialer")
	}
	urgent, all := n.takeUrgent()
	woken(peers, urgent, all)
	if !peers[a].due(soon) || peers[b].due(soon) {
		t.Fatalf("after urging a: a due at %v, b at %v; want only a within 2 s of its last attempt",
			peers[a].next.Sub(t0), peers[b].next.Sub(t0))
	}
	if u, all := n.takeUrgent(); len(u) != 0 || all {
		t.Fatal("an urge was not consumed")
	}
	n.urge()
	urgent, all = n.takeUrgent()
	woken(peers, urgent, all)
	if !peers[b].due(soon) {
		t.Fatalf("after urging every peer: b due at %v", peers[b].next.Sub(t0))
	}
}

// testIdentity is a fixed identity for schedule tests.
func testIdentity(t *testing.T, seed byte) identity.ID {
	t.Helper()
	k, err := identity.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{seed}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	return k.ID()
}
