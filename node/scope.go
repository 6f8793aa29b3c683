package node

import (
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
)

// service is an item kind's part of the node (dm; collection, room and
// trust to come): which scopes it shares with a peer, what may be stored in
// them, and what it does once items from a peer are stored. The node
// decides nothing about a kind itself; a new kind is one more service in
// Node.services.
type service interface {
	// Scopes lists the scopes shared with peer, in a fixed order.
	Scopes(peer identity.ID) []item.Scope
	// Check returns the test an item peer sent in s must pass to be
	// stored there, or nil if s is not the service's.
	Check(peer identity.ID, s item.Scope) func(*item.Item) bool
	// Accepted is told of items from peer once they are durable.
	Accepted(peer identity.ID, items []*item.Item) error
}

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
