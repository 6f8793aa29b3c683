package item

import (
	"crypto/sha256"

	"github.com/ghostwire/ghostwire/identity"
)

// The wire-visible names of spaces and scopes (docs/protocol.md §10.1), in
// one place with their vectors (testdata/scopes_v1.json): every peer must
// derive the same bytes, so a change here is a change of protocol.
const (
	directSpaceLabel     = "ghostwire space: direct v1"
	collectionSpaceLabel = "ghostwire space: collection v1"
	scopeLabel           = "ghostwire scope v1"
	reputationSpaceLabel = "ghostwire space: reputation v1"
	keysSpaceLabel       = "ghostwire space: keys v1"

	// ClassPair is the class of what only two peers see (their direct
	// space).
	ClassPair = "pair"
	// ClassPublic and ClassTrusted are a collection's CLEAR and GREEN
	// indicators.
	ClassPublic  = "public"
	ClassTrusted = "trusted"
)

// DirectSpace is the space of the conversation between a and b: the same
// for both, and for no other pair.
func DirectSpace(a, b identity.ID) Space {
	if a.Compare(b) > 0 {
		a, b = b, a
	}
	h := sha256.New()
	h.Write([]byte(directSpaceLabel))
	h.Write(a.Bytes())
	h.Write(b.Bytes())
	return Space(h.Sum(nil))
}

// CollectionSpace is the space of the indicator collection with this name.
func CollectionSpace(name string) Space {
	h := sha256.New()
	h.Write([]byte(collectionSpaceLabel))
	h.Write([]byte(name))
	return Space(h.Sum(nil))
}

// ScopeOf names a space seen through a visibility class.
func ScopeOf(sp Space, class string) Scope {
	h := sha256.New()
	h.Write([]byte(scopeLabel))
	h.Write(sp[:])
	h.Write([]byte(class))
	return Scope(h.Sum(nil))
}

// DirectClass is the class of restricted indicators by author for
// recipient.
func DirectClass(author, recipient identity.ID) string {
	return "direct:" + author.Hex() + ":" + recipient.Hex()
}

// PairScope holds what only a and b see: their direct messages, receipts,
// the deletions of those, and their two recipient-key certificates.
func PairScope(a, b identity.ID) Scope { return ScopeOf(DirectSpace(a, b), ClassPair) }

// ReputationSpace is the one space of sightings and ratings
// (docs/protocol.md §5.10): what analysts say about sources is not about
// one collection, and a score needs every statement a node can get.
func ReputationSpace() Space { return Space(sha256.Sum256([]byte(reputationSpaceLabel))) }

// RestrictedScope holds the restricted indicators author addressed to
// recipient, in every collection at once (docs/protocol.md §10.1): it
// depends on the two identities alone, so both peers offer it whatever
// collections each holds, and a recipient gets what was addressed to it in
// a collection it has never heard of.
func RestrictedScope(author, recipient identity.ID) Scope {
	return ScopeOf(DirectSpace(author, recipient), DirectClass(author, recipient))
}

// KeysSpace is the one space of revocations (docs/protocol.md §5.12): a
// revocation concerns every item its author signed, in any space, so it
// must reach every peer that may hold one.
func KeysSpace() Space { return Space(sha256.Sum256([]byte(keysSpaceLabel))) }
