package cloak

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Mode is how a node reaches its peers.
type Mode int

// The modes. ModeTor is the default a user gets.
const (
	// ModeTor: listen only on the onion service, dial only onion addresses
	// through tor's SOCKS port. No DNS, no mDNS, no direct sockets.
	ModeTor Mode = iota + 1
	// ModeLAN: no Tor; direct TCP to peers on the chosen interface's
	// networks, found by mDNS on that interface (package lan; CheckOnLink).
	ModeLAN
)

// String returns the mode's name as ParseMode reads it.
func (m Mode) String() string {
	switch m {
	case ModeTor:
		return "tor"
	case ModeLAN:
		return "lan"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode reads "tor" or "lan" (any case).
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "tor":
		return ModeTor, nil
	case "lan":
		return ModeLAN, nil
	}
	return 0, fmt.Errorf("cloak: unknown mode %q (want tor or lan)", s)
}

// Kind is one way of putting bytes on a network: what a Policy allows or
// refuses.
type Kind int

// The kinds of network use a node might make.
const (
	OnionDial   Kind = iota + 1 // connect to a .onion through tor's SOCKS port
	OnionListen                 // publish an onion service
	TCPDial                     // direct TCP connection to a peer
	TCPListen                   // accept direct TCP connections
	MDNS                        // multicast DNS advertise/browse on the local link
	DNS                         // resolve a name with the system resolver
)

var kindNames = map[Kind]string{
	OnionDial: "onion dial", OnionListen: "onion listen", TCPDial: "direct tcp dial",
	TCPListen: "direct tcp listen", MDNS: "mdns", DNS: "dns",
}

// String names the kind for logs and errors.
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// allowed lists what each mode permits; anything absent is refused. DNS is
// in no mode: peers are named by onion address or found by mDNS, never by a
// resolver that would tell the network whom we talk to.
var allowed = map[Mode]map[Kind]bool{
	ModeTor: {OnionDial: true, OnionListen: true},
	ModeLAN: {TCPDial: true, TCPListen: true, MDNS: true},
}

// ErrForbidden is wrapped by every refusal, so callers can tell a policy
// decision from a network failure.
var ErrForbidden = errors.New("cloak: transport not allowed")

// Policy is the node's transport policy. The zero value allows nothing.
// It is a value: copy it freely; it is safe for concurrent use.
type Policy struct {
	Mode Mode
}

// Allow reports whether the policy permits k.
func (p Policy) Allow(k Kind) bool { return allowed[p.Mode][k] }

// Check returns nil if k is allowed and otherwise an error wrapping
// ErrForbidden that names the mode and transport.
func (p Policy) Check(k Kind) error {
	if p.Allow(k) {
		return nil
	}
	return fmt.Errorf("%w: %s in %s mode", ErrForbidden, k, p.Mode)
}

// AllowDial reports whether the policy permits dialing with k
// (OnionDial or TCPDial); listening transports are never dial transports.
func (p Policy) AllowDial(k Kind) bool {
	return (k == OnionDial || k == TCPDial) && p.Allow(k)
}

// AllowListen reports whether the policy permits accepting with k.
func (p Policy) AllowListen(k Kind) bool {
	return (k == OnionListen || k == TCPListen) && p.Allow(k)
}

// modeKinds is what a mode's transport does when the node dials or listens;
// the guard checks each against the allowed table, so removing a kind from
// a mode there refuses it here too.
var modeKinds = map[Mode]struct{ dial, listen Kind }{
	ModeTor: {OnionDial, OnionListen},
	ModeLAN: {TCPDial, TCPListen},
}

// CheckAddr returns nil if a socket of the policy's mode may have a at an
// end, and otherwise an error wrapping ErrForbidden. The rule is about
// where bytes can go:
//   - Tor mode: loopback only. Every socket is to tor's SOCKS port or from
//     tor into the onion service's listener; anything else left the machine
//     without tor.
//   - LAN mode: private (RFC 1918, fc00::/7) or link-local unicast, TCP:
//     the local link, never the internet, loopback, a multicast group or
//     the unspecified address (a listener on it would take connections
//     from every interface).
//
// An address it cannot read (another network, a name instead of an IP) is
// refused: the check fails closed.
func (p Policy) CheckAddr(a net.Addr) error {
	ip, err := tcpIP(a)
	if err != nil {
		return fmt.Errorf("%w in %s mode: %v", ErrForbidden, p.Mode, err)
	}
	ok := false
	switch p.Mode {
	case ModeTor:
		ok = ip.IsLoopback()
	case ModeLAN:
		ok = ip.IsPrivate() || ip.IsLinkLocalUnicast()
	}
	if !ok {
		return fmt.Errorf("%w: address %s in %s mode", ErrForbidden, a, p.Mode)
	}
	return nil
}

// tcpIP reads a's IP if a is a TCP address, whatever its concrete type.
func tcpIP(a net.Addr) (netip.Addr, error) {
	if a == nil {
		return netip.Addr{}, errors.New("no address")
	}
	switch a.Network() {
	case "tcp", "tcp4", "tcp6":
	default:
		return netip.Addr{}, fmt.Errorf("a %s socket (%s), not tcp", a.Network(), a)
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}, fmt.Errorf("unreadable address %q", a)
	}
	return ap.Addr().Unmap(), nil
}

// CheckOnLink is CheckAddr, and in LAN mode also requires a to be inside
// one of link, the networks of the interface the user chose: private and
// link-local addresses exist on every network a machine is attached to
// (a VPN, a container bridge), and LAN mode talks only on the one named.
// A link-local IPv6 address must carry the interface's zone, since the
// same address can mean a different host on each interface. An empty link
// refuses everything in LAN mode. In Tor mode link is ignored.
func (p Policy) CheckOnLink(a net.Addr, link []netip.Prefix, zone string) error {
	if err := p.CheckAddr(a); err != nil || p.Mode != ModeLAN {
		return err
	}
	ip, _ := tcpIP(a) // CheckAddr read it already
	if ip.Is6() && ip.IsLinkLocalUnicast() && ip.Zone() != zone {
		return fmt.Errorf("%w: address %s is link-local on another interface than %s", ErrForbidden, a, zone)
	}
	for _, pf := range link {
		if pf.Contains(ip.WithZone("")) {
			return nil
		}
	}
	return fmt.Errorf("%w: address %s is not on the LAN interface %s", ErrForbidden, a, zone)
}
