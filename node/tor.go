package node

import (
	"context"
	"net"
	"sync"

	"github.com/ghostwire/ghostwire/cloak"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/onion"
)

// TorTransport is the node's transport in Tor mode: an onion service for
// its identity and dialing through tor's SOCKS port, each checked against
// the cloak policy. If tor is down, Dial fails (onion.ErrTorUnavailable)
// and the dialer retries later; there is no other way out.
type TorTransport struct {
	tor    *onion.Tor
	policy cloak.Policy

	mu sync.Mutex
	ln *onion.Listener
}

// NewTorTransport wraps a started onion.Tor; the transport owns it.
func NewTorTransport(t *onion.Tor) *TorTransport {
	return &TorTransport{tor: t, policy: cloak.Policy{Mode: cloak.ModeTor}}
}

// Listen publishes the identity's onion service to a loopback listener.
// The onion package re-publishes it whenever tor restarts.
func (t *TorTransport) Listen(ctx context.Context, key *identity.PrivateKey) (net.Listener, error) {
	if err := t.policy.Check(cloak.OnionListen); err != nil {
		return nil, err
	}
	ln, err := t.tor.Listen(ctx, key)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.ln = ln
	t.mu.Unlock()
	return ln, nil
}

// Dial connects to peer's onion address through tor.
func (t *TorTransport) Dial(ctx context.Context, peer identity.ID) (net.Conn, error) {
	if err := t.policy.Check(cloak.OnionDial); err != nil {
		return nil, err
	}
	return t.tor.Dial(ctx, peer)
}

// Status reports tor's bootstrap phase and whether our service is up.
func (t *TorTransport) Status() TransportStatus {
	p := t.tor.Progress()
	st := TransportStatus{Mode: "tor", Phase: p.Summary, Progress: p.Percent, Ready: t.tor.Ready(), Warning: p.Warning}
	t.mu.Lock()
	if t.ln != nil {
		st.Reachable = st.Ready && t.ln.Reachable()
	}
	t.mu.Unlock()
	return st
}

// Close stops tor (or detaches from an attached one).
func (t *TorTransport) Close() error { return t.tor.Close() }
