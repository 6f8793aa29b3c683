// Package reputation computes EigenTrust global trust (Kamvar, Schlosser
// and Garcia-Molina, "The EigenTrust Algorithm for Reputation Management in
// P2P Networks", WWW 2003) from what identities say about each other: each
// opinion is a count of good and bad experiences one identity had of
// another (for GhostWire, sightings of a source's indicators and explicit
// ratings, package rating). docs/reputation.md says which variant this is, why,
// and what it cannot resist.
//
// The one thing a reader must know: trust flows only from the pre-trusted
// set. An identity nobody trusted vouches for gets no more than what the
// damping factor hands every identity that the pre-trusted set reaches, so
// a thousand identities that rate each other gain nothing unless a trusted
// identity rates one of them well.
//
// It is pure computation: no I/O, no clock, no randomness, and no
// GhostWire package (rules_test.go), so the same opinions give the same
// scores, bit for bit, on every machine.
package reputation
