package syncproto

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/wire"
)

// lowOrderX25519 are u-coordinates whose X25519 product with any scalar is
// the all-zero secret: 0, 1, the two points of order 8, p-1, p, p+1, and
// the same with the ignored top bit set (RFC 7748 §5; Wycheproof x25519).
var lowOrderX25519 = []string{
	"0000000000000000000000000000000000000000000000000000000000000000",
	"0100000000000000000000000000000000000000000000000000000000000000",
	"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
	"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"0000000000000000000000000000000000000000000000000000000000000080",
	"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
	"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
}

func frameOf(t testing.TB, v any) []byte {
	b, err := wire.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return appendFrame(nil, b)
}

// TestInvalidKeyShares: low-order X25519 points and malformed ML-KEM
// encapsulation keys abort with the one uniform error, at the message that
// carried them; a modified ML-KEM ciphertext (which decapsulates, by
// implicit rejection, to an unrelated secret) fails at the next message's
// authentication. None yields a session.
func TestInvalidKeyShares(t *testing.T) {
	r := recordTranscript(t)
	var m1 initiatorHello
	var m2 responderHello
	if err := wire.Unmarshal(r.frames[0][frameHeaderSize:], &m1); err != nil {
		t.Fatal(err)
	}
	if err := wire.Unmarshal(r.frames[1][frameHeaderSize:], &m2); err != nil {
		t.Fatal(err)
	}
	var texts []string
	uniform := func(name string, err error, stage string) {
		if !errors.Is(err, ErrKeyExchange) || stageOf(t, err) != stage {
			t.Errorf("%s: %v, want ErrKeyExchange at %s", name, err, stage)
			return
		}
		texts = append(texts, errors.Unwrap(err).Error())
	}
	for _, h := range lowOrderX25519 {
		p, _ := hex.DecodeString(h)
		bad := m1
		bad.X25519 = p
		c, err := runRecorded(t, r, true, append(frameOf(t, &bad), r.frames[3]...))
		if c != nil {
			t.Fatal("session with a low-order initiator share")
		}
		uniform("responder given "+h, err, StageInitiatorHello)

		bad2 := m2
		bad2.X25519 = p
		c, err = runRecorded(t, r, false, append(frameOf(t, &bad2), r.frames[2]...))
		if c != nil {
			t.Fatal("session with a low-order responder share")
		}
		uniform("initiator given "+h, err, StageResponderHello)
	}
	// ML-KEM encapsulation keys whose coefficients are not reduced mod q.
	for _, pos := range []int{0, 3, 600, mlkemEKSize - 35} {
		bad := m1
		bad.MLKEM = bytes.Clone(m1.MLKEM)
		bad.MLKEM[pos] = 0xff
		bad.MLKEM[pos+1] |= 0x0f // a 12-bit coefficient of 0xfff ≥ q = 3329
		c, err := runRecorded(t, r, true, append(frameOf(t, &bad), r.frames[3]...))
		if c != nil {
			t.Fatal("session with a malformed ML-KEM key")
		}
		uniform("malformed ML-KEM key", err, StageInitiatorHello)
	}
	for _, s := range texts {
		if s != texts[0] {
			t.Fatalf("key-exchange errors differ: %q vs %q", s, texts[0])
		}
	}
	// A modified ML-KEM ciphertext.
	for _, pos := range []int{0, 500, mlkemCTSize - 1} {
		bad := m2
		bad.MLKEM = bytes.Clone(m2.MLKEM)
		bad.MLKEM[pos] ^= 0x04
		c, err := runRecorded(t, r, false, append(frameOf(t, &bad), r.frames[2]...))
		if c != nil || stageOf(t, err) != StageResponderAuth || !errors.Is(err, errAuth) {
			t.Fatalf("modified ML-KEM ciphertext at %d: %v", pos, err)
		}
	}
}

// TestMisbinding: eve, a third valid identity on the path between alice and
// bob, relays their handshake and replaces one side's identity and
// signature with her own, correctly signed over the transcript she can see.
// She cannot seal it under the handshake key, so the victim refuses it.
// And as a full man in the middle she can only be herself, which the dialer
// refuses by name.
func TestMisbinding(t *testing.T) {
	checkLeaks(t)
	alice, bob, eve := testKey(t, "alice"), testKey(t, "bob"), testKey(t, "eve")

	// forge builds eve's version of message 3 or 4 for the transcript so far.
	forge := func(seen [][]byte, typ uint, sigContext string) []byte {
		tr := newTranscript()
		for _, f := range seen {
			tr.add(f)
		}
		th := tr.sum()
		pt := mustMarshal(&auth{Type: typ, ID: eve.ID().Bytes(), Signature: eve.Sign(append([]byte(sigContext), th...))})
		key := make([]byte, keySize)
		rand.Read(key) // eve does not know the handshake secret
		return appendFrame(nil, newAEAD(key).Seal(nil, zeroNonce[:], pt, th))
	}

	for _, tc := range []struct {
		name    string
		replace int // 3: eve claims to be bob to alice; 4: eve claims alice's connection to bob
	}{
		{"eve re-signs message 3", 3},
		{"eve re-signs message 4", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var seen [][]byte
			edit := func(dir, i int, f []byte) [][]byte {
				mu.Lock()
				defer mu.Unlock()
				if dir == 1 && i == 1 && tc.replace == 3 {
					f = forge(seen, typeResponderAuth, sigContextResponder)
				}
				if dir == 0 && i == 1 && tc.replace == 4 {
					f = forge(seen, typeInitiatorAuth, sigContextInitiator)
				}
				seen = append(seen, f)
				return [][]byte{f}
			}
			d, l := relayed(t, edit, noCut)
			c, s := handshakeOver(t, d, l, &Config{Key: alice}, &Config{Key: bob}, bob.ID())
			if s.c != nil {
				t.Fatalf("bob accepted a session (peer %v)", s.c.Peer())
			}
			if tc.replace == 3 {
				if c.c != nil || stageOf(t, c.err) != StageResponderAuth || !errors.Is(c.err, errAuth) {
					t.Fatalf("alice: %v", c.err)
				}
				return
			}
			if stageOf(t, s.err) != StageInitiatorAuth || !errors.Is(s.err, errAuth) {
				t.Fatalf("bob: %v", s.err)
			}
			// Alice sent her part and is refused: she reads a truncation.
			if _, err := c.c.ReadFrame(nil); !errors.Is(err, ErrTruncated) {
				t.Fatalf("alice's read: %v", err)
			}
		})
	}

	t.Run("eve as a full man in the middle", func(t *testing.T) {
		d, eveIn := tcpPair(t)
		eveOut, l := tcpPair(t)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // eve answers alice as herself...
			defer wg.Done()
			if c, err := Server(t.Context(), eveIn, &Config{Key: eve}); err == nil {
				c.Close()
			}
		}()
		wg.Add(1)
		go func() { // ...and dials bob as herself.
			defer wg.Done()
			if c, err := Client(t.Context(), eveOut, &Config{Key: eve}, bob.ID()); err == nil {
				c.Close()
			}
		}()
		var bobSaw error
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Server(t.Context(), l, &Config{Key: bob})
			if err == nil {
				if c.Peer() != eve.ID() {
					bobSaw = errors.New("bob's peer is not eve")
				}
				c.Close()
			}
		}()
		_, err := Client(t.Context(), d, &Config{Key: alice}, bob.ID())
		wg.Wait()
		var wp *WrongPeerError
		if !errors.As(err, &wp) || wp.Got != eve.ID() {
			t.Fatalf("alice: %v, want WrongPeerError naming eve", err)
		}
		if bobSaw != nil {
			t.Fatal(bobSaw)
		}
	})
}

// TestDataInPlaceOfKeyConfirmation drops alice's message 4 on the wire, so
// her first data frame arrives where bob expects it: bob must refuse.
func TestDataInPlaceOfKeyConfirmation(t *testing.T) {
	checkLeaks(t)
	alice, bob := testKey(t, "alice"), testKey(t, "bob")
	edit := func(dir, i int, f []byte) [][]byte {
		if dir == 0 && i == 1 {
			return nil
		}
		return [][]byte{f}
	}
	d, l := relayed(t, edit, noCut)
	ch := make(chan result, 1)
	go func() {
		c, err := Server(t.Context(), l, &Config{Key: bob})
		ch <- result{c, err}
	}()
	c, err := Client(t.Context(), d, &Config{Key: alice}, bob.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WriteFrame([]byte("early data")); err != nil {
		t.Fatal(err)
	}
	s := <-ch
	if s.c != nil || stageOf(t, s.err) != StageInitiatorAuth {
		t.Fatalf("bob: %v", s.err)
	}
}

// flightConn records the order of writes and reads that carried bytes.
type flightConn struct {
	net.Conn
	mu     sync.Mutex
	ops    []byte // 'W' or 'R', consecutive repeats merged
	writes []int
	first  []byte // a copy of the first write
}

func (c *flightConn) note(op byte) {
	if len(c.ops) == 0 || c.ops[len(c.ops)-1] != op {
		c.ops = append(c.ops, op)
	}
}

func (c *flightConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.note('R')
		c.mu.Unlock()
	}
	return n, err
}

func (c *flightConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.note('W')
	c.writes = append(c.writes, len(p))
	if c.first == nil {
		c.first = bytes.Clone(p)
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// TestOneRoundTrip: from connect to the initiator's first protected data,
// the initiator writes, reads once, and writes: one round trip. It also
// pins the handshake's size on the wire.
func TestOneRoundTrip(t *testing.T) {
	checkLeaks(t)
	alice, bob := testKey(t, "alice"), testKey(t, "bob")
	d, l := tcpPair(t)
	fc := &flightConn{Conn: d}
	sfc := &flightConn{Conn: l}
	c, s := handshakeOver(t, fc, sfc, &Config{Key: alice}, &Config{Key: bob}, bob.ID())
	if c.err != nil || s.err != nil {
		t.Fatal(c.err, s.err)
	}
	if err := c.c.WriteFrame([]byte("first")); err != nil {
		t.Fatal(err)
	}
	fc.mu.Lock()
	ops, writes := string(fc.ops), fc.writes
	fc.mu.Unlock()
	if ops != "WRW" {
		t.Fatalf("initiator's I/O before its first data frame: %q, want WRW (one round trip)", ops)
	}
	const m1, m2, m3, m4 = 1235, 1136, 125, 125
	if len(writes) != 3 || writes[0] != m1 || writes[1] != m4 {
		t.Fatalf("initiator writes %v, want [%d %d <data>]", writes, m1, m4)
	}
	sfc.mu.Lock()
	sops, swrites := string(sfc.ops), sfc.writes
	sfc.mu.Unlock()
	// Message 2 leaves before message 3 is made, in the same flight: the
	// responder reads nothing between them.
	if !strings.HasPrefix(sops, "RWR") || len(swrites) < 2 || swrites[0] != m2 || swrites[1] != m3 {
		t.Fatalf("responder's handshake I/O %q writes %v, want RWR… with writes [%d %d]", sops, swrites, m2, m3)
	}
	if m, err := s.c.ReadFrame(nil); err != nil || string(m) != "first" {
		t.Fatal(m, err)
	}
}

// TestHandshakeDeadline: a responder that never answers makes the
// initiator fail at the configured timeout, and a silent initiator makes
// the responder fail too.
func TestHandshakeDeadline(t *testing.T) {
	checkLeaks(t)
	d, l := tcpPair(t)
	defer l.Close()
	start := time.Now()
	// 1 s, not less: the deadline also covers the key generation before
	// message 1, and a loaded machine under -race can stall that long
	// enough to fail the write instead of the wait for message 2.
	_, err := Client(t.Context(), d, &Config{Key: testKey(t, "alice"), HandshakeTimeout: time.Second}, testKey(t, "bob").ID())
	var ne net.Error
	if stageOf(t, err) != StageResponderHello || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("client against a silent peer: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("deadline not enforced")
	}
	d2, l2 := tcpPair(t)
	defer d2.Close()
	_, err = Server(t.Context(), l2, &Config{Key: testKey(t, "bob"), HandshakeTimeout: 100 * time.Millisecond})
	if stageOf(t, err) != StageInitiatorHello || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("server against a silent peer: %v", err)
	}
}

// TestHandshakeCancel: cancelling the context ends a handshake that is
// waiting on a silent peer, and the error says so.
func TestHandshakeCancel(t *testing.T) {
	checkLeaks(t)
	d, l := tcpPair(t)
	defer l.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	read := make(chan struct{})
	go func() { // cancel once message 1 is in: the client waits for message 2
		defer close(read)
		if _, err := readFrame(bufio.NewReader(l), nil, 1, MaxHandshakeFrame); err == nil {
			cancel()
		}
	}()
	_, err := Client(ctx, d, &Config{Key: testKey(t, "alice")}, testKey(t, "bob").ID())
	<-read
	if !errors.Is(err, context.Canceled) || stageOf(t, err) != StageResponderHello {
		t.Fatalf("cancelled handshake: %v", err)
	}
}

// frameHeader returns a bare length prefix.
func frameHeader(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

// TestHandshakeFrameLimit: a handshake frame longer than MaxHandshakeFrame
// is refused on its length prefix, before its body is read or allocated.
func TestHandshakeFrameLimit(t *testing.T) {
	for _, n := range []uint32{MaxHandshakeFrame + 1, 0xffffffff, 0} {
		sc := newScriptConn(frameHeader(n)) // no body follows
		_, err := Server(t.Context(), sc, &Config{Key: testKey(t, "bob")})
		want := errFrameTooLarge
		if n == 0 {
			want = errFrameTooSmall
		}
		if !errors.Is(err, want) || stageOf(t, err) != StageInitiatorHello {
			t.Errorf("length %d: %v", n, err)
		}
		if len(sc.written()) != 0 {
			t.Errorf("length %d: the responder wrote %d bytes", n, len(sc.written()))
		}
	}
}
