package cloak

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"

	"github.com/ghostwire/ghostwire/identity"
)

// Guard is the transport the node uses: it holds the real one and lets
// through only what its policy allows. It implements Transport itself, so
// the node needs nothing else. It is safe for concurrent use.
type Guard struct {
	p       Policy
	t       Transport
	refused func(error)
}

// NewGuard puts a guard with policy p in front of t. It fails, with an
// error wrapping ErrForbidden, if p's mode is not set or not known, or if t
// serves another mode: the node then runs nothing rather than reach the
// network some other way. refused, if not nil, is told about each incoming
// connection the guard drops (Accept never returns those); it must not
// block.
func NewGuard(p Policy, t Transport, refused func(error)) (*Guard, error) {
	kinds, ok := modeKinds[p.Mode]
	if !ok {
		return nil, fmt.Errorf("%w: no valid mode (%s); set tor or lan", ErrForbidden, p.Mode)
	}
	if t == nil {
		return nil, errors.New("cloak: bug: NewGuard given no transport")
	}
	if m := t.Mode(); m != p.Mode {
		return nil, fmt.Errorf("%w: a %s transport in %s mode (give the node the %s transport)", ErrForbidden, m, p.Mode, p.Mode)
	}
	// A mode whose own kinds the table refuses can do nothing: say so now
	// instead of on every dial.
	if err := errors.Join(p.Check(kinds.dial), p.Check(kinds.listen)); err != nil {
		return nil, err
	}
	return &Guard{p: p, t: t, refused: refused}, nil
}

// Mode is the policy's mode.
func (g *Guard) Mode() Mode { return g.p.Mode }

// LocalSockets is implemented by a transport whose sockets are Unix
// sockets (Tor mode's control, SOCKS and onion-target sockets): it names
// the socket files, or directories holding them, that it uses. A Unix
// socket cannot leave the machine any more than a loopback one can, but
// the guard lets through only these, so a transport that reached some
// other local socket (another proxy's) is still refused.
type LocalSockets interface {
	LocalSockets() []string
}

// checkAddr is the policy's CheckAddr, except that in Tor mode a Unix
// socket the transport names (LocalSockets) is allowed; accepted is set for
// the far end of an accepted connection, whose Unix address is unnamed
// (tor's end), and is allowed only on a listener already checked.
func (g *Guard) checkAddr(a net.Addr, accepted bool) error {
	if u, ok := a.(*net.UnixAddr); ok && g.p.Mode == ModeTor {
		if accepted {
			return nil
		}
		if ls, ok := g.t.(LocalSockets); ok && u.Name != "" {
			for _, p := range ls.LocalSockets() {
				if u.Name == p || filepath.Dir(u.Name) == p {
					return nil
				}
			}
		}
	}
	return g.p.CheckAddr(a)
}

// Dial asks the transport to dial peer, then checks the connection's far
// end against the mode (CheckAddr): one that breaks it is closed before
// anything is sent on it and the error wraps ErrForbidden. The zero ID is
// refused without calling the transport; it names no peer, and in Tor mode
// no onion.
func (g *Guard) Dial(ctx context.Context, peer identity.ID) (net.Conn, error) {
	if peer.IsZero() {
		return nil, fmt.Errorf("%w: dial without a peer identity in %s mode", ErrForbidden, g.p.Mode)
	}
	if err := g.p.Check(modeKinds[g.p.Mode].dial); err != nil {
		return nil, err
	}
	c, err := g.t.Dial(ctx, peer)
	if err != nil {
		return nil, err
	}
	if err := g.checkAddr(c.RemoteAddr(), false); err != nil {
		c.Close()
		return nil, fmt.Errorf("cloak: the %s transport's connection to %s: %w", g.p.Mode, peer.Short(), err)
	}
	return c, nil
}

// Listen asks the transport to listen, then checks the listener's own
// address against the mode; a listener that breaks it is closed and the
// error wraps ErrForbidden. The listener returned drops every accepted
// connection whose far end breaks the mode, and reports it to refused.
func (g *Guard) Listen(ctx context.Context, key *identity.PrivateKey) (Listener, error) {
	if err := g.p.Check(modeKinds[g.p.Mode].listen); err != nil {
		return nil, err
	}
	ln, err := g.t.Listen(ctx, key)
	if err != nil {
		return nil, err
	}
	if err := g.checkAddr(ln.Addr(), false); err != nil {
		ln.Close()
		return nil, fmt.Errorf("cloak: the %s transport's listener: %w", g.p.Mode, err)
	}
	return &guardedListener{Listener: ln, g: g}, nil
}

// Status is the transport's status with Mode set from the policy.
func (g *Guard) Status() Status {
	st := g.t.Status()
	st.Mode = g.p.Mode.String()
	return st
}

// SetPeers passes the node's peers to a PeerAware transport.
func (g *Guard) SetPeers(peers []identity.ID) {
	if pa, ok := g.t.(PeerAware); ok {
		pa.SetPeers(peers)
	}
}

// Close closes the transport.
func (g *Guard) Close() error { return g.t.Close() }

// Pairer returns the transport's pairing side, guarded, and false if the
// transport has none (Tor mode: no pairing, no addresses by hand).
func (g *Guard) Pairer() (Pairer, bool) {
	p, ok := g.t.(Pairer)
	if !ok {
		return nil, false
	}
	return guardedPairer{Pairer: p, g: g}, true
}

// guardedPairer checks the far end of every connection DialAddr makes, as
// Dial does.
type guardedPairer struct {
	Pairer
	g *Guard
}

// DialAddr dials addr through the transport and closes a connection whose
// far end the mode does not allow.
func (p guardedPairer) DialAddr(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	if err := p.g.p.Check(modeKinds[p.g.p.Mode].dial); err != nil {
		return nil, err
	}
	c, err := p.Pairer.DialAddr(ctx, addr)
	if err != nil {
		return nil, err
	}
	if err := p.g.checkAddr(c.RemoteAddr(), false); err != nil {
		c.Close()
		return nil, fmt.Errorf("cloak: the %s transport's connection to %s: %w", p.g.p.Mode, addr, err)
	}
	return c, nil
}

// guardedListener is a transport's listener whose Accept skips connections
// the mode does not allow.
type guardedListener struct {
	Listener
	g *Guard
}

// Accept returns the next allowed connection. A refused one is closed and
// reported, and Accept waits for the next: returning an error would make
// the node drop the listener, and let whoever connects stop it.
func (l *guardedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		err = l.g.checkAddr(c.RemoteAddr(), isUnix(l.Addr()))
		if err == nil {
			return c, nil
		}
		c.Close()
		if l.g.refused != nil {
			l.g.refused(fmt.Errorf("cloak: refused an incoming connection: %w", err))
		}
	}
}

func isUnix(a net.Addr) bool {
	_, ok := a.(*net.UnixAddr)
	return ok
}
