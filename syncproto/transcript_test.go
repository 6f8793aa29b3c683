package syncproto

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/ghostwire/ghostwire/identity"
)

var update = flag.Bool("update", false, "regenerate the recorded transcripts in testdata/")

const transcriptFile = "handshake_v1.json"

// transcriptRecord is testdata/handshake_v1.json (docs/protocol.md §8): a
// complete handshake with deterministic randomness, then one application
// message each way. Hex strings throughout.
type transcriptRecord struct {
	Comment          string      `json:"comment"`
	InitiatorKeySeed hexBytes    `json:"initiator_key_seed"`
	ResponderKeySeed hexBytes    `json:"responder_key_seed"`
	InitiatorRand    hexBytes    `json:"initiator_rand"`
	ResponderRand    hexBytes    `json:"responder_rand"`
	Messages         [4]hexBytes `json:"messages"`
	InitiatorData    hexBytes    `json:"initiator_first_data_frame"`
	ResponderData    hexBytes    `json:"responder_first_data_frame"`
	InitiatorDataKey hexBytes    `json:"initiator_data_key"`
	ResponderDataKey hexBytes    `json:"responder_data_key"`
	// Exported is Exporter(recordedExportLabel, recordedExportContext, 32)
	// on this connection (§4.5).
	Exported hexBytes `json:"exporter"`
}

type hexBytes []byte

func (h hexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }
func (h *hexBytes) UnmarshalText(b []byte) error {
	v, err := hex.DecodeString(string(b))
	*h = v
	return err
}

// Application messages in the recording.
const (
	recordedRequest = "first message from the initiator"
	recordedReply   = "first message from the responder"

	recordedExportLabel   = "ghostwire test exporter"
	recordedExportContext = "recorded"
)

// recorded is a loaded transcript with convenience accessors.
type recorded struct {
	transcriptRecord
	frames    [4][]byte
	initiator *identity.PrivateKey
	responder *identity.PrivateKey
}

func (r *recorded) clientConfig() *Config {
	return &Config{Key: r.initiator, Rand: bytes.NewReader(r.InitiatorRand)}
}

func (r *recorded) serverConfig() *Config {
	return &Config{Key: r.responder, Rand: bytes.NewReader(r.ResponderRand)}
}

// recordTranscript loads the recorded transcript, which TestTranscript
// (with -update) writes. Tests that use it run with deterministic ML-KEM
// encapsulation so that replaying the responder reproduces its bytes.
func recordTranscript(t testing.TB) *recorded {
	t.Helper()
	deterministicEncapsulation(t)
	b, err := os.ReadFile(filepath.Join("testdata", transcriptFile))
	if err != nil {
		t.Fatalf("%v (regenerate with: go test ./syncproto -run TestTranscript -update)", err)
	}
	var r recorded
	if err := json.Unmarshal(b, &r.transcriptRecord); err != nil {
		t.Fatal(err)
	}
	for i, m := range r.Messages {
		r.frames[i] = m
	}
	if r.initiator, err = identity.NewKeyFromSeed(r.InitiatorKeySeed); err != nil {
		t.Fatal(err)
	}
	if r.responder, err = identity.NewKeyFromSeed(r.ResponderKeySeed); err != nil {
		t.Fatal(err)
	}
	return &r
}

// generateTranscript runs both sides step by step over script connections:
// every input is known before each side starts, so no goroutine is needed
// and the bytes depend only on the keys and the random streams.
func generateTranscript(t *testing.T) transcriptRecord {
	deterministicEncapsulation(t)
	rec := transcriptRecord{
		Comment:          "GhostWire handshake v1 (docs/protocol.md §3) with fixed keys and randomness; messages are whole frames. Regenerate: go test ./syncproto -run TestTranscript -update",
		InitiatorKeySeed: testKey(t, "alice").Seed(),
		ResponderKeySeed: testKey(t, "bob").Seed(),
	}
	rec.InitiatorRand = make([]byte, 96)
	rec.ResponderRand = make([]byte, 64)
	newDetRand("initiator rand").Read(rec.InitiatorRand)
	newDetRand("responder rand").Read(rec.ResponderRand)
	alice, _ := identity.NewKeyFromSeed(rec.InitiatorKeySeed)
	bob, _ := identity.NewKeyFromSeed(rec.ResponderKeySeed)
	ccfg := func() *Config { return &Config{Key: alice, Rand: bytes.NewReader(rec.InitiatorRand)} }
	scfg := func() *Config { return &Config{Key: bob, Rand: bytes.NewReader(rec.ResponderRand)} }

	// 1. The initiator's first message.
	sc := newScriptConn(nil)
	Client(t.Context(), sc, ccfg(), bob.ID())
	f1 := sc.written()
	// 2. The responder's answer.
	sc = newScriptConn(f1)
	Server(t.Context(), sc, scfg())
	out := splitFrames(t, sc.written())
	if len(out) != 2 {
		t.Fatalf("responder wrote %d frames, want 2", len(out))
	}
	f2, f3 := out[0], out[1]
	// 3. The initiator completes and sends the first application message.
	sc = newScriptConn(append(bytes.Clone(f2), f3...))
	c, err := Client(t.Context(), sc, ccfg(), bob.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteFrame([]byte(recordedRequest)); err != nil {
		t.Fatal(err)
	}
	out = splitFrames(t, sc.written())
	if len(out) != 3 || !bytes.Equal(out[0], f1) {
		t.Fatal("initiator is not deterministic")
	}
	f4, data := out[1], out[2]
	rec.InitiatorDataKey = bytes.Clone(c.out.dir.key)
	rec.ResponderDataKey = bytes.Clone(c.in.dir.key)
	if rec.Exported, err = c.Exporter(recordedExportLabel, []byte(recordedExportContext), 32); err != nil {
		t.Fatal(err)
	}
	// 4. The responder completes, reads and replies.
	sc = newScriptConn(bytes.Join([][]byte{f1, f4, data}, nil))
	s, err := Server(t.Context(), sc, scfg())
	if err != nil {
		t.Fatal(err)
	}
	if m, err := s.ReadFrame(nil); err != nil || string(m) != recordedRequest {
		t.Fatalf("responder read %q, %v", m, err)
	}
	if err := s.WriteFrame([]byte(recordedReply)); err != nil {
		t.Fatal(err)
	}
	out = splitFrames(t, sc.written())
	rec.Messages = [4]hexBytes{f1, f2, f3, f4}
	rec.InitiatorData, rec.ResponderData = data, out[2]
	return rec
}

// TestTranscript replays the recorded handshake against both sides and
// requires every byte they write to match the recording.
func TestTranscript(t *testing.T) {
	path := filepath.Join("testdata", transcriptFile)
	if *update {
		rec := generateTranscript(t)
		b, err := json.MarshalIndent(rec, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := recordTranscript(t)
	f := r.frames

	// Initiator: fed messages 2 and 3, it must write exactly 1, 4 and the
	// recorded data frame, and decrypt the responder's reply.
	sc := newScriptConn(bytes.Join([][]byte{f[1], f[2], r.ResponderData}, nil))
	c, err := Client(t.Context(), sc, r.clientConfig(), r.responder.ID())
	if err != nil {
		t.Fatal(err)
	}
	if c.Peer() != r.responder.ID() {
		t.Fatal("initiator's peer is not the recorded responder")
	}
	if !bytes.Equal(c.out.dir.key, r.InitiatorDataKey) || !bytes.Equal(c.in.dir.key, r.ResponderDataKey) {
		t.Error("initiator derived different data keys")
	}
	checkExported(t, "initiator", c, r.Exported)
	if err := c.WriteFrame([]byte(recordedRequest)); err != nil {
		t.Fatal(err)
	}
	if want := bytes.Join([][]byte{f[0], f[3], r.InitiatorData}, nil); !bytes.Equal(sc.written(), want) {
		t.Error("initiator's bytes differ from the recording")
	}
	if m, err := c.ReadFrame(nil); err != nil || string(m) != recordedReply {
		t.Errorf("initiator read %q, %v", m, err)
	}

	// Responder: fed messages 1 and 4 and the data frame.
	sc = newScriptConn(bytes.Join([][]byte{f[0], f[3], r.InitiatorData}, nil))
	s, err := Server(t.Context(), sc, r.serverConfig())
	if err != nil {
		t.Fatal(err)
	}
	if s.Peer() != r.initiator.ID() {
		t.Fatal("responder's peer is not the recorded initiator")
	}
	checkExported(t, "responder", s, r.Exported)
	if m, err := s.ReadFrame(nil); err != nil || string(m) != recordedRequest {
		t.Errorf("responder read %q, %v", m, err)
	}
	if err := s.WriteFrame([]byte(recordedReply)); err != nil {
		t.Fatal(err)
	}
	if want := bytes.Join([][]byte{f[1], f[2], r.ResponderData}, nil); !bytes.Equal(sc.written(), want) {
		t.Error("responder's bytes differ from the recording")
	}
}

// checkExported requires c's exporter to give the recorded value.
func checkExported(t *testing.T, side string, c *Conn, want []byte) {
	t.Helper()
	got, err := c.Exporter(recordedExportLabel, []byte(recordedExportContext), 32)
	if err != nil || len(want) != 32 || !bytes.Equal(got, want) {
		t.Errorf("%s's exporter: %x, %v; recorded %x", side, got, err, want)
	}
}
