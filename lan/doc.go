// Package lan is LAN mode's transport: direct TCP on one network
// interface, and peers found by mDNS/DNS-SD adverts on that interface
// that only peers who already know the node can recognise. It implements
// cloak.Transport; the node uses it only through cloak's guard, and
// syncproto runs over its connections exactly as over onion streams.
//
// The one thing a reader must know: an advert names nobody. Its instance
// name and host label are random and its TXT record holds only tokens,
// HMACs of a per-pair secret and the hour, padded with random ones; all of
// it changes every hour (docs/protocol.md §12, docs/lan.md). A stranger
// on the link learns that a GhostWire node is at an address, and about
// how many peers it has; a peer learns which of its peers it is, and
// where. Who is really there is proved by the handshake, never by the
// advert.
//
// # Use
//
//	t, err := lan.New(lan.Config{Interface: "eth0", Peers: contacts})
//	ln, err := t.Listen(ctx, key)   // starts advertising and browsing
//	c, err := t.Dial(ctx, peer)     // at the address its advert gave
//
// # The seam for pairing
//
// Pairing is not here. What it needs is: Publish and Browse, for a
// short-lived advert of PairingServiceType that names only the pairing
// attempt; DialAddr, for a connection to an address rather than an
// identity; and the one listener, whose connections the handshake sorts
// by purpose (syncproto.PurposePairing). The per-pair secret the adverts
// use is derived from the two identity keys today (pairSecret); pairing
// will replace it with a secret agreed while pairing.
//
// # Policy
//
// Every address the transport listens on, dials or accepts from is
// checked with cloak's Policy.CheckOnLink: private or link-local, inside
// the chosen interface's networks. Its sockets are bound to the interface
// (SO_BINDTODEVICE on Linux), and mDNS runs on that interface only.
package lan
