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
// # Pairing
//
// The PAKE is package pairing's; this package carries its advert
// (AdvertisePairing, FindPairing: a short-lived advert of
// PairingServiceType that names only the attempt's public nameplate,
// docs/protocol.md §12.5.1) and its connection (DialAddr, to an address
// rather than an identity; the one listener, whose connections the
// handshake sorts by purpose). The advert secret stays derived from the
// two identity keys (pairSecret) after pairing (§12.5.6). AddPeer is the
// manual fallback: where to dial a peer whose advert is not seen.
//
// # Policy
//
// Every address the transport listens on, dials or accepts from is
// checked with cloak's Policy.CheckOnLink: private or link-local, inside
// the chosen interface's networks. Its sockets are bound to the interface
// (SO_BINDTODEVICE on Linux), and mDNS runs on that interface only.
package lan
