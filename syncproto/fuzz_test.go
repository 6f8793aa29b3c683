package syncproto

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/ghostwire/ghostwire/wire"
)

// The fuzz targets are seeded from testdata/handshake_v1.json. Their
// oracle: no panic, nothing accepted that the strict rules refuse, and
// for the canonical CBOR messages decode → encode gives the input back.
// That no strict prefix of a message parses is checked for every prefix of
// every recorded message by TestMutations rather than per fuzz input, which
// would make the fuzzer's minimisation quadratic.

func FuzzReadFrame(f *testing.F) {
	r := recordTranscript(f)
	for _, m := range r.frames {
		f.Add(m)
	}
	f.Add([]byte(r.InitiatorData))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(bytes.NewReader(data))
		for range 8 {
			fr, err := readFrame(br, nil, minChannelFrame, maxChannelFrame)
			if err != nil {
				return
			}
			if n := len(fr) - frameHeaderSize; n < minChannelFrame || n > maxChannelFrame {
				t.Fatalf("accepted a %d-byte body", n)
			}
		}
	})
}

// FuzzChannelRead feeds arbitrary bytes to a channel reader holding the
// recorded responder-to-initiator key: only the recorded frame (or a
// stream starting with it) may deliver anything.
func FuzzChannelRead(f *testing.F) {
	r := recordTranscript(f)
	f.Add([]byte(r.ResponderData))
	f.Add(append(bytes.Clone(r.ResponderData), r.ResponderData...))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := &Config{}
		sc := newScriptConn(data)
		c := &Conn{conn: sc, r: newBufReader(sc), log: cfg.logger()}
		c.in.dir = newDirection(bytes.Clone(r.ResponderDataKey), cfg)
		for i := 0; i < 4; i++ {
			m, err := c.ReadFrame(nil)
			if err != nil {
				if _, again := c.ReadFrame(nil); again != err {
					t.Fatalf("error not sticky: %v then %v", err, again)
				}
				return
			}
			if i == 0 && !bytes.HasPrefix(data, r.ResponderData) {
				t.Fatalf("delivered %q from a forged stream", m)
			}
		}
	})
}

func FuzzInitiatorHello(f *testing.F) {
	r := recordTranscript(f)
	f.Add(r.frames[0][frameHeaderSize:])
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeInitiatorHello(data)
		if err != nil {
			return
		}
		if again, _ := wire.Marshal(m); !bytes.Equal(again, data) {
			t.Fatal("accepted a non-canonical encoding")
		}
	})
}

func FuzzResponderHello(f *testing.F) {
	r := recordTranscript(f)
	f.Add(r.frames[1][frameHeaderSize:])
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeResponderHello(data)
		if err != nil {
			return
		}
		if again, _ := wire.Marshal(m); !bytes.Equal(again, data) {
			t.Fatal("accepted a non-canonical encoding")
		}
	})
}

// FuzzAuth covers the plaintext decoder of messages 3 and 4 and, through
// openAuth, their sealed frames under a fixed key.
func FuzzAuth(f *testing.F) {
	prk, th := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	key := testKey(f, "bob")
	seal3 := sealAuth(prk, labelResponderHandshake, th, typeResponderAuth, sigContextResponder, key)
	f.Add(seal3)
	f.Add(mustMarshal(&auth{Type: typeResponderAuth, ID: key.ID().Bytes(), Signature: make([]byte, 64)}))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, typ := range []uint{typeResponderAuth, typeInitiatorAuth} {
			if m, err := decodeAuth(data, typ); err == nil {
				if again, _ := wire.Marshal(m); !bytes.Equal(again, data) {
					t.Fatal("accepted a non-canonical encoding")
				}
			}
		}
		if len(data) < frameHeaderSize {
			return
		}
		id, err := openAuth(prk, labelResponderHandshake, th, data, typeResponderAuth, sigContextResponder, key.ID())
		if err == nil && (id != key.ID() || !bytes.Equal(data[frameHeaderSize:], seal3[frameHeaderSize:])) {
			t.Fatalf("openAuth accepted a forgery for %v", id)
		}
	})
}

// FuzzResponder runs a whole responder on arbitrary input.
func FuzzResponder(f *testing.F) {
	r := recordTranscript(f)
	valid := bytes.Join([][]byte{r.frames[0], r.frames[3]}, nil)
	f.Add(valid)
	f.Fuzz(func(t *testing.T, data []byte) {
		if c, err := Server(t.Context(), newScriptConn(data), r.serverConfig()); err == nil && !bytes.HasPrefix(data, valid) {
			t.Fatalf("session from fuzzed input (peer %v)", c.Peer())
		}
	})
}

// FuzzInitiator runs a whole initiator on arbitrary input.
func FuzzInitiator(f *testing.F) {
	r := recordTranscript(f)
	f.Add(bytes.Join([][]byte{r.frames[1], r.frames[2]}, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Client(t.Context(), newScriptConn(data), r.clientConfig(), r.responder.ID())
		if err == nil && !bytes.HasPrefix(data, bytes.Join([][]byte{r.frames[1], r.frames[2]}, nil)) {
			t.Fatalf("session from fuzzed input (peer %v)", c.Peer())
		}
	})
}
