// Package cloak decides how a node may reach the network, and enforces it.
// It owns three things: the Policy (which kinds of network use each Mode
// allows), the Transport interface every transport implements (onion for
// Tor, lan for the local link), and the Guard that sits between the
// node and its transport and refuses, fail closed, whatever the mode does
// not allow.
//
// The one thing a reader must know: the node never talks to a transport
// directly. NewGuard refuses a transport that is not of the policy's mode
// (a LAN transport cannot run in Tor mode, nor the reverse), and every
// Dial, Listen and accepted connection is checked against the mode's rules
// for where its far end may be. A refusal wraps ErrForbidden and is final:
// there is no fallback from Tor to a direct connection. The zero Mode is
// invalid and allows nothing, so a node whose mode was never set runs
// nothing at all.
//
// # What the guard can and cannot see
//
// The guard checks what the transport tells it and what it hands back: the
// peer asked for, the local address of a listener, the far end of every
// connection. In Tor mode each of those must be loopback (tor's SOCKS port,
// tor's connection into the onion service's local listener), because tor
// is the only way out. A connection that breaks the rule is closed before
// the node sends a byte on it. What a transport does inside itself (the
// SOCKS handshake, an mDNS packet) the guard cannot see; that is the
// transport's own duty, and the leak test in cmd/ghostwire proves it for
// the whole process from the outside.
//
// # Imports
//
// cloak imports identity and the standard library only. It never imports a
// transport (onion, lan) or the node, and it opens no socket of its own
// (rules_test.go at the repository root enforces both), so a transport can
// depend on cloak without cloak ever depending on how bytes move.
package cloak
