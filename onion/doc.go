// Package onion is GhostWire's only way onto the network in Tor mode: it
// starts (or attaches to) tor, publishes the node's onion service from its
// identity key, and dials other peers' onion addresses through tor's SOCKS
// port. Transport is its cloak.Transport, the one the node is given in Tor
// mode. The wire-level rules are in docs/protocol.md §7.
//
// It is one of the two packages that open network sockets (with lan), and
// the only one that imports bine and the SOCKS client. It imports cloak,
// whose interface it implements, and never the node or another transport
// (rules_test.go enforces both).
//
// The one thing to know: nothing here ever opens a socket to anything but
// tor's control and SOCKS ports — Unix sockets in a directory only the
// node's user may enter (a managed tor's always; an attached tor's when it
// has them), else loopback — and the onion service's target is a Unix
// socket there too, so no other local user can reach any of them
// (docs/tor.md). Control connections authenticate only through torctl,
// which refuses NULL authentication and a cookie it has not checked, so the
// identity key never reaches a port that has not proven it is the user's
// tor. Dial takes an identity.ID, so a
// hostname, an IP or an empty string cannot even be expressed; DialAddr
// parses text with identity.ParseID before any socket opens. When tor is
// down or not bootstrapped, Dial fails with an error wrapping
// ErrTorUnavailable; there is no fallback.
//
// # Lifecycle
//
// Start returns a *Tor at once; a supervisor goroutine owned by it starts
// the managed tor (or connects to the control port of an existing one),
// reports bootstrap progress, and when tor dies restarts or reconnects with
// backoff and publishes every service again. A probe on a control
// connection of its own asks tor for its version every 2 s: a tor that has
// not answered within 3 s (stopped, hung) is reported "tor not responding",
// not ready, until it answers again. Close stops it all.
//
// # Bridges and presence hiding
//
// With Config.Bridges a managed tor starts with DisableNetwork 1 and is let
// onto the network only after its bridges are set, so it never contacts a
// public directory (bridges.go). With Config.OnlyPeers the services are
// published with v3 client authorisation for the peers SetPeers names, each
// peer's key derived from its identity; a dial that tor refuses for want
// of client authorisation gives tor this node's key and is tried again
// (clientauth.go, docs/protocol.md §7.4).
//
// # Isolation
//
// Each Dialer has a random secret; the SOCKS username and password for a
// peer are an HMAC of the peer's ID under it, so tor (IsolateSOCKSAuth, on
// by default) never shares a circuit between two peers, or between two
// dialers, and the control port's circuit list does not show which peer a
// circuit serves.
package onion
