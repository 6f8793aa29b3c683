package node

import (
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
)

// scopesFor lists the scopes this node offers to peer, in a fixed order.
func (n *Node) scopesFor(peer identity.ID) []item.Scope {
	return append([]item.Scope{item.PairScope(n.id, peer)}, n.iocScopes(peer)...)
}

// scopeCheck returns the test an item sent by peer in scope s must pass to
// be stored there; the sync engine applies it to every received item, so a
// peer cannot put anything into a scope it does not belong to
// (docs/protocol.md §10.1). The per-scope work is done once: a received
// frame's items all share one scope.
func (n *Node) scopeCheck(peer identity.ID, s item.Scope) func(*item.Item) bool {
	if s != item.PairScope(n.id, peer) {
		return n.iocScopeCheck(peer, s)
	}
	return func(it *item.Item) bool { return n.pairBelongs(peer, it) }
}

// pairBelongs is belongs for the pair scope with peer.
func (n *Node) pairBelongs(peer identity.ID, it *item.Item) bool {
	switch it.Kind() {
	case item.KindRecipientKey:
		// Ours too: a node restored from its key file onto an empty
		// store gets its old certificate back from its peers.
		return (it.Author() == peer || it.Author() == n.id) && it.Space() == recipient.Space
	case item.KindMessage, item.KindReceipt, item.KindTombstone:
		return it.Space() == item.DirectSpace(n.id, peer) && (it.Author() == peer || it.Author() == n.id)
	}
	return false
}
