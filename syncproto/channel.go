package syncproto

import (
	"bufio"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/ghostwire/ghostwire/identity"
)

// Channel constants, docs/protocol.md §4.
const (
	// rekeyInterval is how many frames one direction seals under a key
	// before both sides derive the next one (§4.3). ChaCha20-Poly1305's own
	// limits are far beyond it; rekeying this often bounds what a key
	// stolen from memory can decrypt and costs one HKDF per 65,536 frames.
	rekeyInterval = 1 << 16
	// Content types, the last plaintext byte of every channel frame (§4.2).
	recordData  = 0
	recordClose = 1
)

// Implementation constants.
const (
	// handshakeBufferSize is the buffered reader the handshake reads
	// through, and the channel after it while its frames are small.
	handshakeBufferSize = 4 << 10
	// readBufferSize is the reader the channel moves to at its first frame
	// larger than that. 64 KiB takes several bulk frames per read syscall:
	// 16 KiB frames moved about 10 % faster than with a 16 KiB buffer
	// (BenchmarkBulk). Starting small keeps the handshake and idle
	// channels from allocating it.
	readBufferSize = 64 << 10
	// closeTimeout bounds how long Close waits to send the close frame.
	closeTimeout = 2 * time.Second
)

// ErrTruncated means the transport ended before the peer's authenticated
// close: whatever the peer sent last may not have arrived, and an attacker
// who can cut connections may have done so. A clean close reads as io.EOF.
var ErrTruncated = errors.New("syncproto: connection cut before the peer's authenticated close")

var (
	errMessageTooLarge = fmt.Errorf("syncproto: message larger than MaxPayload (%d bytes)", MaxPayload)
	// errBroken is the one error a reader sees for a frame that fails
	// authentication, is out of bounds or is out of order; the reason is
	// logged, the peer is told nothing and the channel stays failed.
	errBroken         = errors.New("syncproto: channel integrity failure")
	errNonceExhausted = errors.New("syncproto: frame counter exhausted")
)

// Conn is an established, mutually authenticated channel carrying
// messages of up to MaxPayload bytes each, in order, each delivered exactly
// once or not at all: any frame that fails authentication, arrives out of
// order, is duplicated or is dropped fails the channel for good.
//
// One goroutine may call ReadFrame while another calls WriteFrame; Close
// may be called from any goroutine at any time.
type Conn struct {
	conn    net.Conn
	r       *bufio.Reader
	peer    identity.ID
	purpose Purpose
	log     *slog.Logger
	// exporter is the exporter secret (§3.4), never changed after the
	// handshake.
	exporter []byte

	// in is the receiving direction; its mutex serialises ReadFrame. err is
	// sticky: once set, every later read returns it.
	in struct {
		sync.Mutex
		dir direction
		buf []byte
		err error
	}
	// out is the sending direction; its mutex serialises WriteFrame and
	// the close frame.
	out struct {
		sync.Mutex
		dir direction
		buf []byte
		err error
	}
	closeOnce sync.Once
	closeErr  error
}

// direction is one direction's key state: the current key, its AEAD and
// the frame counter, which is also the nonce (§4.3).
type direction struct {
	key      []byte
	aead     cipher.AEAD
	seq      uint64
	interval uint64
	hook     func(key, nonce []byte)
	nonce    [nonceSize]byte
}

func newDirection(key []byte, cfg *Config) direction {
	d := direction{key: key, aead: newAEAD(key), interval: rekeyInterval, hook: cfg.sealHook}
	if cfg.rekeyEvery != 0 {
		d.interval = cfg.rekeyEvery
	}
	return d
}

// next returns the nonce for the next frame and advances the counter,
// switching keys at every multiple of the interval. The counter never
// wraps: the 2^64th frame fails instead.
func (d *direction) next() ([]byte, error) {
	if d.seq == ^uint64(0) {
		return nil, errNonceExhausted
	}
	if d.seq != 0 && d.seq%d.interval == 0 {
		nk := expandKey(d.key, labelRekey, nil)
		clear(d.key)
		d.key, d.aead = nk, newAEAD(nk)
	}
	binary.BigEndian.PutUint64(d.nonce[4:], d.seq)
	d.seq++
	if d.hook != nil {
		d.hook(d.key, d.nonce[:])
	}
	return d.nonce[:], nil
}

// newConn derives the data keys and the exporter secret from the
// handshake secret and H4 (§3.4) and returns the channel.
func newConn(h *handshake, peer identity.ID, purpose Purpose, prk, h4 []byte, initiator bool) *Conn {
	send, recv := expandKey(prk, labelInitiatorData, h4), expandKey(prk, labelResponderData, h4)
	if !initiator {
		send, recv = recv, send
	}
	c := &Conn{conn: h.conn, r: h.r, peer: peer, purpose: purpose, log: h.log, exporter: expandKey(prk, labelExporterSecret, h4)}
	c.out.dir = newDirection(send, h.cfg)
	c.in.dir = newDirection(recv, h.cfg)
	return c
}

// Peer returns the identity the peer proved in the handshake.
func (c *Conn) Peer() identity.ID { return c.peer }

// Purpose returns what both sides agreed the connection is for: the one
// the initiator asked for and the responder accepted. A responder that
// accepts several purposes branches on it.
func (c *Conn) Purpose() Purpose { return c.purpose }

// WriteFrame sends p as one message. Messages larger than MaxPayload are
// refused without touching the channel. After any write error the channel
// refuses every later write.
func (c *Conn) WriteFrame(p []byte) error {
	if len(p) > MaxPayload {
		return errMessageTooLarge
	}
	c.out.Lock()
	defer c.out.Unlock()
	if c.out.err != nil {
		return c.out.err
	}
	if err := c.writeRecord(recordData, p); err != nil {
		c.out.err = err
		return err
	}
	return nil
}

// writeRecord seals p ‖ typ into one frame and writes it in a single call.
// The caller holds c.out.
func (c *Conn) writeRecord(typ byte, p []byte) error {
	n := len(p) + 1 + tagSize
	total := frameHeaderSize + n
	buf := c.out.buf
	if cap(buf) < total {
		buf = make([]byte, total)
		c.out.buf = buf
	}
	buf = buf[:total]
	binary.BigEndian.PutUint32(buf, uint32(n))
	copy(buf[frameHeaderSize:], p)
	buf[frameHeaderSize+len(p)] = typ
	nonce, err := c.out.dir.next()
	if err != nil {
		return err
	}
	c.out.dir.aead.Seal(buf[frameHeaderSize:frameHeaderSize], nonce, buf[frameHeaderSize:frameHeaderSize+len(p)+1], buf[:frameHeaderSize])
	if _, err := c.conn.Write(buf); err != nil {
		return fmt.Errorf("syncproto: write: %w", err)
	}
	return nil
}

// ReadFrame returns the next message, stored in buf's memory when it fits
// (pass nil to get a fresh slice). It returns io.EOF after the peer's
// authenticated close, ErrTruncated if the transport ended without one, and
// a generic integrity error, after closing the transport, for any frame that
// is malformed, oversized, forged, replayed, reordered or follows a dropped
// one. Every error is final: later calls return it again. A read deadline
// that expires (SetReadDeadline) also ends the channel, since it may leave
// a frame half read.
func (c *Conn) ReadFrame(buf []byte) ([]byte, error) {
	c.in.Lock()
	defer c.in.Unlock()
	if c.in.err != nil {
		return nil, c.in.err
	}
	msg, err := c.readRecord(buf)
	if err != nil {
		c.in.err = err
		return nil, err
	}
	return msg, nil
}

func (c *Conn) readRecord(buf []byte) ([]byte, error) {
	if c.r.Size() < readBufferSize {
		if hdr, err := c.r.Peek(frameHeaderSize); err == nil {
			if n := binary.BigEndian.Uint32(hdr); n > uint32(c.r.Size()) && n <= maxChannelFrame {
				c.growReader()
			}
		}
	}
	f, err := readFrame(c.r, c.in.buf, minChannelFrame, maxChannelFrame)
	switch {
	case err == nil:
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return nil, ErrTruncated
	case errors.Is(err, errFrameTooLarge) || errors.Is(err, errFrameTooSmall):
		return nil, c.broken(err)
	case errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded):
		return nil, fmt.Errorf("syncproto: read: %w", err)
	default: // reset, broken pipe: the transport was cut
		return nil, fmt.Errorf("%w: %v", ErrTruncated, err)
	}
	c.in.buf = f
	nonce, err := c.in.dir.next()
	if err != nil {
		return nil, c.broken(err)
	}
	pt, err := c.in.dir.aead.Open(buf[:0], nonce, f[frameHeaderSize:], f[:frameHeaderSize])
	if err != nil {
		return nil, c.broken(fmt.Errorf("frame %d failed authentication", c.in.dir.seq-1))
	}
	typ, msg := pt[len(pt)-1], pt[:len(pt)-1]
	switch {
	case typ == recordData:
		return msg, nil
	case typ == recordClose && len(msg) == 0:
		return nil, io.EOF
	default:
		return nil, c.broken(fmt.Errorf("unknown content type %d or non-empty close", typ))
	}
}

// growReader moves the channel to a readBufferSize reader over the small
// one: it first drains what that had buffered, then its large reads pass
// straight through to the transport. The caller holds c.in.
func (c *Conn) growReader() { c.r = bufio.NewReaderSize(c.r, readBufferSize) }

// broken logs why the channel failed, closes the transport without a word
// to the peer, and returns the generic error the caller sees.
func (c *Conn) broken(reason error) error {
	c.log.Debug("syncproto: channel failed", "peer", c.peer, "reason", reason)
	c.conn.Close()
	return errBroken
}

// Close sends the authenticated close (waiting at most two seconds for a
// blocked writer) and closes the transport. The peer's next read returns
// io.EOF once it has read everything sent before. Close is idempotent;
// later writes and reads fail with net.ErrClosed.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		// If a WriteFrame holds the lock it may be blocked on a peer that
		// stopped reading: a deadline wakes it, so the lock is always
		// obtained. The uncontended case skips the timer.
		if !c.out.TryLock() {
			c.conn.SetWriteDeadline(time.Now().Add(closeTimeout))
			c.out.Lock()
		}
		if c.out.err == nil {
			c.writeRecord(recordClose, nil)
			c.out.err = net.ErrClosed
		}
		c.out.Unlock()
		c.closeErr = c.conn.Close()
	})
	return c.closeErr
}

// SetDeadline sets the read and write deadlines of the transport.
func (c *Conn) SetDeadline(t time.Time) error { return c.conn.SetDeadline(t) }

// SetReadDeadline sets the read deadline of the transport; see ReadFrame.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.conn.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline of the transport.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }
