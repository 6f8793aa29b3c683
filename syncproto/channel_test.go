package syncproto

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
)

// TestHugeLengthPrefix: a 0xFFFFFFFF length prefix (and every other
// out-of-bounds one) is refused before any allocation.
func TestHugeLengthPrefix(t *testing.T) {
	checkLeaks(t)
	for _, n := range []uint32{0xffffffff, maxChannelFrame + 1, minChannelFrame - 1, 0} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			c, s := establish(t, nil)
			if _, err := c.conn.Write(frameHeader(n)); err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			msg, err := s.ReadFrame(nil)
			runtime.ReadMemStats(&after)
			if msg != nil || !errors.Is(err, errBroken) {
				t.Fatalf("ReadFrame = %d bytes, %v; want the integrity error", len(msg), err)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew >= 64<<10 {
				t.Fatalf("rejecting a %d-byte prefix allocated %d bytes", n, grew)
			}
		})
	}
}

// TestSizes: messages of 0 and MaxPayload bytes pass intact; MaxPayload+1
// is refused locally and leaves the channel usable.
func TestSizes(t *testing.T) {
	checkLeaks(t)
	c, s := establish(t, nil)
	big := bytes.Repeat([]byte{0xa5}, MaxPayload)
	go func() {
		c.WriteFrame(nil)
		c.WriteFrame(big)
	}()
	for _, want := range [][]byte{{}, big} {
		got, err := s.ReadFrame(nil)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("got %d bytes, %v; want %d", len(got), err, len(want))
		}
	}
	if err := c.WriteFrame(make([]byte, MaxPayload+1)); !errors.Is(err, errMessageTooLarge) {
		t.Fatalf("MaxPayload+1: %v", err)
	}
	if err := c.WriteFrame([]byte("still fine")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ReadFrame(make([]byte, 0, 64)); err != nil || string(got) != "still fine" {
		t.Fatalf("after refusing MaxPayload+1: %q, %v", got, err)
	}
}

// TestReaderGrows: the channel reads through the handshake's small buffer
// until a frame larger than it arrives, then through a larger one; what the
// small one had buffered (frames sent before and after the large one, in one
// burst) comes through whole and in order.
func TestReaderGrows(t *testing.T) {
	checkLeaks(t)
	c, s := establish(t, nil)
	msgs := [][]byte{[]byte("a"), []byte("b"), bytes.Repeat([]byte{0x5a}, 3*handshakeBufferSize), []byte("c"), []byte("d")}
	// Collect the frames, then send them in one write, so that the small
	// buffer holds several frames when the large one is met.
	wire := c.conn
	burst := &collectConn{Conn: wire}
	c.conn = burst
	for _, m := range msgs {
		if err := c.WriteFrame(m); err != nil {
			t.Fatal(err)
		}
	}
	c.conn = wire
	if _, err := wire.Write(burst.b); err != nil {
		t.Fatal(err)
	}
	for i, want := range msgs {
		got, err := s.ReadFrame(nil)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("message %d: %d bytes, %v; want %d", i, len(got), err, len(want))
		}
	}
	if s.r.Size() != readBufferSize {
		t.Fatalf("reader is %d bytes after a %d-byte frame, want %d", s.r.Size(), len(msgs[2]), readBufferSize)
	}
}

// collectConn keeps what is written to it instead of sending it.
type collectConn struct {
	net.Conn
	b []byte
}

func (c *collectConn) Write(p []byte) (int, error) {
	c.b = append(c.b, p...)
	return len(p), nil
}

// TestTampering: an attacker on the wire flips a bit in, reorders,
// duplicates, drops or injects a frame. The receiver gets every message
// before it, nothing from it on, and the channel stays failed.
func TestTampering(t *testing.T) {
	checkLeaks(t)
	const target = 2 + 1 // two handshake frames, then data frames 0, 1, 2
	var held []byte
	cases := []struct {
		name      string
		edit      func(f []byte) [][]byte // applied to frame `target` and the next
		next      func(f []byte) [][]byte
		delivered int // messages the receiver gets before the failure
	}{
		{"flipped bit", func(f []byte) [][]byte { f = bytes.Clone(f); f[len(f)/2] ^= 0x10; return [][]byte{f} }, nil, 1},
		{"flipped length", func(f []byte) [][]byte { f = bytes.Clone(f); f[3] ^= 0x01; return [][]byte{f} }, nil, 1},
		{"reordered", func(f []byte) [][]byte { held = f; return nil }, func(f []byte) [][]byte { return [][]byte{f, held} }, 1},
		{"duplicated", func(f []byte) [][]byte { return [][]byte{f, f} }, nil, 2},
		{"dropped", func(f []byte) [][]byte { return nil }, nil, 1},
		{"injected", func(f []byte) [][]byte {
			junk := append(frameHeader(uint32(len(f)-frameHeaderSize)), make([]byte, len(f)-frameHeaderSize)...)
			return [][]byte{junk, f}
		}, nil, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			edit := func(dir, i int, f []byte) [][]byte {
				switch {
				case dir == 0 && i == target:
					return tc.edit(f)
				case dir == 0 && i == target+1 && tc.next != nil:
					return tc.next(f)
				}
				return [][]byte{f}
			}
			d, l := relayed(t, edit, noCut)
			cr, sr := handshakeOver(t, d, l, &Config{Key: testKey(t, "alice")}, &Config{Key: testKey(t, "bob")}, testKey(t, "bob").ID())
			if cr.err != nil || sr.err != nil {
				t.Fatal(cr.err, sr.err)
			}
			c, s := cr.c, sr.c
			for i := range 3 {
				if err := c.WriteFrame([]byte(fmt.Sprint("message ", i))); err != nil {
					t.Fatal(err)
				}
			}
			for i := range tc.delivered {
				if m, err := s.ReadFrame(nil); err != nil || string(m) != fmt.Sprint("message ", i) {
					t.Fatalf("message %d: %q, %v", i, m, err)
				}
			}
			for range 3 {
				if m, err := s.ReadFrame(nil); m != nil || !errors.Is(err, errBroken) {
					t.Fatalf("after tampering: %q, %v; want nothing and the integrity error", m, err)
				}
			}
			// The receiver closed the transport, so its own writes fail too.
			if err := s.WriteFrame([]byte("x")); err == nil {
				t.Fatal("write on a failed channel succeeded")
			}
		})
	}
}

// TestTruncation: a transport cut before the authenticated close reads as
// ErrTruncated after the messages that arrived; an authenticated close
// reads as io.EOF.
func TestTruncation(t *testing.T) {
	checkLeaks(t)
	t.Run("cut", func(t *testing.T) {
		// Let through the two handshake frames and two data frames.
		d, l := relayed(t, nil, [2]int{4, -1})
		cr, sr := handshakeOver(t, d, l, &Config{Key: testKey(t, "alice")}, &Config{Key: testKey(t, "bob")}, testKey(t, "bob").ID())
		if cr.err != nil || sr.err != nil {
			t.Fatal(cr.err, sr.err)
		}
		for i := range 3 {
			cr.c.WriteFrame([]byte(fmt.Sprint(i)))
		}
		for i := range 2 {
			if m, err := sr.c.ReadFrame(nil); err != nil || string(m) != fmt.Sprint(i) {
				t.Fatalf("message %d: %q, %v", i, m, err)
			}
		}
		if _, err := sr.c.ReadFrame(nil); !errors.Is(err, ErrTruncated) {
			t.Fatalf("after the cut: %v, want ErrTruncated", err)
		}
	})
	t.Run("raw close", func(t *testing.T) {
		c, s := establish(t, nil)
		c.WriteFrame([]byte("last"))
		c.conn.Close() // the transport closes without the close frame
		if m, err := s.ReadFrame(nil); err != nil || string(m) != "last" {
			t.Fatal(m, err)
		}
		if _, err := s.ReadFrame(nil); !errors.Is(err, ErrTruncated) {
			t.Fatalf("%v, want ErrTruncated", err)
		}
	})
	t.Run("authenticated close", func(t *testing.T) {
		c, s := establish(t, nil)
		c.WriteFrame([]byte("last"))
		c.Close()
		if m, err := s.ReadFrame(nil); err != nil || string(m) != "last" {
			t.Fatal(m, err)
		}
		if _, err := s.ReadFrame(nil); err != io.EOF {
			t.Fatalf("%v, want io.EOF", err)
		}
		if err := c.WriteFrame([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("write after Close: %v", err)
		}
	})
}

// TestRekey: with a rekey every 3 frames, 50 messages each way switch keys
// many times, no (key, nonce) pair is ever used twice, and both sides
// derive the same keys.
func TestRekey(t *testing.T) {
	checkLeaks(t)
	type pairs struct {
		sync.Mutex
		seen map[string]int
		keys map[string]bool
	}
	newPairs := func() *pairs { return &pairs{seen: map[string]int{}, keys: map[string]bool{}} }
	pc, ps := newPairs(), newPairs()
	hook := func(p *pairs) func(key, nonce []byte) {
		return func(key, nonce []byte) {
			p.Lock()
			p.seen[string(key)+string(nonce)]++
			p.keys[string(key)] = true
			p.Unlock()
		}
	}
	c, s := establish(t, func(cc, sc *Config) {
		cc.rekeyEvery, sc.rekeyEvery = 3, 3
		cc.sealHook, sc.sealHook = hook(pc), hook(ps)
	})
	const n = 50
	for i := range n {
		if err := c.WriteFrame([]byte(fmt.Sprint("c", i))); err != nil {
			t.Fatal(err)
		}
		if m, err := s.ReadFrame(nil); err != nil || string(m) != fmt.Sprint("c", i) {
			t.Fatalf("frame %d: %q %v", i, m, err)
		}
		if err := s.WriteFrame([]byte(fmt.Sprint("s", i))); err != nil {
			t.Fatal(err)
		}
		if m, err := c.ReadFrame(nil); err != nil || string(m) != fmt.Sprint("s", i) {
			t.Fatalf("frame %d: %q %v", i, m, err)
		}
	}
	for _, p := range []*pairs{pc, ps} {
		for k, v := range p.seen {
			if v != 1 {
				t.Fatalf("(key, nonce) %x used %d times", k, v)
			}
		}
		if want := 2 * ((n + 2) / 3); len(p.keys) != want {
			t.Fatalf("%d distinct keys, want %d", len(p.keys), want)
		}
	}
	if len(pc.seen) != 2*n || fmt.Sprint(len(pc.keys)) != fmt.Sprint(len(ps.keys)) {
		t.Fatal("the two sides used different key schedules")
	}
	for k := range pc.seen {
		if ps.seen[k] != 1 {
			t.Fatal("a pair the client used was not used by the server")
		}
	}
}

// TestConcurrentReadWrite exercises one reader and one writer per side
// while Close arrives from a third goroutine (for -race).
func TestConcurrentReadWrite(t *testing.T) {
	checkLeaks(t)
	c, s := establish(t, nil)
	var wg sync.WaitGroup
	for _, p := range [][2]*Conn{{c, s}, {s, c}} {
		w, r := p[0], p[1]
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if w.WriteFrame(make([]byte, 1000)) != nil {
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 2048)
			for i := 0; i < 200; i++ {
				if _, err := r.ReadFrame(buf); err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	c.Close()
	s.Close()
}
