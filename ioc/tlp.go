package ioc

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ghostwire/ghostwire/identity"
)

// TLP is a Traffic Light Protocol 2.0 marking (FIRST, TLP 2.0, 2022). The
// numbers are wire codes (docs/protocol.md §5.8) and grow with strictness, so the
// larger of two markings is the stricter; zero is invalid.
type TLP uint8

// The TLP 2.0 markings, least strict first.
const (
	TLPClear TLP = iota + 1
	TLPGreen
	TLPAmber
	TLPAmberStrict
	TLPRed
	tlpEnd
)

var tlpNames = [...]string{"", "clear", "green", "amber", "amber+strict", "red"}

// Valid reports whether m is one of the five TLP 2.0 markings.
func (m TLP) Valid() bool { return m > 0 && m < tlpEnd }

// Restricted reports whether m limits an item to named recipients (AMBER,
// AMBER+STRICT, RED): such items are sealed to their recipients and never
// forwarded (docs/ioc.md §4).
func (m TLP) Restricted() bool { return m >= TLPAmber && m < tlpEnd }

// String returns "TLP:CLEAR", "TLP:AMBER+STRICT"...
func (m TLP) String() string {
	if !m.Valid() {
		return fmt.Sprintf("TLP(%d)", uint8(m))
	}
	return "TLP:" + strings.ToUpper(tlpNames[m])
}

// Name returns the lower-case name the CLI and MISP use ("amber+strict").
func (m TLP) Name() string {
	if !m.Valid() {
		return ""
	}
	return tlpNames[m]
}

// ParseTLP reads a marking as analysts write it: "clear", "TLP:AMBER",
// "tlp:amber+strict", ignoring case and surrounding space. TLP 1.0 "white"
// is read as CLEAR, its TLP 2.0 successor. Anything else is an error: an
// unknown marking is never mapped to a weaker one (docs/ioc.md §4.3).
func ParseTLP(s string) (TLP, error) {
	n := strings.ToLower(strings.TrimSpace(s))
	n = strings.TrimPrefix(n, "tlp:")
	n = strings.TrimSpace(n)
	if n == "white" {
		return TLPClear, nil
	}
	for m := TLPClear; m < tlpEnd; m++ {
		if tlpNames[m] == n {
			return m, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown TLP marking %q", ErrInvalid, s)
}

// Audience is what the TLP rules need to know about a record: its
// marking, its author and its recipients. Recipients are ignored unless
// TLP is restricted.
type Audience struct {
	TLP        TLP
	Author     identity.ID
	Recipients []identity.ID
}

// MayExchange reports whether holder may send an item with audience a to
// peer, and equally whether peer may accept it from holder (docs/ioc.md
// §4.1). trusted says whether the two are paired; pairing is mutual, so the
// sender passes its trust in the receiver and the receiver its trust in
// the sender.
//
//   - CLEAR: any peer.
//   - GREEN: peers holder trusts. A GREEN item travels on from peer to
//     trusted peer: TLP 2.0 GREEN is for a community.
//   - AMBER, AMBER+STRICT, RED: only between the author and a named
//     recipient, in either direction. A recipient never sends it to anyone
//     else, including another recipient: TLP forbids forwarding, and the
//     author is the only party who chose the audience.
//
// An invalid marking yields false. MayExchange is pure and safe for
// concurrent use.
func MayExchange(a Audience, holder, peer identity.ID, trusted bool) bool {
	if holder == peer {
		return false
	}
	switch {
	case a.TLP == TLPClear:
		return true
	case a.TLP == TLPGreen:
		return trusted
	case a.TLP.Restricted():
		switch {
		case holder == a.Author:
			return slices.Contains(a.Recipients, peer)
		case peer == a.Author:
			return slices.Contains(a.Recipients, holder)
		}
	}
	return false
}

// ClassLevel is the coarse part of a visibility class.
type ClassLevel uint8

// The visibility levels.
const (
	// ClassPublic holds CLEAR items: reconciled with every peer.
	ClassPublic ClassLevel = iota + 1
	// ClassTrusted holds GREEN items: reconciled with trusted peers.
	ClassTrusted
	// ClassDirect holds restricted items for one (author, recipient) pair:
	// reconciled only between those two peers.
	ClassDirect
)

// Class is a visibility class: a set of items two peers either both may
// see in full or must not mention at all. The sync engine reconciles each
// class separately (docs/ioc.md §4.2), so an item a peer may not see never
// changes a byte sent to that peer. Classes are comparable and usable as
// map keys.
type Class struct {
	Level ClassLevel
	// Author and Recipient are set only for ClassDirect.
	Author, Recipient identity.ID
}

// String returns "public", "trusted" or "direct(<author>→<recipient>)" with
// short peer forms, for logs.
func (c Class) String() string {
	switch c.Level {
	case ClassPublic:
		return "public"
	case ClassTrusted:
		return "trusted"
	case ClassDirect:
		return "direct(" + c.Author.Short() + "→" + c.Recipient.Short() + ")"
	}
	return fmt.Sprintf("class(%d)", c.Level)
}

// Classes returns every visibility class an item with audience a belongs
// to: one for CLEAR and GREEN, one per recipient for restricted markings,
// none for an invalid marking.
func Classes(a Audience) []Class {
	switch {
	case a.TLP == TLPClear:
		return []Class{{Level: ClassPublic}}
	case a.TLP == TLPGreen:
		return []Class{{Level: ClassTrusted}}
	case a.TLP.Restricted():
		cs := make([]Class, 0, len(a.Recipients))
		for _, r := range a.Recipients {
			if r != a.Author {
				cs = append(cs, Class{Level: ClassDirect, Author: a.Author, Recipient: r})
			}
		}
		return cs
	}
	return nil
}

// PeerClasses returns the classes holder reconciles with peer: public
// always, trusted if holder trusts peer, and the two direct classes between
// them (what holder wrote for peer and what peer wrote for holder). An item
// may be exchanged between them exactly when one of its Classes is in this
// list; the test TestClassesAgreeWithMayExchange checks that.
func PeerClasses(holder, peer identity.ID, trusted bool) []Class {
	if holder == peer {
		return nil
	}
	cs := []Class{{Level: ClassPublic}}
	if trusted {
		cs = append(cs, Class{Level: ClassTrusted})
	}
	return append(cs,
		Class{Level: ClassDirect, Author: holder, Recipient: peer},
		Class{Level: ClassDirect, Author: peer, Recipient: holder})
}
