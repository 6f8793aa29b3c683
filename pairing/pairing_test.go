package pairing

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/syncproto"
)

var (
	lanHost  = netip.MustParseAddr("10.77.0.2")
	lanHost2 = netip.MustParseAddr("10.77.0.3")
)

// TestPairRightCode: with the code shown, both sides learn the other's
// proved identity and name, and the same safety number.
func TestPairRightCode(t *testing.T) {
	checkGoroutines(t)
	alice, bob := testKey(t, "alice"), testKey(t, "bob")
	code := Code{Nameplate: "47", Secret: "382915"}
	o := NewOffer(code, nil)
	j, off := attempt(t, o, alice, bob, code, lanHost)
	if j.err != nil || off.err != nil {
		t.Fatalf("joiner: %v; offerer: %v", j.err, off.err)
	}
	if j.res.Peer != alice.ID() || off.res.Peer != bob.ID() {
		t.Fatalf("joiner paired with %s, offerer with %s", j.res.Peer.Short(), off.res.Peer.Short())
	}
	if j.res.Name != "offerer" || off.res.Name != "joiner" {
		t.Errorf("names %q and %q", j.res.Name, off.res.Name)
	}
	if j.res.SafetyNumber != off.res.SafetyNumber || j.res.SafetyNumber != identity.SafetyNumber(alice.ID(), bob.ID()) {
		t.Errorf("safety numbers %q and %q", j.res.SafetyNumber, off.res.SafetyNumber)
	}
	if o.Open() {
		t.Error("the offer is still open after it paired")
	}
	// Paired once is done: the same code does not pair a second device.
	j, off = attempt(t, o, alice, testKey(t, "carol"), code, lanHost2)
	if !errors.Is(off.err, ErrCodeUsed) || !errors.Is(j.err, ErrRefused) {
		t.Fatalf("second device: joiner %v, offerer %v; want ErrRefused and ErrCodeUsed", j.err, off.err)
	}
}

// TestWrongCodeThenDead: three wrong codes are three failed attempts, each
// seen by both sides; then the code is dead and the right code is refused.
func TestWrongCodeThenDead(t *testing.T) {
	checkGoroutines(t)
	alice, bob := testKey(t, "alice"), testKey(t, "bob")
	code := Code{Nameplate: "47", Secret: "382915"}
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	o := NewOffer(code, clk.now)
	for i, wrong := range []string{"382916", "000000", "283915"} {
		j, off := attempt(t, o, alice, bob, Code{Nameplate: "47", Secret: wrong}, lanHost)
		if !errors.Is(j.err, ErrWrongCode) || !errors.Is(off.err, ErrWrongCode) {
			t.Fatalf("wrong code %d: joiner %v, offerer %v; want ErrWrongCode on both", i+1, j.err, off.err)
		}
		if left := o.TriesLeft(); left != MaxAttempts-1-i {
			t.Fatalf("after %d wrong codes %d tries left", i+1, left)
		}
		clk.t = clk.t.Add(sourceGap)
	}
	j, off := attempt(t, o, alice, bob, code, lanHost)
	if !errors.Is(off.err, ErrCodeUsed) || !errors.Is(j.err, ErrRefused) {
		t.Fatalf("right code after three wrong ones: joiner %v, offerer %v; want ErrRefused and ErrCodeUsed", j.err, off.err)
	}
	if j.res != nil || off.res != nil {
		t.Fatal("a dead code paired")
	}
}

// TestOfferLimits: an expired code answers nothing; one source must wait
// between attempts; a nameplate that is not the offer's costs no try.
func TestOfferLimits(t *testing.T) {
	checkGoroutines(t)
	alice, bob := testKey(t, "alice"), testKey(t, "bob")
	code := Code{Nameplate: "47", Secret: "382915"}
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	o := NewOffer(code, clk.now)

	j, off := attempt(t, o, alice, bob, Code{Nameplate: "12", Secret: code.Secret}, lanHost)
	if off.err == nil || j.err == nil || o.TriesLeft() != MaxAttempts {
		t.Fatalf("other nameplate: joiner %v, offerer %v, %d tries left", j.err, off.err, o.TriesLeft())
	}
	j, off = attempt(t, o, alice, bob, code, lanHost)
	if !errors.Is(off.err, ErrBusy) || !errors.Is(j.err, ErrRefused) {
		t.Fatalf("again at once from the same source: joiner %v, offerer %v; want ErrBusy", j.err, off.err)
	}
	clk.t = clk.t.Add(Lifetime)
	j, off = attempt(t, o, alice, bob, code, lanHost2)
	if !errors.Is(off.err, ErrExpired) || !errors.Is(j.err, ErrRefused) {
		t.Fatalf("after %v: joiner %v, offerer %v; want ErrExpired", Lifetime, j.err, off.err)
	}
}

// TestOneAttemptAtATime: while one attempt runs, another is refused, so
// attempts cannot be raced past the count.
func TestOneAttemptAtATime(t *testing.T) {
	checkGoroutines(t)
	alice := testKey(t, "alice")
	o := NewOffer(Code{Nameplate: "47", Secret: "382915"}, nil)
	_, oc := channels(t, testKey(t, "bob"), alice)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		o.Respond(ctx, oc, Config{Self: alice.ID()}, lanHost) // waits for a hello that never comes
	}()
	for !o.busyNow() {
		time.Sleep(time.Millisecond)
	}
	j, off := attempt(t, o, alice, testKey(t, "carol"), o.Code(), lanHost2)
	cancel()
	wg.Wait()
	if !errors.Is(off.err, ErrBusy) || !errors.Is(j.err, ErrRefused) {
		t.Fatalf("a second attempt during the first: joiner %v, offerer %v; want ErrBusy", j.err, off.err)
	}
}

// busyNow reports whether an attempt holds the slot.
func (o *Offer) busyNow() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.mu.busy
}

// TestManInTheMiddle: mallory sits between the two devices, with her own
// identity on each connection, and relays every pairing message unchanged,
// even knowing the code. The two connections have different exporters, so
// the two devices derive different keys: both see the pairing fail, and
// neither pairs with anyone.
func TestManInTheMiddle(t *testing.T) {
	checkGoroutines(t)
	alice, bob, mallory := testKey(t, "alice"), testKey(t, "bob"), testKey(t, "mallory")
	code := Code{Nameplate: "47", Secret: "382915"}
	o := NewOffer(code, nil)
	jc, mFromJ := channels(t, bob, mallory) // bob dials, mallory answers
	mToO, oc := channels(t, mallory, alice) // mallory dials alice
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	relay := func(from, to *syncproto.Conn) {
		defer wg.Done()
		for {
			f, err := from.ReadFrame(nil)
			if err != nil {
				to.Close()
				return
			}
			if to.WriteFrame(f) != nil {
				from.Close()
				return
			}
		}
	}
	wg.Add(2)
	go relay(mFromJ, mToO)
	go relay(mToO, mFromJ)

	offDone := make(chan outcome, 1)
	go func() {
		r, err := o.Respond(ctx, oc, Config{Self: alice.ID()}, lanHost)
		oc.Close()
		offDone <- outcome{r, err}
	}()
	r, err := Join(ctx, jc, code, Config{Self: bob.ID()})
	jc.Close()
	off := <-offDone
	wg.Wait()
	if r != nil || off.res != nil {
		t.Fatal("a relayed pairing succeeded")
	}
	if !errors.Is(err, ErrWrongCode) {
		t.Errorf("joiner: %v; want ErrWrongCode", err)
	}
	if !errors.Is(off.err, ErrWrongCode) {
		t.Errorf("offerer: %v; want ErrWrongCode", off.err)
	}
	if o.TriesLeft() != MaxAttempts-1 {
		t.Errorf("the relayed attempt left %d tries, want %d", o.TriesLeft(), MaxAttempts-1)
	}
}
