package onion

import (
	"context"
	"net"
	"strings"
	"sync"

	"github.com/ghostwire/ghostwire/cloak"
	"github.com/ghostwire/ghostwire/identity"
)

// Transport is the Tor mode's cloak.Transport: the identity's onion
// service, and dials through tor's SOCKS port. If tor is down, Dial fails
// (ErrTorUnavailable) and the caller retries later; there is no other way
// out. It is safe for concurrent use.
type Transport struct {
	tor *Tor

	mu sync.Mutex
	ln *Listener // the latest listener, for Status
}

var (
	_ cloak.Transport    = (*Transport)(nil)
	_ cloak.LocalSockets = (*Transport)(nil)
	_ cloak.PeerAware    = (*Transport)(nil)
)

// NewTransport wraps a started Tor; the transport owns it and closes it.
func NewTransport(t *Tor) *Transport { return &Transport{tor: t} }

// Mode is cloak.ModeTor.
func (t *Transport) Mode() cloak.Mode { return cloak.ModeTor }

// Listen publishes key's onion service to a loopback listener; it is
// republished whenever tor restarts.
func (t *Transport) Listen(ctx context.Context, key *identity.PrivateKey) (cloak.Listener, error) {
	ln, err := t.tor.Listen(ctx, key)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.ln = ln
	t.mu.Unlock()
	return ln, nil
}

// SetPeers names the peers an OnlyPeers tor authorises (Tor.SetPeers).
func (t *Transport) SetPeers(peers []identity.ID) { t.tor.SetPeers(peers) }

// Dial connects to peer's onion service through tor.
func (t *Transport) Dial(ctx context.Context, peer identity.ID) (net.Conn, error) {
	return t.tor.Dial(ctx, peer)
}

// LocalSockets names the Unix sockets the transport uses, for the guard:
// the socket directory (the onion target, a managed tor's sockets) and an
// attached tor's SOCKS socket.
func (t *Transport) LocalSockets() []string {
	out := []string{t.tor.sockDir}
	if s, ok := strings.CutPrefix(t.tor.SocksAddr(), "unix:"); ok {
		out = append(out, s)
	}
	return out
}

// Status reports tor's bootstrap phase and whether our service is up.
func (t *Transport) Status() cloak.Status {
	p := t.tor.Progress()
	st := cloak.Status{Mode: cloak.ModeTor.String(), Phase: p.Summary, Progress: p.Percent, Ready: t.tor.Ready(), Warning: p.Warning,
		Bridges: t.tor.Bridges(), OnlyPeers: t.tor.OnlyPeers()}
	if !t.tor.Responding() {
		// A hung tor keeps its last bootstrap phase; saying "100%" and
		// "reachable" then would be a lie while nothing moves.
		st.Phase, st.Warning = NotResponding, "tor has not answered the control port for "+probeWait.String()+" (stopped or hung?)"
		st.Ready, st.Reachable = false, false
		return st
	}
	t.mu.Lock()
	if t.ln != nil {
		st.Reachable = st.Ready && t.ln.Reachable()
	}
	t.mu.Unlock()
	return st
}

// NotResponding is the phase Status reports while tor does not answer its
// liveness probe.
const NotResponding = "tor not responding"

// Close stops tor (or detaches from an attached one).
func (t *Transport) Close() error { return t.tor.Close() }
