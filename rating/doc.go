// Package rating is what analysts say about sources: sightings (an
// analyst's verdict, seen or false positive, on one indicator statement)
// and ratings (an analyst's verdict, good or bad, on a source), two signed
// item kinds specified in docs/protocol.md §5.10, and the opinions they
// add up to, which package reputation turns into global trust
// (docs/reputation.md).
//
// The one thing a reader must know: sightings and ratings travel to every
// peer and are relayed, in one space, because EigenTrust needs the
// opinions of the people the user trusts and of the people they trust. A
// sighting therefore tells every peer that its author met the indicator,
// so only indicators in the clear (CLEAR and GREEN, which travel the same
// way) may be sighted; an amber or red one is refused.
//
// It is an item-kind service: the node calls it through Scopes, Check and
// Accepted and gives it what it needs through Host. It never imports node,
// net/http or a transport.
package rating
