package cloak

import (
	"context"
	"net"
	"net/netip"

	"github.com/ghostwire/ghostwire/identity"
)

// Transport is one way of reaching peers and being reached: onion for Tor
// mode, lan for LAN mode. The node uses it only through a Guard.
// Implementations are safe for concurrent use.
//
// A new transport is a package that implements this interface and is
// passed to the node in cmd/ghostwire with its Mode; nothing in the node
// changes.
type Transport interface {
	// Mode is the mode this transport serves. The guard refuses a
	// transport whose mode is not the policy's, so it must be a constant
	// of the implementation, not a setting.
	Mode() Mode
	// Listen starts accepting peers for key's identity and returns the
	// listener; it may return before peers can reach it (see
	// Listener.WaitReachable).
	Listen(ctx context.Context, key *identity.PrivateKey) (Listener, error)
	// Dial connects to peer, named only by its identity: the transport
	// knows how to find it (its onion address, or where it was seen on the
	// link). It fails, never falls back, when the transport is not ready.
	Dial(ctx context.Context, peer identity.ID) (net.Conn, error)
	// Status reports the transport's state for `ghostwire status`.
	Status() Status
	// Close stops the transport and everything it started.
	Close() error
}

// Listener is a transport's listener: a net.Listener that can also say
// when peers can reach it.
type Listener interface {
	net.Listener
	// WaitReachable blocks until peers can reach the listener (for Tor,
	// the onion service's descriptor is uploaded), ctx ends, or the
	// transport closes; it returns nil only in the first case.
	WaitReachable(ctx context.Context) error
}

// Status is what `ghostwire status` shows of the transport. The guard sets
// Mode from its policy, so the transport cannot misreport it.
type Status struct {
	Mode      string `json:"mode"`      // "tor" or "lan"
	Phase     string `json:"phase"`     // bootstrap phase summary
	Progress  int    `json:"progress"`  // 0–100
	Ready     bool   `json:"ready"`     // can dial
	Reachable bool   `json:"reachable"` // our service is published
	Warning   string `json:"warning,omitempty"`
	// Bridges is how many bridges tor reaches the network through (0:
	// directly); OnlyPeers, that only the node's peers can reach its
	// onion service (v3 client authorisation).
	Bridges   int  `json:"bridges,omitempty"`
	OnlyPeers bool `json:"only_peers,omitempty"`
}

// PeerAware is implemented by a transport that lets only the node's peers
// reach it (onion's OnlyPeers). The node names its current peers when it
// starts and again after every add or remove.
type PeerAware interface {
	SetPeers(peers []identity.ID)
}

// Pairer is implemented by a transport on which two devices can pair and
// peers can be given addresses by hand (LAN mode). The node reaches it
// through Guard.Pairer, which checks every connection it makes.
type Pairer interface {
	// AdvertisePairing publishes a pairing attempt under its public
	// nameplate until stop is called (docs/protocol.md §12.5.1).
	AdvertisePairing(nameplate string) (stop func(), err error)
	// FindPairing finds the address of the attempt with nameplate.
	FindPairing(ctx context.Context, nameplate string) (netip.AddrPort, error)
	// DialAddr connects to an address with no identity known yet.
	DialAddr(ctx context.Context, addr netip.AddrPort) (net.Conn, error)
	// AddPeer records where peer can be dialed when it is not seen.
	AddPeer(peer identity.ID, addr netip.AddrPort) error
}
