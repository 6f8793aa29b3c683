package pairing

import (
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/syncproto"
)

// testKey returns a fixed identity key named by a short label.
func testKey(tb testing.TB, name string) *identity.PrivateKey {
	tb.Helper()
	seed := sha256.Sum256([]byte("pairing test key " + name))
	k, err := identity.NewKeyFromSeed(seed[:])
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// seeded is a deterministic randomness source for recorded vectors.
func seeded(label string) *rand.ChaCha8 { return rand.NewChaCha8(sha256.Sum256([]byte(label))) }

// checkGoroutines fails the test if goroutines outlive it. Call it first,
// so that its cleanup runs last.
func checkGoroutines(t testing.TB) {
	t.Helper()
	g0 := runtime.NumGoroutine()
	t.Cleanup(func() {
		for range 200 { // at most 2 s
			if runtime.NumGoroutine() <= g0 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines %d -> %d\n%s", g0, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
	})
}

// tcpPair is a real TCP connection on 127.0.0.1.
func tcpPair(t testing.TB) (dialer, accepted net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		got <- c
	}()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a := <-got
	if a == nil {
		t.Fatal("accept failed")
	}
	return d, a
}

// channels runs a handshake of purpose pairing over real TCP, the joiner
// dialing without knowing whom it reaches, as a joiner does.
func channels(t testing.TB, joiner, offerer *identity.PrivateKey) (j, o *syncproto.Conn) {
	t.Helper()
	d, a := tcpPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type res struct {
		c   *syncproto.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := syncproto.Server(ctx, a, &syncproto.Config{Key: offerer, Accept: []syncproto.Purpose{syncproto.PurposePairing}})
		ch <- res{c, err}
	}()
	j, err := syncproto.Client(ctx, d, &syncproto.Config{Key: joiner, Purpose: syncproto.PurposePairing}, identity.ID{})
	r := <-ch
	if err != nil || r.err != nil {
		t.Fatalf("pairing handshake: joiner %v, offerer %v", err, r.err)
	}
	t.Cleanup(func() { j.Close(); r.c.Close() })
	return j, r.c
}

// outcome is one side's end of an attempt.
type outcome struct {
	res *Result
	err error
}

// attempt runs one pairing attempt between joiner (typing typed) and the
// offer's device, over a fresh connection from source.
func attempt(t testing.TB, o *Offer, offerer, joiner *identity.PrivateKey, typed Code, source netip.Addr) (j, off outcome) {
	t.Helper()
	jc, oc := channels(t, joiner, offerer)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch := make(chan outcome, 1)
	go func() {
		r, err := o.Respond(ctx, oc, Config{Self: offerer.ID(), Name: "offerer"}, source)
		oc.Close() // as the node does: an attempt's connection ends with it
		ch <- outcome{r, err}
	}()
	r, err := Join(ctx, jc, typed, Config{Self: joiner.ID(), Name: "joiner"})
	jc.Close()
	return outcome{r, err}, <-ch
}

// clock is a settable time for offers.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }
