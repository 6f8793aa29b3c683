package syncproto

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/ghostwire/ghostwire/identity"
)

func TestHandshakeAndChannel(t *testing.T) {
	checkLeaks(t)
	c, s := establish(t, nil)
	if got, want := c.Peer(), testKey(t, "bob").ID(); got != want {
		t.Errorf("client Peer = %v, want %v", got, want)
	}
	if got, want := s.Peer(), testKey(t, "alice").ID(); got != want {
		t.Errorf("server Peer = %v, want %v", got, want)
	}
	msgs := [][]byte{[]byte("hello"), {}, bytes.Repeat([]byte{7}, 100_000)}
	for _, m := range msgs {
		if err := c.WriteFrame(m); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range msgs {
		got, err := s.ReadFrame(nil)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("message %d: got %d bytes, err %v; want %d bytes", i, len(got), err, len(want))
		}
	}
	if err := s.WriteFrame([]byte("reply")); err != nil {
		t.Fatal(err)
	}
	if got, err := c.ReadFrame(nil); err != nil || string(got) != "reply" {
		t.Fatalf("reply: %q, %v", got, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadFrame(nil); err != io.EOF {
		t.Fatalf("after authenticated close: %v, want io.EOF", err)
	}
	if _, err := s.ReadFrame(nil); err != io.EOF {
		t.Fatalf("EOF is not sticky: %v", err)
	}
}

func TestWrongPeer(t *testing.T) {
	checkLeaks(t)
	alice, bob, eve := testKey(t, "alice"), testKey(t, "bob"), testKey(t, "eve")
	cc, sc := tcpPair(t)
	c, s := handshakeOver(t, cc, sc, &Config{Key: alice}, &Config{Key: eve}, bob.ID())
	if c.c != nil || s.c != nil {
		t.Fatal("a session was established with the wrong peer")
	}
	if stage := stageOf(t, c.err); stage != StageResponderAuth {
		t.Errorf("client stage %q", stage)
	}
	var wp *WrongPeerError
	if !errors.As(c.err, &wp) || wp.Got != eve.ID() || wp.Want != bob.ID() {
		t.Fatalf("client error %v does not report who answered", c.err)
	}
	if !strings.Contains(c.err.Error(), eve.ID().String()) {
		t.Errorf("error %q does not name %s", c.err, eve.ID())
	}
	if stage := stageOf(t, s.err); stage != StageInitiatorAuth {
		t.Errorf("server stage %q", stage)
	}
}

func TestDialSelf(t *testing.T) {
	checkLeaks(t)
	alice := testKey(t, "alice")
	cc, sc := tcpPair(t)
	defer sc.Close()
	_, err := Client(t.Context(), cc, &Config{Key: alice}, alice.ID())
	if !errors.Is(err, ErrSelf) || stageOf(t, err) != StageSetup {
		t.Fatalf("dialing self: %v", err)
	}
	// Nothing was sent: the listener reads a bare close.
	if n, err := sc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("listener read %d bytes, %v; want a bare close", n, err)
	}
}

// TestReflection covers a connection reflected to its own node (a dial
// meant for bob answered by our own listener) and messages echoed back to
// their sender.
func TestReflection(t *testing.T) {
	checkLeaks(t)
	alice, bob := testKey(t, "alice"), testKey(t, "bob")

	t.Run("own listener answers", func(t *testing.T) {
		cc, sc := tcpPair(t)
		c, s := handshakeOver(t, cc, sc, &Config{Key: alice}, &Config{Key: alice}, bob.ID())
		if c.c != nil || s.c != nil {
			t.Fatal("session established with ourselves")
		}
		if !errors.Is(c.err, ErrSelf) || stageOf(t, c.err) != StageResponderAuth {
			t.Fatalf("client: %v", c.err)
		}
	})

	t.Run("initiator hello echoed", func(t *testing.T) {
		cc, echo := tcpPair(t)
		done := make(chan struct{})
		go func() {
			defer close(done)
			// Hide the TCP types from io.Copy: its splice path keeps a
			// cached pipe (two fds) that the leak check would count.
			io.Copy(struct{ io.Writer }{echo}, struct{ io.Reader }{echo})
			echo.Close()
		}()
		_, err := Client(t.Context(), cc, &Config{Key: alice}, bob.ID())
		<-done
		if err == nil || stageOf(t, err) != StageResponderHello {
			t.Fatalf("client talking to an echo: %v", err)
		}
	})

	t.Run("responder auth echoed as initiator auth", func(t *testing.T) {
		// A real initiator's first message, then the responder's own
		// message 3 played back to it.
		rec := recordTranscript(t)
		sconn := newScriptConn(nil)
		probe := newScriptConn(rec.frames[0])
		Server(t.Context(), probe, rec.serverConfig())
		out := splitFrames(t, probe.written())
		sconn = newScriptConn(append(bytes.Clone(rec.frames[0]), out[1]...))
		_, err := Server(t.Context(), sconn, rec.serverConfig())
		if err == nil || stageOf(t, err) != StageInitiatorAuth {
			t.Fatalf("responder fed its own message 3: %v", err)
		}
	})
}

func TestAuthorizeRefuses(t *testing.T) {
	checkLeaks(t)
	refused := errors.New("blocked by test")
	var asked identity.ID
	c, s := func() (result, result) {
		cc, sc := tcpPair(t)
		return handshakeOver(t, cc, sc, &Config{Key: testKey(t, "alice")}, &Config{
			Key:       testKey(t, "bob"),
			Authorize: func(p identity.ID) error { asked = p; return refused },
		}, testKey(t, "bob").ID())
	}()
	if s.c != nil || !errors.Is(s.err, refused) || stageOf(t, s.err) != StageAuthorize {
		t.Fatalf("server: %v", s.err)
	}
	if asked != testKey(t, "alice").ID() {
		t.Errorf("Authorize asked about %v", asked)
	}
	// The client finished its part without waiting; it learns of the
	// refusal as a connection cut before any authenticated close.
	if c.err != nil {
		t.Fatalf("client: %v", c.err)
	}
	if _, err := c.c.ReadFrame(nil); !errors.Is(err, ErrTruncated) {
		t.Fatalf("client read after refusal: %v, want ErrTruncated", err)
	}
}

// TestHelloRefuses: Config.Hello sees message 1 exactly as sent, before
// any key exchange; refusing it ends the handshake at message 1 with a
// bare close, so the initiator never gets message 2.
func TestHelloRefuses(t *testing.T) {
	checkLeaks(t)
	refused := errors.New("replayed hello")
	var seen []byte
	cc, sc := tcpPair(t)
	rec := &recordingConn{Conn: cc}
	c, s := handshakeOver(t, rec, sc, &Config{Key: testKey(t, "alice")}, &Config{
		Key:   testKey(t, "bob"),
		Hello: func(f []byte) error { seen = bytes.Clone(f); return refused },
	}, testKey(t, "bob").ID())
	if s.c != nil || !errors.Is(s.err, refused) || stageOf(t, s.err) != StageInitiatorHello {
		t.Fatalf("server: %v; want the hook's error at %s", s.err, StageInitiatorHello)
	}
	if c.c != nil || stageOf(t, c.err) != StageResponderHello {
		t.Fatalf("client: %v; want a failure waiting for message 2", c.err)
	}
	if len(rec.first) == 0 || !bytes.Equal(seen, rec.first) {
		t.Fatalf("Hello saw %d bytes; want message 1 as sent (%d bytes)", len(seen), len(rec.first))
	}
}

// recordingConn keeps a copy of the first write.
type recordingConn struct {
	net.Conn
	first []byte
}

func (c *recordingConn) Write(p []byte) (int, error) {
	if c.first == nil {
		c.first = bytes.Clone(p)
	}
	return c.Conn.Write(p)
}
