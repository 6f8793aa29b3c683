// The exhaustive search below makes 10^6 hash-to-group evaluations: about
// 50 s on one core, and six times that under the race detector, which has
// nothing to find in it (its only concurrency is a shared counter). So it is
// built without -race only, and `./run test` (the suite CI runs) runs it in
// a second, plain `go test` after the race run.

//go:build !race

package pairing

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudflare/circl/group"
	"github.com/ghostwire/ghostwire/syncproto"
)

// recorder is a Channel that keeps a copy of every pairing message, as
// someone who could read inside the channel would.
type recorder struct {
	*syncproto.Conn
	mu     sync.Mutex
	frames [][]byte
}

func (r *recorder) keep(f []byte) {
	r.mu.Lock()
	r.frames = append(r.frames, bytes.Clone(f))
	r.mu.Unlock()
}

func (r *recorder) WriteFrame(p []byte) error { r.keep(p); return r.Conn.WriteFrame(p) }

func (r *recorder) ReadFrame(buf []byte) ([]byte, error) {
	f, err := r.Conn.ReadFrame(buf)
	if err == nil {
		r.keep(f)
	}
	return f, err
}

// TestNoOfflineGuess captures a successful pairing — more than an
// eavesdropper gets: the messages inside the encrypted channel, and the
// channel binding sid that only the two ends can export — and tries every
// one of the 10^6 codes against it.
//
// Why it finds nothing. The captured values that depend on the code are
// Ya = ya·G_c, Yb = yb·G_c and the two tags, where G_c is the generator
// for code c. ristretto255 has prime order, so for every code whose G_c is
// not the identity, each of Ya and Yb is ya'·G_c for exactly one ya':
// every such code explains the shares equally well, and they cannot rule
// one out. The tags depend on K = ya·yb·G_c = ya·Yb, which needs one of the
// secret scalars (or a CDH oracle): the only code-dependent value an
// attacker can compute alone is G_c, which appears nowhere in the
// exchange. The test checks both premises for all 10^6 codes: every G_c is
// a generator (not the identity), and no G_c (nor its negation) equals a
// captured share. Then, as a control that the search would find the code
// if it could, it checks that with the joiner's secret scalar ya, which
// never leaves the joiner, exactly one code of a sample — the right one —
// satisfies Ya = ya·G_c.
func TestNoOfflineGuess(t *testing.T) {
	checkGoroutines(t)
	alice, bob := testKey(t, "alice"), testKey(t, "bob")
	code := Code{Nameplate: "47", Secret: "382915"}
	o := NewOffer(code, nil)
	jc, oc := channels(t, bob, alice)
	rec := &recorder{Conn: jc}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := o.Respond(ctx, oc, Config{Self: alice.ID(), Rand: seeded("offerer scalar")}, lanHost)
		done <- err
	}()
	if _, err := Join(ctx, rec, code, Config{Self: bob.ID(), Rand: seeded("joiner scalar")}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sid, err := jc.Exporter(sidLabel, nil, sidSize)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.frames) != 4 {
		t.Fatalf("captured %d messages, want 4", len(rec.frames))
	}
	m1, err1 := decodeHello(rec.frames[0])
	m2, err2 := decodeReply(rec.frames[1])
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	ya, _ := decodeShare(m1.Share)
	yb, _ := decodeShare(m2.Share)
	captured := []group.Element{ya, yb, g.NewElement().Neg(ya), g.NewElement().Neg(yb)}
	ci := channelID(bob.ID().Bytes(), alice.ID().Bytes())

	var degenerate, leaked atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c := next.Add(1) - 1
				if c >= 1_000_000 {
					return
				}
				gc := generator(fmt.Appendf(nil, "%06d", c), ci, sid)
				if gc.IsIdentity() {
					degenerate.Add(1)
				}
				for _, y := range captured {
					if gc.IsEqual(y) {
						leaked.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("tried all 10^6 codes in %v", time.Since(start).Round(time.Millisecond))
	if degenerate.Load() != 0 || leaked.Load() != 0 {
		t.Fatalf("%d codes have a degenerate generator and %d a generator equal to a captured share: those codes could be ruled in or out offline", degenerate.Load(), leaked.Load())
	}

	// The control: with ya, the search works, and finds exactly the code.
	secret, err := sampleScalar(seeded("joiner scalar"))
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for c := 382_415; c < 383_415; c++ { // 1,000 codes around the right one
		s := fmt.Sprintf("%06d", c)
		if g.NewElement().Mul(generator([]byte(s), ci, sid), secret).IsEqual(ya) {
			found = append(found, s)
		}
	}
	if len(found) != 1 || found[0] != code.Secret {
		t.Fatalf("with the joiner's secret scalar the sample gave %v, want exactly [%s]", found, code.Secret)
	}
}
