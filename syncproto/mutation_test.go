package syncproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

// runRecorded feeds stream to a fresh side of the recorded handshake: the
// responder for messages 1 and 4, the initiator for 2 and 3. It uses the
// recorded randomness, so only the mutation differs from the recording.
func runRecorded(t *testing.T, r *recorded, toResponder bool, stream []byte) (*Conn, error) {
	sc := newScriptConn(stream)
	if toResponder {
		return Server(t.Context(), sc, r.serverConfig())
	}
	return Client(t.Context(), sc, r.clientConfig(), r.responder.ID())
}

// TestMutations flips every byte of every recorded handshake message with
// three patterns, cuts every message at every length (as a stream that
// ends, and as a re-framed shorter body) and appends one byte. No variant
// may yield a session, and each error must name a stage at or after the
// mutated message.
func TestMutations(t *testing.T) {
	r := recordTranscript(t)
	f := r.frames
	type target struct {
		name        string
		toResponder bool
		index       int      // which recorded message is mutated
		allowed     []string // stages the failure may be reported at
	}
	targets := []target{
		{"message 1", true, 0, []string{StageInitiatorHello, StageInitiatorAuth}},
		{"message 2", false, 1, []string{StageResponderHello, StageResponderAuth}},
		{"message 3", false, 2, []string{StageResponderAuth}},
		{"message 4", true, 3, []string{StageInitiatorAuth}},
	}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			// The stream the target reads: its two incoming messages.
			in := [2]int{0, 3}
			if !tg.toResponder {
				in = [2]int{1, 2}
			}
			build := func(m []byte, cut bool) []byte {
				var s []byte
				for _, i := range in {
					if i == tg.index {
						s = append(s, m...)
						if cut {
							return s
						}
					} else {
						s = append(s, f[i]...)
					}
				}
				return s
			}
			orig := f[tg.index]
			body := orig[frameHeaderSize:]
			reframe := func(b []byte) []byte {
				return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
			}
			cases, sessions := 0, 0
			try := func(what string, pos int, stream []byte) {
				cases++
				c, err := runRecorded(t, r, tg.toResponder, stream)
				if c != nil || err == nil {
					sessions++
					t.Errorf("%s at %d: a session was established", what, pos)
					return
				}
				if st := stageOf(t, err); !slices.Contains(tg.allowed, st) {
					t.Errorf("%s at %d: failed at stage %q, want one of %q", what, pos, st, tg.allowed)
				}
			}
			for i := range orig {
				for _, x := range []byte{0x01, 0x80, 0xff} {
					m := bytes.Clone(orig)
					m[i] ^= x
					try("flip", i, build(m, false))
				}
				try("stream cut", i, build(orig[:i], true))
			}
			for n := range body {
				try("re-framed truncation", n, build(reframe(body[:n]), false))
			}
			try("trailing byte", len(body), build(reframe(append(bytes.Clone(body), 0)), false))
			if sessions != 0 {
				t.Fatalf("%d of %d mutations yielded a session", sessions, cases)
			}
			t.Logf("%d mutations of %d-byte %s: 0 sessions", cases, len(orig), tg.name)
		})
	}
}

// TestReplay plays each recorded message 1,000 times into fresh
// handshakes with fresh randomness: messages 1 and 4 into responders,
// messages 2 and 3 into initiators. None may yield a session.
func TestReplay(t *testing.T) {
	r := recordTranscript(t)
	f := r.frames
	const n = 1000
	toResponder := bytes.Join([][]byte{f[0], f[3]}, nil)
	toInitiator := bytes.Join([][]byte{f[1], f[2]}, nil)
	sessions := 0
	for i := 0; i < n; i++ {
		if c, err := Server(t.Context(), newScriptConn(toResponder), &Config{Key: r.responder}); c != nil || stageOf(t, err) != StageInitiatorAuth {
			sessions++
		}
		if c, err := Client(t.Context(), newScriptConn(toInitiator), &Config{Key: r.initiator}, r.responder.ID()); c != nil || stageOf(t, err) != StageResponderAuth {
			sessions++
		}
	}
	if sessions != 0 {
		t.Fatalf("%d replays yielded a session or failed at an unexpected stage", sessions)
	}
}

// TestAppDataBeforeKeyConfirmation sends the recorded initiator's first
// data frame where message 4 belongs: the responder must not take it.
func TestAppDataBeforeKeyConfirmation(t *testing.T) {
	r := recordTranscript(t)
	stream := bytes.Join([][]byte{r.frames[0], r.InitiatorData, r.frames[3]}, nil)
	c, err := runRecorded(t, r, true, stream)
	if c != nil || stageOf(t, err) != StageInitiatorAuth || !errors.Is(err, errAuth) {
		t.Fatalf("data frame in place of message 4: %v", err)
	}
}
