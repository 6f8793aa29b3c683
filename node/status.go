package node

import (
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/localapi/apitype"
)

// Status reports the node's state.
func (n *Node) Status() (*Status, error) {
	items, err := n.db.CountItems()
	if err != nil {
		return nil, err
	}
	st := &Status{Onion: n.id.String(), Transport: apitype.TransportStatus(n.cfg.Transport.Status()), Peers: len(n.contacts.IDs()), Items: items,
		Queued: n.dm.Queued(), Full: n.describeFull(), Store: apitype.StoreOK, Skipped: n.db.Skipped(),
		Listener: n.listenerStatus(), Contacts: n.contactsStatus()}
	for _, h := range n.quota.Hits() {
		st.Quota = append(st.Quota, apitype.QuotaHit{Who: h.Who.String(), ID: h.ID.String(), Verified: h.Verified,
			Items: h.Use.Items, Bytes: h.Use.Bytes, MaxItems: h.Limit.Items, MaxBytes: h.Limit.Bytes, Refused: h.Refused})
	}
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

// describeFull describes, for status, the scopes that refused items for
// their limit (scopeset.Admission).
func (n *Node) describeFull() []FullScope {
	full := map[item.Scope]bool{}
	for _, sc := range n.sets.Full() {
		full[sc] = true
	}
	var out []FullScope
	for _, name := range n.coll.Names() {
		sp := item.CollectionSpace(name)
		for _, class := range []string{item.ClassPublic, item.ClassTrusted} {
			if sc := item.ScopeOf(sp, class); full[sc] {
				out = append(out, FullScope{Collection: name, Class: class, Limit: n.cfg.ScopeLimit})
				delete(full, sc)
			}
		}
	}
	for range full {
		out = append(out, FullScope{Class: "pair or restricted", Limit: n.cfg.ScopeLimit})
	}
	return out
}

// Skipped is how many stored items listings have left out since the node
// started because the disk damaged them (store.DB.Skipped).
func (n *Node) Skipped() int64 { return n.db.Skipped() }
