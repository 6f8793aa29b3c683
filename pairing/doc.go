// Package pairing is LAN mode's PIN pairing: two devices that have never
// met become each other's contacts because one person typed, on one of
// them, the code the other showed (docs/protocol.md §12.5, docs/lan.md).
//
// The one thing a reader must know: the 6 secret digits never leave the
// two devices in any form an eavesdropper or an impostor could test a
// guess against. They are the password of CPace (draft-irtf-cfrg-cpace), a
// balanced PAKE over ristretto255 with SHA-512, whose session identifier
// is the exporter of the handshake connection the pairing runs on
// (docs/protocol.md §4.5). So:
//   - each attempt lets whoever runs it test one guess, and the offering
//     side allows three attempts per code (Offer);
//   - a captured exchange cannot be checked against any code offline: the
//     two public shares are uniformly random group elements whatever the
//     code (TestNoOfflineGuess shows it for all 10^6 codes);
//   - a man in the middle holds two handshakes with two different
//     exporters, so the two devices compute two different keys and both
//     see the pairing fail, even if he knew the code.
//
// What is shown is a Code: a public nameplate (which attempt, as in
// magic-wormhole) and the secret digits. The nameplate goes into the
// pairing advert so the joiner can find the attempt; the digits go
// nowhere.
//
// The package opens no socket and knows no transport: it runs over any
// Channel (a syncproto.Conn of purpose pairing) and the node wires it to
// the LAN transport.
package pairing
