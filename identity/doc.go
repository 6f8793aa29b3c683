// Package identity holds a GhostWire peer's long-term Ed25519 identity: the
// private key, the public [ID] whose canonical text form is the peer's Tor v3
// onion address, the safety number two people compare out of band, and the
// encrypted key file that keeps the key on disk.
//
// The one thing a reader must know: an ID is a public key that has passed
// [ParseID] or [NewID], which admit only canonical encodings of points of the
// prime-order subgroup (docs/protocol.md §1.3), refusing the small-order,
// mixed-order and non-canonical keys that ed25519.Verify would otherwise
// accept signatures under; and every signature is checked by [ID.Verify],
// which adds §1.3's rule on R. Never build an ID by converting raw bytes.
//
// This package imports nothing else of GhostWire; everything else imports it.
// The key file format is specified in docs/keyfile.md.
package identity
