package pairing

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"

	"github.com/ghostwire/ghostwire/identity"
)

// Specification constants, docs/protocol.md §12.5.
const (
	// Lifetime is how long a code can be used after it is shown.
	Lifetime = 2 * time.Minute
	// MaxAttempts is how many attempts one code allows: each attempt
	// tests one guess, so a code gives an attacker at most 3 in 10^6.
	MaxAttempts = 3
)

// Implementation constants.
const (
	// sourceGap is how long one source address waits between two
	// attempts at the same code: a host that hammers the offer gets no
	// more guesses (three is the cap whoever asks), but it cannot keep
	// the one attempt slot busy either.
	sourceGap = 2 * time.Second
	// maxSources bounds the source addresses an offer remembers.
	maxSources = 64
)

// Errors an offer or a join reports. The CLI turns each into a hint.
var (
	// ErrWrongCode means the two devices did not use the same code, or a
	// third device sits between them. The attempt counted.
	ErrWrongCode = errors.New("pairing: the code did not match (mistyped, or another device is in between)")
	// ErrCodeUsed means the code has taken its MaxAttempts attempts, or
	// has paired already: a new one must be shown.
	ErrCodeUsed = errors.New("pairing: this code is used up; show a new one")
	// ErrExpired means the code is older than Lifetime.
	ErrExpired = errors.New("pairing: this code has expired; show a new one")
	// ErrBusy means another attempt at the code is running, or this
	// source tried too recently; the joiner may try again shortly.
	ErrBusy = errors.New("pairing: another attempt is running; try again in a few seconds")
	// ErrRefused is what the joiner sees when the offering device ends
	// the attempt without answering: the code is used up or expired
	// there, another attempt runs, or the nameplate is not its.
	ErrRefused = errors.New("pairing: the other device refused the attempt (its code may be used up or expired)")
)

// Channel is what pairing runs over: a syncproto.Conn of purpose pairing,
// whose Exporter binds the exchange to that one connection.
type Channel interface {
	WriteFrame(p []byte) error
	ReadFrame(buf []byte) ([]byte, error)
	Exporter(label string, context []byte, length int) ([]byte, error)
	Peer() identity.ID
	SetDeadline(t time.Time) error
}

// Config is one side's part in pairing. It must not change once given.
type Config struct {
	// Self is this device's identity (the handshake proved it to the
	// other side).
	Self identity.ID
	// Name is what this device tells the other to call it; empty sends
	// none. At most MaxName bytes, no control characters.
	Name string
	// Rand is the source of the CPace scalar; nil means crypto/rand.
	Rand io.Reader
	// Store, if set, is called by Respond once the joiner has proved the
	// code and before the last message goes out, so that the joiner's
	// first sync, which follows that message at once, finds it stored. An
	// error fails the attempt: the joiner then sees no Done.
	Store func(*Result) error
}

func (c *Config) rand() io.Reader {
	if c.Rand == nil {
		return rand.Reader
	}
	return c.Rand
}

// Result is the device paired with: its identity (proved by the handshake,
// bound to the code by CPace), the name it gave, and the safety number
// both sides show.
type Result struct {
	Peer         identity.ID
	Name         string
	SafetyNumber string
}

func newResult(self, peer identity.ID, name string) *Result {
	return &Result{Peer: peer, Name: name, SafetyNumber: identity.SafetyNumber(self, peer)}
}

// Offer is one code shown on the offering device and the attempts made at
// it. It is safe for concurrent use; attempts run one at a time, so the
// count of attempts is exact.
type Offer struct {
	code    Code
	expires time.Time
	now     func() time.Time

	// mu guards the attempt state. Invariant: tries ≤ MaxAttempts; once
	// paired or tries == MaxAttempts nothing more is answered.
	mu struct {
		sync.Mutex
		tries   int  // attempts that reached the key exchange
		busy    bool // an attempt is running
		paired  bool
		sources map[netip.Addr]time.Time // last attempt by source
	}
}

// NewOffer starts an offer of code, valid for Lifetime from now() (nil
// means time.Now).
func NewOffer(code Code, now func() time.Time) *Offer {
	if now == nil {
		now = time.Now
	}
	o := &Offer{code: code, now: now, expires: now().Add(Lifetime)}
	o.mu.sources = map[netip.Addr]time.Time{}
	return o
}

// Code is the code to show.
func (o *Offer) Code() Code { return o.code }

// Expires is when the code stops working.
func (o *Offer) Expires() time.Time { return o.expires }

// Open reports whether the code can still be tried: not expired, not used
// up, not paired. The node advertises the attempt only while it is.
func (o *Offer) Open() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.openLocked() == nil
}

// TriesLeft is how many attempts the code has left.
func (o *Offer) TriesLeft() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return MaxAttempts - o.mu.tries
}

func (o *Offer) openLocked() error {
	switch {
	case o.mu.paired || o.mu.tries >= MaxAttempts:
		return ErrCodeUsed
	case !o.now().Before(o.expires):
		return ErrExpired
	}
	return nil
}

// begin takes the one attempt slot for source.
func (o *Offer) begin(source netip.Addr) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.openLocked(); err != nil {
		return err
	}
	now := o.now()
	if last, ok := o.mu.sources[source]; o.mu.busy || ok && now.Sub(last) < sourceGap {
		return ErrBusy
	}
	if len(o.mu.sources) >= maxSources {
		for a, t := range o.mu.sources {
			if now.Sub(t) >= sourceGap {
				delete(o.mu.sources, a)
			}
		}
		if len(o.mu.sources) >= maxSources {
			return ErrBusy
		}
	}
	o.mu.sources[source] = now
	o.mu.busy = true
	return nil
}

// spend counts the running attempt: from here on it is a guess.
func (o *Offer) spend() {
	o.mu.Lock()
	o.mu.tries++
	o.mu.Unlock()
}

// end releases the slot, marking the offer paired on success.
func (o *Offer) end(paired bool) {
	o.mu.Lock()
	o.mu.busy = false
	o.mu.paired = o.mu.paired || paired
	o.mu.Unlock()
}

// Respond runs the offering side of one attempt on ch, a connection of
// purpose pairing accepted from source (docs/protocol.md §12.5.4). It
// answers one Hello for this offer's nameplate with a share and a
// confirmation, checks the joiner's confirmation, and returns the joiner
// once it matched. A Hello counts as an attempt from the moment it names
// this nameplate; a wrong code returns ErrWrongCode, and after
// MaxAttempts the offer answers nothing more. ctx bounds the attempt.
func (o *Offer) Respond(ctx context.Context, ch Channel, cfg Config, source netip.Addr) (res *Result, err error) {
	if err := o.begin(source); err != nil {
		return nil, err
	}
	defer func() { o.end(err == nil) }()
	defer bound(ctx, ch)()
	f, err := ch.ReadFrame(nil)
	if err != nil {
		return nil, fmt.Errorf("pairing: reading the joiner's hello: %w", err)
	}
	m1, err := decodeHello(f)
	if err != nil {
		return nil, err
	}
	if m1.Nameplate != o.code.Nameplate {
		return nil, fmt.Errorf("pairing: the joiner asked for nameplate %s, this device shows %s", m1.Nameplate, o.code.Nameplate)
	}
	o.spend()
	peer := ch.Peer()
	ya, err := decodeShare(m1.Share)
	if err != nil {
		return nil, err
	}
	sid, err := ch.Exporter(sidLabel, nil, sidSize)
	if err != nil {
		return nil, err
	}
	cp, err := newCPace(cfg.rand(), []byte(o.code.Secret), channelID(peer.Bytes(), cfg.Self.Bytes()), sid)
	if err != nil {
		return nil, err
	}
	isk, err := cp.isk(ya, m1.Share, cp.share)
	if err != nil {
		return nil, err
	}
	defer clear(isk)
	if err := ch.WriteFrame(encode(&reply{Type: typeReply, Share: cp.share, Confirm: confirmTag(isk, confirmResponder, m1.Share, cp.share)})); err != nil {
		return nil, fmt.Errorf("pairing: sending the reply: %w", err)
	}
	f, err = ch.ReadFrame(nil)
	if err != nil {
		// The joiner closes without a word when our confirmation does not
		// match its key: a wrong code, from our side.
		return nil, fmt.Errorf("%w (the other device gave up: %v)", ErrWrongCode, err)
	}
	m3, err := decodeConfirm(f)
	if err != nil {
		return nil, err
	}
	if !tagsEqual(m3.Confirm, confirmTag(isk, confirmInitiator, m1.Share, cp.share)) {
		return nil, ErrWrongCode
	}
	res = newResult(cfg.Self, peer, m3.Name)
	if cfg.Store != nil {
		if err := cfg.Store(res); err != nil {
			return nil, err
		}
	}
	if err := ch.WriteFrame(encode(&done{Type: typeDone, Name: cfg.Name})); err != nil {
		return nil, fmt.Errorf("pairing: sending the last message: %w", err)
	}
	return res, nil
}

// Join runs the joining side on ch, a connection of purpose pairing to the
// device showing code (docs/protocol.md §12.5.4). It returns that device
// once both confirmations matched; ErrWrongCode if they did not (the code
// was mistyped, or a device is in between), ErrRefused if the other side
// answered nothing.
func Join(ctx context.Context, ch Channel, code Code, cfg Config) (*Result, error) {
	defer bound(ctx, ch)()
	peer := ch.Peer()
	sid, err := ch.Exporter(sidLabel, nil, sidSize)
	if err != nil {
		return nil, err
	}
	cp, err := newCPace(cfg.rand(), []byte(code.Secret), channelID(cfg.Self.Bytes(), peer.Bytes()), sid)
	if err != nil {
		return nil, err
	}
	if err := ch.WriteFrame(encode(&hello{Type: typeHello, Nameplate: code.Nameplate, Share: cp.share})); err != nil {
		return nil, fmt.Errorf("pairing: sending the hello: %w", err)
	}
	f, err := ch.ReadFrame(nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	m2, err := decodeReply(f)
	if err != nil {
		return nil, err
	}
	yb, err := decodeShare(m2.Share)
	if err != nil {
		return nil, err
	}
	isk, err := cp.isk(yb, cp.share, m2.Share)
	if err != nil {
		return nil, err
	}
	defer clear(isk)
	if !tagsEqual(m2.Confirm, confirmTag(isk, confirmResponder, cp.share, m2.Share)) {
		return nil, ErrWrongCode
	}
	if err := ch.WriteFrame(encode(&confirm{Type: typeConfirm, Confirm: confirmTag(isk, confirmInitiator, cp.share, m2.Share), Name: cfg.Name})); err != nil {
		return nil, fmt.Errorf("pairing: sending the confirmation: %w", err)
	}
	f, err = ch.ReadFrame(nil)
	if err != nil {
		return nil, fmt.Errorf("pairing: the other device did not confirm: %w", err)
	}
	m4, err := decodeDone(f)
	if err != nil {
		return nil, err
	}
	return newResult(cfg.Self, peer, m4.Name), nil
}

// bound makes ctx's deadline and cancellation the channel's deadline, and
// returns what undoes it.
func bound(ctx context.Context, ch Channel) func() {
	if d, ok := ctx.Deadline(); ok {
		ch.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { ch.SetDeadline(time.Unix(1, 0)) })
	return func() {
		stop()
		ch.SetDeadline(time.Time{})
	}
}
