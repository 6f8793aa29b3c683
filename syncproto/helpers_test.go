package syncproto

import (
	"bytes"
	"context"
	"crypto/mlkem"
	"crypto/mlkem/mlkemtest"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
)

// testKey returns a fixed identity key named by a short label.
func testKey(tb testing.TB, name string) *identity.PrivateKey {
	tb.Helper()
	seed := sha256.Sum256([]byte("syncproto test key " + name))
	k, err := identity.NewKeyFromSeed(seed[:])
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// detRand is a deterministic byte stream: SHA-256 in counter mode over a
// label. It stands in for crypto/rand only where a test must reproduce
// bytes exactly.
type detRand struct {
	label string
	n     uint64
	buf   []byte
}

func newDetRand(label string) *detRand { return &detRand{label: label} }

func (r *detRand) Read(p []byte) (int, error) {
	for len(r.buf) < len(p) {
		h := sha256.New()
		h.Write([]byte(r.label))
		h.Write([]byte{byte(r.n >> 56), byte(r.n >> 48), byte(r.n >> 40), byte(r.n >> 32), byte(r.n >> 24), byte(r.n >> 16), byte(r.n >> 8), byte(r.n)})
		r.n++
		r.buf = h.Sum(r.buf)
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// deterministicEncapsulation makes ML-KEM encapsulation draw its 32 bytes
// from Config.Rand for the rest of the test, so recorded transcripts
// reproduce. Tests using it must not run in parallel.
func deterministicEncapsulation(t testing.TB) {
	old := encapsulate768
	encapsulate768 = func(ek *mlkem.EncapsulationKey768, r io.Reader) ([]byte, []byte, error) {
		m := make([]byte, 32)
		if _, err := io.ReadFull(r, m); err != nil {
			return nil, nil, err
		}
		return mlkemtest.Encapsulate768(ek, m)
	}
	t.Cleanup(func() { encapsulate768 = old })
}

// checkLeaks fails the test if goroutines or file descriptors are not back
// to their starting counts shortly after it ends. Call it first, so that
// its cleanup runs last.
func checkLeaks(t testing.TB) {
	t.Helper()
	g0, f0 := runtime.NumGoroutine(), countFDs(t)
	t.Cleanup(func() {
		var g, f int
		for i := 0; i < 200; i++ { // bounded: at most 2 s
			g, f = runtime.NumGoroutine(), countFDs(t)
			if g <= g0 && f <= f0 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		buf := make([]byte, 1<<16)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("leak: goroutines %d -> %d, fds %d -> %d\n%s", g0, g, f0, f, buf)
	})
}

func countFDs(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("counting fds: %v", err)
	}
	return len(ents)
}

// tcpPair returns both ends of a real TCP connection on 127.0.0.1.
func tcpPair(t testing.TB) (dialer, listener net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		d.Close()
		t.Fatal(r.err)
	}
	return d, r.c
}

// result is one side's handshake outcome.
type result struct {
	c   *Conn
	err error
}

// handshakeOver runs Server on sconn in a goroutine and Client on cconn,
// and returns both outcomes. Whatever Conns result are closed at cleanup.
func handshakeOver(t testing.TB, cconn, sconn net.Conn, ccfg, scfg *Config, expected identity.ID) (client, server result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch := make(chan result, 1)
	go func() {
		c, err := Server(ctx, sconn, scfg)
		ch <- result{c, err}
	}()
	c, err := Client(ctx, cconn, ccfg, expected)
	client = result{c, err}
	if err != nil {
		// The client closed its end, so the server's read fails promptly.
	}
	server = <-ch
	t.Cleanup(func() {
		for _, r := range []result{client, server} {
			if r.c != nil {
				r.c.Close()
			}
		}
	})
	return client, server
}

// establish returns a working client/server channel over real TCP between
// identities "alice" (initiator) and "bob" (responder).
func establish(t testing.TB, mod func(c, s *Config)) (client, server *Conn) {
	t.Helper()
	ccfg := &Config{Key: testKey(t, "alice")}
	scfg := &Config{Key: testKey(t, "bob")}
	if mod != nil {
		mod(ccfg, scfg)
	}
	cc, sc := tcpPair(t)
	c, s := handshakeOver(t, cc, sc, ccfg, scfg, scfg.Key.ID())
	if c.err != nil || s.err != nil {
		t.Fatalf("handshake: client %v, server %v", c.err, s.err)
	}
	return c.c, s.c
}

// scriptConn is a net.Conn for pure state-machine tests: reads come from a
// fixed script, then io.EOF; writes are recorded. No transport behaviour is
// exercised through it.
type scriptConn struct {
	mu     sync.Mutex
	in     *bytes.Reader
	out    bytes.Buffer
	closed bool
}

func newScriptConn(in []byte) *scriptConn { return &scriptConn{in: bytes.NewReader(in)} }

func (c *scriptConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.in.Read(p)
}

func (c *scriptConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.out.Write(p)
}

func (c *scriptConn) written() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.out.Bytes())
}

func (c *scriptConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *scriptConn) LocalAddr() net.Addr                { return scriptAddr{} }
func (c *scriptConn) RemoteAddr() net.Addr               { return scriptAddr{} }
func (c *scriptConn) SetDeadline(t time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(t time.Time) error { return nil }

type scriptAddr struct{}

func (scriptAddr) Network() string { return "script" }
func (scriptAddr) String() string  { return "script" }

// splitFrames splits a byte stream into frames, headers included.
func splitFrames(t testing.TB, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		if len(b) < frameHeaderSize {
			t.Fatalf("stream ends inside a frame header")
		}
		n := frameHeaderSize + int(uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3]))
		if n > len(b) {
			t.Fatalf("stream ends inside a frame")
		}
		out = append(out, b[:n:n])
		b = b[n:]
	}
	return out
}

// stageOf returns the stage a handshake error names, or fails the test if
// the error is not a *HandshakeError.
func stageOf(t testing.TB, err error) string {
	t.Helper()
	var he *HandshakeError
	if !errors.As(err, &he) {
		t.Fatalf("error %v (%T) is not a *HandshakeError", err, err)
	}
	if !strings.Contains(err.Error(), he.Stage) {
		t.Fatalf("error %q does not name its stage %q", err, he.Stage)
	}
	return he.Stage
}
