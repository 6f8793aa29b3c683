// Package cloak is the one place that decides which transports a mode
// allows. It opens no sockets: the node asks a Policy before it dials,
// listens or advertises, and a refusal is final (there is no fallback from
// Tor to a direct connection).
//
// The zero Mode is invalid and allows nothing, so a node whose mode was
// never set fails closed.
package cloak

import (
	"errors"
	"fmt"
	"strings"
)

// Mode is how a node reaches its peers.
type Mode int

// The modes. ModeTor is the default a user gets.
const (
	// ModeTor: listen only on the onion service, dial only onion addresses
	// through tor's SOCKS port. No DNS, no mDNS, no direct sockets.
	ModeTor Mode = iota + 1
	// ModeLAN: no Tor; direct TCP to peers on the local link found by mDNS.
	// A placeholder until the LAN transport exists.
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

// Transport is one way of putting bytes on a network.
type Transport int

// The transports a node might use.
const (
	OnionDial   Transport = iota + 1 // connect to a .onion through tor's SOCKS port
	OnionListen                      // publish an onion service
	TCPDial                          // direct TCP connection to a peer
	TCPListen                        // accept direct TCP connections
	MDNS                             // multicast DNS advertise/browse on the local link
	DNS                              // resolve a name with the system resolver
)

var transportNames = map[Transport]string{
	OnionDial: "onion dial", OnionListen: "onion listen", TCPDial: "direct tcp dial",
	TCPListen: "direct tcp listen", MDNS: "mdns", DNS: "dns",
}

// String names the transport for logs and errors.
func (k Transport) String() string {
	if s, ok := transportNames[k]; ok {
		return s
	}
	return fmt.Sprintf("Transport(%d)", int(k))
}

// allowed lists what each mode permits; anything absent is refused. DNS is
// in no mode: peers are named by onion address or found by mDNS, never by a
// resolver that would tell the network whom we talk to.
var allowed = map[Mode]map[Transport]bool{
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

// Allow reports whether the policy permits transport k.
func (p Policy) Allow(k Transport) bool { return allowed[p.Mode][k] }

// Check returns nil if k is allowed and otherwise an error wrapping
// ErrForbidden that names the mode and transport.
func (p Policy) Check(k Transport) error {
	if p.Allow(k) {
		return nil
	}
	return fmt.Errorf("%w: %s in %s mode", ErrForbidden, k, p.Mode)
}

// AllowDial reports whether the policy permits dialing with transport k
// (OnionDial or TCPDial); listening transports are never dial transports.
func (p Policy) AllowDial(k Transport) bool {
	return (k == OnionDial || k == TCPDial) && p.Allow(k)
}

// AllowListen reports whether the policy permits accepting with k.
func (p Policy) AllowListen(k Transport) bool {
	return (k == OnionListen || k == TCPListen) && p.Allow(k)
}
