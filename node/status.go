package node

import "github.com/ghostwire/ghostwire/localapi/apitype"

// Status reports the node's state.
func (n *Node) Status() (*Status, error) {
	items, err := n.db.CountItems()
	if err != nil {
		return nil, err
	}
	st := &Status{Onion: n.id.String(), Transport: apitype.TransportStatus(n.cfg.Transport.Status()), Peers: len(n.peerIDs()), Items: items,
		Queued: n.dm.Queued(), Full: n.describeFull(), Store: apitype.StoreOK, Skipped: n.db.Skipped()}
	if n.db.Full() {
		st.Store = apitype.StoreDiskFull
	}
	n.st.mu.Lock()
	live := make([]*peerSession, 0, len(n.st.sessions))
	for _, ps := range n.st.sessions {
		live = append(live, ps)
	}
	if !n.st.lastSync.IsZero() {
		t := n.st.lastSync.UTC()
		st.LastSync = &t
	}
	n.st.mu.Unlock()
	for _, ps := range live {
		if ps.established() { // not a dial the peer is about to refuse
			st.Connected++
		}
	}
	return st, nil
}
