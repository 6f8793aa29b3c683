package node

import (
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
)

// scopesFor lists the scopes this node offers to peer, in a fixed order:
// each service's, in the order they are registered.
func (n *Node) scopesFor(peer identity.ID) []item.Scope {
	var out []item.Scope
	for _, svc := range n.services {
		out = append(out, svc.Scopes(peer)...)
	}
	return out
}

// scopeCheck returns the test an item sent by peer in scope s must pass to
// be stored there; the sync engine applies it to every received item, so a
// peer cannot put anything into a scope it does not belong to
// (docs/protocol.md §10.1). The service whose scope s is decides; the
// per-scope work is done once, since a received frame's items all share
// one scope.
func (n *Node) scopeCheck(peer identity.ID, s item.Scope) func(*item.Item) bool {
	for _, svc := range n.services {
		if fits := svc.Check(peer, s); fits != nil {
			return fits
		}
	}
	return func(*item.Item) bool { return false }
}
