package node

import (
	"crypto/sha256"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
)

// Labels, spelled as in docs/protocol.md §10.1.
const (
	directSpaceLabel = "ghostwire space: direct v1"
	scopeLabel       = "ghostwire scope v1"
	classPair        = "pair"
)

// directSpace is the space of the conversation between a and b: the same
// for both, and for no other pair.
func directSpace(a, b identity.ID) item.Space {
	if a.Compare(b) > 0 {
		a, b = b, a
	}
	h := sha256.New()
	h.Write([]byte(directSpaceLabel))
	h.Write(a.Bytes())
	h.Write(b.Bytes())
	return item.Space(h.Sum(nil))
}

// scopeOf names a space seen through a visibility class.
func scopeOf(sp item.Space, class string) item.Scope {
	h := sha256.New()
	h.Write([]byte(scopeLabel))
	h.Write(sp[:])
	h.Write([]byte(class))
	return item.Scope(h.Sum(nil))
}

// pairScope holds what only a and b see: their direct messages, receipts,
// the deletions of those, and their two recipient-key certificates.
func pairScope(a, b identity.ID) item.Scope { return scopeOf(directSpace(a, b), classPair) }

// scopesFor lists the scopes this node offers to peer, in a fixed order.
func (n *Node) scopesFor(peer identity.ID) []item.Scope {
	return append([]item.Scope{pairScope(n.id, peer)}, n.iocScopes(peer)...)
}

// scopeCheck returns the test an item sent by peer in scope s must pass to
// be stored there; the sync engine applies it to every received item, so a
// peer cannot put anything into a scope it does not belong to
// (docs/protocol.md §10.1). The per-scope work is done once: a received
// frame's items all share one scope.
func (n *Node) scopeCheck(peer identity.ID, s item.Scope) func(*item.Item) bool {
	if s != pairScope(n.id, peer) {
		return n.iocScopeCheck(peer, s)
	}
	return func(it *item.Item) bool { return n.pairBelongs(peer, it) }
}

// pairBelongs is belongs for the pair scope with peer.
func (n *Node) pairBelongs(peer identity.ID, it *item.Item) bool {
	switch it.Kind() {
	case item.KindRecipientKey:
		return it.Author() == peer && it.Space() == recipient.Space
	case item.KindMessage, item.KindReceipt, item.KindTombstone:
		return it.Space() == directSpace(n.id, peer) && (it.Author() == peer || it.Author() == n.id)
	}
	return false
}
