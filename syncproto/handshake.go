package syncproto

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"time"

	"github.com/ghostwire/ghostwire/identity"
)

// Specification constants, docs/protocol.md §3.
const (
	// Version is the only protocol version this build speaks.
	Version = 1
	// DefaultHandshakeTimeout bounds a whole handshake when neither the
	// context nor Config sets a shorter limit. Over Tor one round trip costs
	// about a second and the handshake needs one and a half.
	DefaultHandshakeTimeout = 20 * time.Second
)

// supportedVersions is what the initiator offers, ascending (§3.2).
var supportedVersions = []uint{Version}

// Config configures one side of a handshake. It is not modified by Client
// or Server and may be shared by many connections once handed over.
type Config struct {
	// Key is our identity. Required.
	Key *identity.PrivateKey
	// Rand supplies the ephemeral secrets (X25519 scalar, ML-KEM seed).
	// Nil means crypto/rand. ML-KEM encapsulation always draws from
	// crypto/rand, the only source the standard library allows outside
	// tests.
	Rand io.Reader
	// Spares, if set, holds ephemeral keys made ahead of time while an
	// earlier handshake waited, and receives the ones this handshake makes
	// for the next (ephemeral.go). It is used only with crypto/rand (Rand
	// nil or rand.Reader). Nil means every handshake makes its keys when
	// it starts.
	Spares *Spares
	// Time is the clock the handshake deadline is computed from. Nil means
	// time.Now.
	Time func() time.Time
	// HandshakeTimeout bounds the handshake; zero means
	// DefaultHandshakeTimeout. A context deadline that comes sooner wins.
	HandshakeTimeout time.Duration
	// Logger receives the detailed reasons for failures that the peer is
	// never told. Nil discards.
	Logger *slog.Logger
	// Authorize, if set, is called by Server with the initiator's verified
	// identity once the handshake has proved it; an error aborts the
	// handshake before any application data is accepted. It is where the
	// trust store refuses blocked and revoked keys. Client does not call it:
	// the dialer names the one identity it accepts.
	Authorize func(peer identity.ID) error
	// Purpose is what Client asks the connection to be for; it travels in
	// message 1 and so in the transcript both sides sign (§3.3.1). Zero
	// means PurposeSync.
	Purpose Purpose
	// Hello, if set, is called by Server with message 1's frame as
	// received, once it has decoded and its version and purpose are
	// accepted, and before the responder does any key exchange or signs
	// anything. An error ends the handshake at StageInitiatorHello with a
	// bare close. It is where the node refuses replayed hellos and learns
	// that a connection has started a handshake (docs/limits.md); the
	// frame must not be kept past the call.
	Hello func(frame []byte) error
	// Accept lists the purposes Server accepts. An initiator asking for
	// another is refused with *PurposeError before anything is sent to it.
	// Nil means PurposeSync only.
	Accept []Purpose

	// rekeyEvery overrides the channel's rekey interval in tests.
	rekeyEvery uint64
	// sealHook, if set, sees every channel (key, nonce) pair sealed; tests
	// use it to prove no pair repeats.
	sealHook func(key, nonce []byte)
}

func (c *Config) rand() io.Reader {
	if c.Rand != nil {
		return c.Rand
	}
	return rand.Reader
}

// spares returns where keys made ahead of time are taken from and left,
// nil if none: only a handshake whose secrets come from crypto/rand may
// use them (ephemeral.go).
func (c *Config) spares() *Spares {
	if c.Rand == nil || c.Rand == rand.Reader {
		return c.Spares
	}
	return nil
}

func (c *Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Stages of the handshake, named in HandshakeError.
const (
	StageSetup          = "setup"
	StageInitiatorHello = "initiator hello (message 1)"
	StageResponderHello = "responder hello (message 2)"
	StageResponderAuth  = "responder auth (message 3)"
	StageInitiatorAuth  = "initiator auth (message 4)"
	StageAuthorize      = "authorize"
)

// HandshakeError reports a failed handshake and the stage it failed at.
// Client and Server return only this type (or nil). The peer is told none
// of it: the connection is simply closed.
type HandshakeError struct {
	Stage string // one of the Stage constants
	Err   error
}

// Error names the stage and the reason.
func (e *HandshakeError) Error() string {
	return "syncproto: handshake failed at " + e.Stage + ": " + e.Err.Error()
}

// Unwrap returns the reason, for errors.Is and errors.As.
func (e *HandshakeError) Unwrap() error { return e.Err }

// WrongPeerError means the dialed peer proved an identity other than the
// one expected. Got is authentic: the answering peer signed this handshake
// with it. Client returns it wrapped in a HandshakeError.
type WrongPeerError struct {
	Want, Got identity.ID
}

// Error names both identities in full: the user must be able to tell
// exactly who answered.
func (e *WrongPeerError) Error() string {
	return fmt.Sprintf("dialed %s but %s answered", e.Want, e.Got)
}

// Errors callers may branch on, wrapped in HandshakeError.
var (
	// ErrSelf: the peer is our own identity, either because we dialed
	// ourselves or because our own messages were reflected back to us.
	ErrSelf = errors.New("syncproto: peer is our own identity (dialed self or reflected connection)")
	// ErrKeyExchange is the one error for every unusable key share: an
	// X25519 point giving the all-zero secret, a malformed ML-KEM
	// encapsulation key or ciphertext. It is uniform on purpose (§3.5).
	ErrKeyExchange = errors.New("syncproto: invalid key exchange material")
)

var (
	errNoVersion = errors.New("no protocol version in common")
	errAuth      = errors.New("message failed authentication")
	errSignature = errors.New("identity signature does not verify")
)

// encapsulate768 is ML-KEM encapsulation; tests replace it with a
// derandomized one (crypto/mlkem/mlkemtest) to record transcripts.
var encapsulate768 = func(ek *mlkem.EncapsulationKey768, _ io.Reader) (shared, ct []byte, err error) {
	shared, ct = ek.Encapsulate()
	return shared, ct, nil
}

// handshake is the state of one attempt, owned by the goroutine running
// Client or Server. Its cost is bounded: at most four frames of at most
// MaxHandshakeFrame bytes are read, and each side does one X25519, one
// ML-KEM operation (key generation plus decapsulation, or encapsulation),
// one signature, one verification and two single-message AEAD operations,
// plus at most one key generation for the next handshake (ephemeral.go).
type handshake struct {
	conn net.Conn
	r    *bufio.Reader
	cfg  *Config
	log  *slog.Logger
	tr   transcript
	buf  []byte
}

// Client runs the initiator's side of the handshake on conn and returns the
// channel once expected has proved itself. For PurposePairing alone,
// expected may be zero: whoever answers is accepted, and Peer says who it
// was; the pairing code then has to prove it (docs/protocol.md §3.2). conn is owned by the result; on
// failure conn is closed (the peer learns nothing else) and the error is a
// *HandshakeError naming the stage, wrapping *WrongPeerError when another
// identity answered and ErrSelf when expected is our own.
//
// Client returns after sending its last handshake message, without waiting
// for the responder: the first WriteFrame follows one round trip after
// connecting (docs/protocol.md §3.1). If the responder then refuses us, the
// first ReadFrame reports ErrTruncated.
func Client(ctx context.Context, conn net.Conn, cfg *Config, expected identity.ID) (*Conn, error) {
	h, stop := start(ctx, conn, cfg)
	c, stage, err := h.client(expected)
	return finish(ctx, h, stop, c, stage, err, "initiator")
}

// Server runs the responder's side of the handshake on conn. It returns the
// channel once the initiator has proved an identity and cfg.Authorize (if
// set) accepted it; Peer reports that identity. Errors and the handling of
// conn are as for Client.
func Server(ctx context.Context, conn net.Conn, cfg *Config) (*Conn, error) {
	h, stop := start(ctx, conn, cfg)
	c, stage, err := h.server()
	return finish(ctx, h, stop, c, stage, err, "responder")
}

// start arms the deadline: the sooner of the context's and the handshake
// timeout, and an immediate one if the context is cancelled meanwhile.
func start(ctx context.Context, conn net.Conn, cfg *Config) (*handshake, func() bool) {
	if cfg == nil {
		cfg = &Config{}
	}
	now := time.Now
	if cfg.Time != nil {
		now = cfg.Time
	}
	timeout := cfg.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	deadline := now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	return &handshake{
		conn: conn,
		r:    newBufReader(conn),
		cfg:  cfg,
		log:  cfg.logger(),
		tr:   newTranscript(),
	}, stop
}

func finish(ctx context.Context, h *handshake, stop func() bool, c *Conn, stage string, err error, role string) (*Conn, error) {
	if !stop() && err == nil {
		err, stage = ctx.Err(), StageSetup
	}
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		h.log.Debug("syncproto: handshake failed", "role", role, "stage", stage, "err", err)
		h.conn.Close()
		return nil, &HandshakeError{Stage: stage, Err: err}
	}
	h.conn.SetDeadline(time.Time{})
	h.log.Debug("syncproto: handshake done", "role", role, "peer", c.peer)
	return c, nil
}

// readMessage reads one handshake frame and adds it to the transcript
// unless told not to (the caller adds it after checking it).
func (h *handshake) readFrame() ([]byte, error) {
	f, err := readFrame(h.r, h.buf, 1, MaxHandshakeFrame)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	h.buf = f[:0:0] // the frame is kept by the caller; do not reuse it
	return f, nil
}

func (h *handshake) client(expected identity.ID) (*Conn, string, error) {
	key := h.cfg.Key
	switch {
	case key == nil:
		return nil, StageSetup, errors.New("no identity key in Config")
	case expected.IsZero() && h.cfg.purpose() != PurposePairing:
		// Only pairing may dial an address whose identity it does not
		// know yet: the code it then runs proves who answered (§3.2).
		return nil, StageSetup, errors.New("no expected peer identity")
	case expected == key.ID():
		return nil, StageSetup, ErrSelf
	}

	// Message 1.
	spares := h.cfg.spares()
	eph, err := spares.initiatorKeys(h.cfg.rand())
	if err != nil {
		return nil, StageSetup, err
	}
	xpriv, dk := eph.x, eph.dk
	f1 := appendFrame(nil, mustMarshal(&initiatorHello{
		Type:     typeInitiatorHello,
		Versions: supportedVersions,
		X25519:   xpriv.PublicKey().Bytes(),
		MLKEM:    dk.EncapsulationKey().Bytes(),
		Purpose:  uint(h.cfg.purpose()),
	}))
	if _, err := h.conn.Write(f1); err != nil {
		return nil, StageInitiatorHello, err
	}
	h.tr.add(f1)
	// The responder now decodes message 1 and encapsulates: time in which
	// this side would only wait.
	spares.fillInitiator()

	// Message 2.
	f2, err := h.readFrame()
	if err != nil {
		return nil, StageResponderHello, err
	}
	m2, err := decodeResponderHello(f2[frameHeaderSize:])
	if err != nil {
		return nil, StageResponderHello, err
	}
	if !slices.Contains(supportedVersions, m2.Version) {
		return nil, StageResponderHello, fmt.Errorf("responder chose version %d, which was not offered", m2.Version)
	}
	h.tr.add(f2)
	ssX, err := x25519(xpriv, m2.X25519)
	if err != nil {
		return nil, StageResponderHello, err
	}
	defer clear(ssX)
	ssK, err := dk.Decapsulate(m2.MLKEM)
	if err != nil {
		return nil, StageResponderHello, ErrKeyExchange
	}
	defer clear(ssK)
	h2 := h.tr.sum()
	prk := extractSecret(ssK, ssX, h2)
	defer clear(prk)

	// Message 3.
	f3, err := h.readFrame()
	if err != nil {
		return nil, StageResponderAuth, err
	}
	peer, err := openAuth(prk, labelResponderHandshake, h2, f3, typeResponderAuth, sigContextResponder, expected)
	if err != nil {
		return nil, StageResponderAuth, err
	}
	if peer == key.ID() {
		return nil, StageResponderAuth, ErrSelf
	}
	if peer != expected && !expected.IsZero() {
		return nil, StageResponderAuth, &WrongPeerError{Want: expected, Got: peer}
	}
	h.tr.add(f3)
	h3 := h.tr.sum()

	// Message 4.
	f4 := sealAuth(prk, labelInitiatorHandshake, h3, typeInitiatorAuth, sigContextInitiator, key)
	if _, err := h.conn.Write(f4); err != nil {
		return nil, StageInitiatorAuth, err
	}
	h.tr.add(f4)
	h4 := h.tr.sum()
	return newConn(h, peer, h.cfg.purpose(), prk, h4, true), "", nil
}

func (h *handshake) server() (*Conn, string, error) {
	key := h.cfg.Key
	if key == nil {
		return nil, StageSetup, errors.New("no identity key in Config")
	}
	// Message 1.
	f1, err := h.readFrame()
	if err != nil {
		return nil, StageInitiatorHello, err
	}
	m1, err := decodeInitiatorHello(f1[frameHeaderSize:])
	if err != nil {
		return nil, StageInitiatorHello, err
	}
	version := uint(0)
	for _, v := range m1.Versions {
		if slices.Contains(supportedVersions, v) {
			version = v // ascending: the last match is the highest
		}
	}
	if version == 0 {
		return nil, StageInitiatorHello, errNoVersion
	}
	purpose := Purpose(m1.Purpose)
	if err := h.cfg.accept(purpose); err != nil {
		return nil, StageInitiatorHello, err
	}
	if h.cfg.Hello != nil {
		if err := h.cfg.Hello(f1); err != nil {
			return nil, StageInitiatorHello, err
		}
	}
	h.tr.add(f1)
	// Our key share is taken only now, so that a first message that is
	// junk, replayed or refused costs no key generation (docs/limits.md).
	spares := h.cfg.spares()
	xpriv, err := spares.responderKey(h.cfg.rand())
	if err != nil {
		return nil, StageSetup, err
	}

	// Message 2 leaves as soon as it exists, so that the initiator's
	// X25519 and decapsulation run while this side does its own X25519
	// and signs message 3 (docs/protocol.md §3.1).
	ek, err := mlkem.NewEncapsulationKey768(m1.MLKEM)
	if err != nil {
		return nil, StageInitiatorHello, ErrKeyExchange
	}
	ssK, ct, err := encapsulate768(ek, h.cfg.rand())
	if err != nil {
		return nil, StageSetup, err
	}
	defer clear(ssK)
	f2 := appendFrame(nil, mustMarshal(&responderHello{
		Type:    typeResponderHello,
		Version: version,
		X25519:  xpriv.PublicKey().Bytes(),
		MLKEM:   ct,
	}))
	if _, err := h.conn.Write(f2); err != nil {
		return nil, StageResponderHello, err
	}
	h.tr.add(f2)
	h2 := h.tr.sum()
	ssX, err := x25519(xpriv, m1.X25519)
	if err != nil {
		return nil, StageInitiatorHello, err
	}
	defer clear(ssX)
	prk := extractSecret(ssK, ssX, h2)
	defer clear(prk)

	// Message 3.
	f3 := sealAuth(prk, labelResponderHandshake, h2, typeResponderAuth, sigContextResponder, key)
	if _, err := h.conn.Write(f3); err != nil {
		return nil, StageResponderAuth, err
	}
	// The initiator now checks message 3 and signs: time in which this
	// side would only wait.
	spares.fillResponder()
	h.tr.add(f3)
	h3 := h.tr.sum()

	// Message 4.
	f4, err := h.readFrame()
	if err != nil {
		return nil, StageInitiatorAuth, err
	}
	peer, err := openAuth(prk, labelInitiatorHandshake, h3, f4, typeInitiatorAuth, sigContextInitiator, identity.ID{})
	if err != nil {
		return nil, StageInitiatorAuth, err
	}
	if peer == key.ID() {
		return nil, StageInitiatorAuth, ErrSelf
	}
	if h.cfg.Authorize != nil {
		if err := h.cfg.Authorize(peer); err != nil {
			return nil, StageAuthorize, fmt.Errorf("peer %s refused: %w", peer.Short(), err)
		}
	}
	h.tr.add(f4)
	h4 := h.tr.sum()
	return newConn(h, peer, purpose, prk, h4, false), "", nil
}

// x25519 computes the X25519 shared secret with the peer's share. Every
// failure, including a low-order point that yields the all-zero secret,
// is ErrKeyExchange.
func x25519(priv *ecdh.PrivateKey, peer []byte) ([]byte, error) {
	pub, err := ecdh.X25519().NewPublicKey(peer)
	if err != nil {
		return nil, ErrKeyExchange
	}
	ss, err := priv.ECDH(pub)
	if err != nil {
		return nil, ErrKeyExchange
	}
	return ss, nil
}

// sealAuth builds message 3 or 4 (§3.3.3, §3.3.4): the sender's identity
// and its signature over context ‖ transcript hash, encoded, sealed under
// the sender's handshake key with the transcript hash as associated data,
// and framed.
func sealAuth(prk []byte, label string, th []byte, typ uint, sigContext string, key *identity.PrivateKey) []byte {
	msg := make([]byte, 0, len(sigContext)+len(th))
	msg = append(append(msg, sigContext...), th...)
	pt := mustMarshal(&auth{Type: typ, ID: key.ID().Bytes(), Signature: key.Sign(msg)})
	k := expandKey(prk, label, nil)
	defer clear(k)
	body := newAEAD(k).Seal(nil, zeroNonce[:], pt, th)
	return appendFrame(nil, body)
}

// openAuth opens and checks message 3 or 4 and returns the identity it
// proves. known, if not zero, is an identity already validated by
// identity.NewID: when the message names it, the (costly) point validation
// is not repeated.
func openAuth(prk []byte, label string, th, frame []byte, typ uint, sigContext string, known identity.ID) (identity.ID, error) {
	k := expandKey(prk, label, nil)
	defer clear(k)
	pt, err := newAEAD(k).Open(nil, zeroNonce[:], frame[frameHeaderSize:], th)
	if err != nil {
		return identity.ID{}, errAuth
	}
	m, err := decodeAuth(pt, typ)
	if err != nil {
		return identity.ID{}, err
	}
	id := known
	if id.IsZero() || !bytes.Equal(m.ID, known.Bytes()) {
		if id, err = identity.NewID(m.ID); err != nil {
			return identity.ID{}, err
		}
	}
	msg := make([]byte, 0, len(sigContext)+len(th))
	msg = append(append(msg, sigContext...), th...)
	if !id.Verify(msg, m.Signature) {
		return identity.ID{}, errSignature
	}
	return id, nil
}

// newBufReader buffers reads from the transport for the handshake and then
// the channel, which inherits whatever the handshake read ahead (and grows
// it for large frames, Conn.growReader).
func newBufReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, handshakeBufferSize) }
