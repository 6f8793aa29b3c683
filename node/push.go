package node

import (
	"errors"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recon"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/syncproto"
)

// pushToAll hands stored entries to every live session sharing a scope,
// and urges the dialer to reach the peers without a session that share one.
func (n *Node) pushToAll(entries []store.Entry) {
	n.notifyChanged()
	var idle []identity.ID
	for _, p := range n.peerIDs() {
		shared := map[item.Scope]bool{}
		for _, s := range n.scopesFor(p) {
			shared[s] = true
		}
		// One push per scope, however many items: an import of 100k
		// items must not start 100k goroutines.
		var order []item.Scope
		groups := map[item.Scope][]*item.Item{}
		for _, e := range entries {
			for _, s := range e.Scopes {
				if shared[s] {
					if groups[s] == nil {
						order = append(order, s)
					}
					groups[s] = append(groups[s], e.Item)
					break
				}
			}
		}
		if len(order) == 0 {
			continue
		}
		n.st.mu.Lock()
		ps := n.st.sessions[p]
		n.st.mu.Unlock()
		if ps == nil {
			idle = append(idle, p) // gets these when it next syncs: dial it now
			continue
		}
		for _, s := range order {
			n.pushItems(ps, s, groups[s])
		}
	}
	if len(idle) > 0 {
		n.urge(idle...)
	}
}

// pushItems queues stored items of one scope on a live session, which
// reads and sends them after its own traffic (syncproto.Session.Push): the
// caller never waits for the peer, and a large import queues 32 bytes per
// item, not the items.
func (n *Node) pushItems(ps *peerSession, s item.Scope, items []*item.Item) {
	ids := make([]recon.ID, len(items))
	for i, it := range items {
		ids[i] = recon.ID(it.ID())
	}
	switch err := ps.sess.Push(s, ids); {
	case errors.Is(err, syncproto.ErrNotShared):
		// The peer refused the scope this session; so would the next.
	case err != nil:
		n.log.Warn("live push failed; the next sync will carry it", "peer", ps.peer, "err", err)
		ps.cancel()
	}
}
