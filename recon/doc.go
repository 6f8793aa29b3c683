// Package recon reconciles two sets of 32-byte IDs: after it runs, each side
// knows which IDs it holds that the other lacks and which it lacks. It is pure
// computation with no I/O; the sync engine carries its messages inside the
// encrypted channel. The protocol is specified in docs/protocol.md §6.
//
// The one thing a reader must know: one side is the [Initiator], the other
// the [Responder]; each is a state machine driven with Next, which takes all
// messages of the peer's last round (a round may be several messages, each
// within the frame limit; a message whose More is false ends its round) and
// returns this side's next round. Identical sets finish in one round trip,
// small differences in two: the responder answers a digest mismatch with a
// 512-byte difference estimate, the initiator sends about two rateless IBLT
// coded symbols per estimated difference, and the responder peels them
// against its own. When a difference is large, a manifest is cheaper and is
// sent instead, so the bytes never exceed a full manifest exchange.
//
// Every result is checked: the responder accepts a decoded difference only if
// it reproduces the initiator's SHA-256 set digest, and every count a peer
// sends is bounded by the set sizes before anything is allocated.
package recon
