package onion

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/net/proxy"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/onion/internal/torctl"
)

// isolationLabel domain-separates the SOCKS credential derivation
// (docs/protocol.md §7.2).
const isolationLabel = "ghostwire socks isolation v1"

// Dialer dials peers through tor with per-peer stream isolation. Each Dialer
// has its own random secret, so two Dialers never share a circuit either.
// It is safe for concurrent use.
type Dialer struct {
	t      *Tor
	secret [32]byte
}

// NewDialer returns a Dialer with a fresh isolation secret.
func (t *Tor) NewDialer() (*Dialer, error) {
	d := &Dialer{t: t}
	if _, err := rand.Read(d.secret[:]); err != nil {
		return nil, fmt.Errorf("onion: %w", err)
	}
	return d, nil
}

// Dial dials id's onion service through tor with the Tor's default Dialer.
func (t *Tor) Dial(ctx context.Context, id identity.ID) (net.Conn, error) {
	return t.dialer.Dial(ctx, id)
}

// DialAddr parses an onion address with identity.ParseID, then dials it. Any
// other text (a hostname, an IP, "") is refused before a socket opens.
func (t *Tor) DialAddr(ctx context.Context, addr string) (net.Conn, error) {
	id, err := identity.ParseID(addr)
	if err != nil {
		return nil, fmt.Errorf("onion: dial: %w", err)
	}
	return t.dialer.Dial(ctx, id)
}

// Credentials returns the SOCKS username and password this Dialer uses for
// id: hex of HMAC-SHA256(secret, label ‖ id), first and second half. They
// reveal nothing about id to whoever can read tor's circuit list.
func (d *Dialer) Credentials(id identity.ID) (user, pass string) {
	m := hmac.New(sha256.New, d.secret[:])
	m.Write([]byte(isolationLabel))
	m.Write(id.Bytes())
	sum := m.Sum(nil)
	return hex.EncodeToString(sum[:16]), hex.EncodeToString(sum[16:])
}

// Dial connects to id's onion service on VirtualPort. The only socket it
// opens is to tor's loopback SOCKS port; the onion name goes to tor
// unresolved. Errors wrap identity.ErrInvalidID for the zero ID and
// ErrTorUnavailable when tor is not ready or its SOCKS port does not answer.
func (d *Dialer) Dial(ctx context.Context, id identity.ID) (net.Conn, error) {
	if id.IsZero() {
		return nil, fmt.Errorf("onion: dial: %w: zero id", identity.ErrInvalidID)
	}
	t := d.t
	t.mu.Lock()
	ready, socks, sess := t.ready && !t.hung, "", t.sess
	if sess != nil {
		socks = sess.socks
	}
	phase := t.phase
	t.mu.Unlock()
	if !ready || socks == "" {
		return nil, fmt.Errorf("onion: dial %s: %w (bootstrapped %d%%)", id.Short(), ErrTorUnavailable, phase.Percent)
	}
	network, addr, err := torctl.Addr(socks)
	if err != nil {
		return nil, fmt.Errorf("onion: bug: SOCKS port %s: %w", socks, err)
	}
	user, pass := d.Credentials(id)
	p, err := proxy.SOCKS5(network, addr, &proxy.Auth{User: user, Password: pass}, socksForward{network, addr})
	if err != nil {
		return nil, fmt.Errorf("onion: %w", err)
	}
	target := net.JoinHostPort(id.Onion()+".onion", strconv.Itoa(VirtualPort))
	c, err := p.(proxy.ContextDialer).DialContext(ctx, "tcp", target)
	if err != nil && strings.HasSuffix(err.Error(), "unknown code: 244") && t.presentClientAuth(sess, id) {
		// The peer runs --only-peers: tor now holds our key and opens the
		// descriptor it has cached (docs/tor.md, "Presence hiding").
		c, err = p.(proxy.ContextDialer).DialContext(ctx, "tcp", target)
	}
	if err != nil {
		if lostTor(err) {
			// The SOCKS connection itself broke: tor died under us.
			return nil, fmt.Errorf("onion: dial %s: %w: %s", id.Short(), ErrTorUnavailable, socksReason(err, id))
		}
		return nil, fmt.Errorf("onion: dial %s: %s", id.Short(), socksReason(err, id))
	}
	return c, nil
}

// Tor's extended SOCKS5 replies for onion services (tor's SocksPort
// ExtendedErrors flag; control-spec / tor-manual "ExtendedErrors").
var onionReplies = map[string]string{
	"240": "onion service descriptor not found (the peer is offline, or its service is not published yet)",
	"241": "onion service descriptor is invalid",
	"242": "introduction to the onion service failed",
	"243": "rendezvous with the onion service failed",
	"244": "the onion service requires client authorization",
	"245": "client authorization for the onion service was refused",
	"246": "invalid onion address",
	"247": "introduction to the onion service timed out",
}

// socksReason turns a SOCKS client error into words without the full onion
// address, which must not reach logs (the short form identifies the peer).
func socksReason(err error, id identity.ID) string {
	msg := strings.ReplaceAll(err.Error(), id.Onion()+".onion", id.Short()+".onion")
	for code, reason := range onionReplies {
		if strings.HasSuffix(msg, "unknown code: "+code) {
			return reason
		}
	}
	return msg
}

// lostTor tells an I/O failure on the SOCKS connection (reset, EOF: tor is
// gone) from a SOCKS reply tor sent (descriptor not found, ...), which the
// SOCKS client reports as plain errors.
func lostTor(err error) bool {
	var errno syscall.Errno
	return errors.Is(err, ErrTorUnavailable) || errors.As(err, &errno) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// socksForward is the only dialer the SOCKS client may use: it connects to
// the one SOCKS socket (Unix, or loopback TCP) it was made for and nothing
// else, and reports a refused connection as ErrTorUnavailable.
type socksForward struct{ network, addr string }

func (f socksForward) Dial(network, addr string) (net.Conn, error) {
	return f.DialContext(context.Background(), network, addr)
}

func (f socksForward) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if network != f.network || addr != f.addr {
		return nil, fmt.Errorf("onion: bug: SOCKS client asked to dial %s %s", network, addr)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("%w: SOCKS port: %v", ErrTorUnavailable, err)
	}
	return c, nil
}
