// Package item is the signed envelope shared by every kind of GhostWire data:
// messages, IOCs, ratings, key and revocation records. It is specified in
// docs/protocol.md §5.
//
// The one thing a reader must know: an [Item] value only comes from [New]
// (which signs) or [Decode] (which parses canonical bytes). Decode checks the
// encoding; [Item.Verify] checks the signature and the clock, and a store must
// call Verify before it keeps anything. An item's [ID] is the SHA-256 of its
// canonical bytes, so one logical item has exactly one ID and an item is never
// changed after it is made: updates are new items ordered by [Newer]
// (last writer wins per logical key), and deletions are signed tombstones
// ([NewTombstone], [Deletes]) that keep their target deleted for good.
//
// The author signs, or a subkey the author certified ([Certify],
// [NewSubkey]); either way the author is the identity, and [Item.Signer]
// names the key a revocation check must look at. The kinds of item are one
// table, [Kinds], kept equal to docs/protocol.md §5.6 by a test.
package item
