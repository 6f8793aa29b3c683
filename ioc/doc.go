// Package ioc is GhostWire's indicator of compromise: a typed, normalised
// value with a TLP 2.0 marking, carried as the payload of a signed item
// (package item), and its exchange with the formats analysts use, STIX 2.1
// and MISP JSON. The payload bytes are specified in docs/protocol.md §5.8
// and the rules (normalisation, TLP, format mapping) in docs/ioc.md; this
// package implements them. CLEAR and GREEN records travel in the clear in
// items of [item.KindIOC] ([NewItem], [FromItem]); AMBER, AMBER+STRICT and RED ones
// are sealed to their recipients by package recipient and travel in items
// of [item.KindIOCSealed] ([SealAAD], [FromSealed]).
//
// The one thing a reader must know: an indicator has two identities. Its
// [ContentID] is the hash of its type and normalised value, so the same
// indicator dropped by two analysts, or imported from two files, has the same
// content ID; dedup, `ioc show <id>` and `ioc fetch <id>` use it. The item ID
// (item.ID) names one analyst's signed statement about it (author, time,
// TLP, confidence...) and is what sync and tombstones use. Because a
// content ID is the hash of a guessable value, it must never be sent to a
// peer that may not see the indicator: for AMBER and RED it would confirm a
// dictionary guess.
//
// # Normalisation
//
// [Normalize] maps every accepted spelling of a value to one canonical form
// and is idempotent; values that are malformed or ambiguous (octal or hex
// IPv4 parts, CIDRs with host bits, defanged URLs...) are refused with the
// reason, never guessed.
//
// # TLP
//
// [MayExchange] and [Classes] are the pure rules the sync engine calls: CLEAR
// to anyone, GREEN to trusted peers, AMBER, AMBER+STRICT and RED only
// between the author and each named recipient, never forwarded.
//
// # Import and export
//
// [Import] detects STIX 2.1 or MISP, streams the input object by object with
// a bounded size per object, and returns every record it could convert plus
// a [Result.Issues] list naming each object it skipped, imported in part, or
// could not import; [Result.Err] is non-nil when any object failed, so an
// import is never silently partial. [ExportSTIX] and [ExportMISP] write
// deterministic documents whose object UUIDs derive from content IDs, so
// import → export → import keeps content IDs and TLP.
package ioc
