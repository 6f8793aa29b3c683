package node

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/quota"
	"github.com/ghostwire/ghostwire/recon"
	"github.com/ghostwire/ghostwire/scopeset"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/syncproto"
)

// syncStore is the node as a sync session sees it (syncproto.SyncStore).
type syncStore struct{ n *Node }

var _ syncproto.SyncStore = syncStore{}

func (s syncStore) Scopes(peer identity.ID) []item.Scope {
	if !s.n.isPeer(peer) {
		return nil
	}
	return s.n.scopesFor(peer)
}

// Set returns the scope's IDs from the sets (scopeset), which read the
// store only the first time. Expired IOCs are left out: they are
// not offered (docs/ioc.md §8).
func (s syncStore) Set(sc item.Scope) (recon.Set, error) {
	n := s.n
	set, err := n.sets.Get(sc)
	if err != nil {
		return nil, err
	}
	if set.Len() > syncproto.MaxScopeItems {
		n.log.Warn("a scope is too large to sync; it is left out of every session until it holds fewer items",
			"scope", fmt.Sprintf("%x", sc[:8]), "items", set.Len(), "max", syncproto.MaxScopeItems)
	}
	// Keep the pair scope's snapshot for Synced (see there).
	for _, p := range n.peerIDs() {
		if item.PairScope(n.id, p) == sc {
			snap := make([]item.ID, 0, set.Len())
			for id := range set.All() {
				snap = append(snap, item.ID(id))
			}
			n.st.mu.Lock()
			n.st.pairSnap[p] = snap
			n.st.mu.Unlock()
			break
		}
	}
	return set, nil
}

// Item serves an item only in a scope it is stored in (store.ScopeItem):
// whatever a set handed out held, nothing goes into a scope it does not
// belong to (docs/protocol.md §10.1).
func (s syncStore) Item(sc item.Scope, id recon.ID) []byte {
	raw, err := s.n.db.ScopeItem(sc, item.ID(id))
	if err != nil {
		return nil
	}
	return raw
}

// Accept checks every item of a frame: it must decode canonically, verify
// under its author, not be from the future, and belong to the scope it came
// in (§10.1). Items that pass are stored; each that fails is refused alone
// and reported to the peer (§10.3): one bad item, which an honest peer may
// have relayed from a hostile one, costs that item and not the session.
// One from up to a few minutes past our clock's limit is kept back and
// stored when the clock allows (future.go). Bytes that do not decode as an
// item at all are no relay's mistake: they end the session.
func (s syncStore) Accept(peer identity.ID, sc item.Scope, raw [][]byte) ([]recon.ID, error) {
	n := s.n
	now := n.cfg.Now()
	n.future.retry(n, now)
	held, err := n.sets.Get(sc)
	if err != nil {
		return nil, err
	}
	adm, qb := n.sets.Admission(), n.quota.Batch()
	raw, refused := n.preRefuse(qb, held, peer, raw)
	checked, err := item.DecodeVerify(raw, now)
	if err != nil {
		return nil, fmt.Errorf("%w: from %s: %v", syncproto.ErrSession, peer.Short(), err)
	}
	fits := n.scopeCheck(peer, sc)
	entries := make([]store.Entry, 0, len(raw))
	var items []*item.Item
	for _, c := range checked {
		switch {
		case c.Err == nil && !fits(c.Item):
			c.Err = errMisplaced
		case c.Err == nil:
			c.Err = n.admitItem(adm, qb, held, peer, sc, c.Item)
		case errors.Is(c.Err, item.ErrFuture) && fits(c.Item):
			if n.future.hold(peer, c.Item, sc, now) {
				c.Err = fmt.Errorf("%w; it waits until our clock allows it", c.Err)
			}
		}
		if c.Err != nil {
			refused = append(refused, recon.ID(c.Item.ID()))
			// A quota refusal is logged once per author or peer (the
			// ledger does it): a flood must not become a flood of logs.
			if !errors.Is(c.Err, quota.ErrOver) {
				n.log.Warn("item refused", "peer", peer, "item", c.Item.ID().String()[:16], "kind", c.Item.Kind(), "author", c.Item.Author().Short(), "reason", c.Err)
			}
			continue
		}
		items = append(items, c.Item)
		entries = append(entries, store.Entry{Item: c.Item, Scopes: []item.Scope{sc}})
	}
	if err := n.storeReceived(peer, entries, items); err != nil {
		qb.Cancel()
		return nil, err
	}
	if err := qb.Commit(); err != nil {
		n.log.Warn("recording quota counts failed; these items are not counted", "peer", peer, "err", err)
	}
	return refused, nil
}

// preRefuse takes out of a frame the new items whose author or peer is at
// its quota already, before their signatures are checked: verifying is
// most of the cost of receiving, and an item past a quota is refused
// whether or not it is genuine. A flood past its quota then costs us a
// decode per item, not a verification. Items that do not decode, and items
// we hold, are left for the full check (which ends the session for the
// former, as always).
func (n *Node) preRefuse(qb *quota.Batch, held recon.Set, peer identity.ID, raw [][]byte) (keep [][]byte, refused []recon.ID) {
	if !n.quota.Reached(peer) {
		return raw, nil
	}
	keep = make([][]byte, 0, len(raw))
	for _, r := range raw {
		it, err := item.Decode(r)
		if err == nil && !held.Contains(recon.ID(it.ID())) && errors.Is(qb.Over(n.id, it.Author(), peer, it.Size()), quota.ErrOver) {
			refused = append(refused, recon.ID(it.ID()))
			continue
		}
		keep = append(keep, r)
	}
	return keep, refused
}

// admitItem checks an item against its author's revocations (§5.12), its
// author's and peer's quotas (if it is new here: one we hold already costs
// nothing more) and the scope's limit.
func (n *Node) admitItem(adm *scopeset.Admission, qb *quota.Batch, held recon.Set, peer identity.ID, sc item.Scope, it *item.Item) error {
	if err := n.keys.Admit(it); err != nil {
		return err
	}
	fresh := !held.Contains(recon.ID(it.ID()))
	if fresh {
		if err := qb.Admit(n.id, it.Author(), peer, it.Size()); err != nil {
			return err
		}
	}
	if err := adm.Admit(it, []item.Scope{sc}); err != nil {
		if fresh {
			qb.Undo(n.id, it.Author(), peer, it.Size())
		}
		return err
	}
	return nil
}

// errMisplaced: an item sent in a scope it does not belong to.
var errMisplaced = errors.New("it does not belong in the scope it was sent in")

// storeReceived stores items a peer sent (or that waited for our clock),
// and takes note of a peer's recipient-key certificate among them.
func (n *Node) storeReceived(peer identity.ID, entries []store.Entry, items []*item.Item) error {
	if len(entries) == 0 {
		return nil
	}
	added, err := n.putItems(entries, n.coll.Expiries(items), n.db.PutItems)
	if err != nil {
		return err
	}
	for _, it := range items {
		if it.Kind() == item.KindRecipientKey && it.Author() == peer {
			if err := n.rememberPeerKey(peer, it); err != nil {
				n.log.Warn("peer's recipient key unusable", "peer", peer, "err", err)
			}
		}
	}
	for _, svc := range n.services {
		if err := svc.Accepted(peer, items); err != nil {
			return err
		}
	}
	if added > 0 {
		n.log.Info("items received", "peer", peer, "new", added)
		n.notifyChanged()
	}
	return nil
}

func (s syncStore) Acked(peer identity.ID, stored, refused []recon.ID) {
	n := s.n
	list := make([]item.ID, len(stored))
	for i, id := range stored {
		list[i] = item.ID(id)
	}
	if err := n.dm.MarkDelivered(list); err != nil {
		n.log.Warn("recording delivery failed", "err", err)
	}
	if len(refused) == 0 {
		return
	}
	n.log.Warn("the peer refused items; it keeps them out, and so will the next sync", "peer", peer, "count", len(refused))
	n.st.mu.Lock()
	if n.st.pairRefused[peer] == nil {
		n.st.pairRefused[peer] = map[item.ID]bool{}
	}
	for _, id := range refused {
		n.st.pairRefused[peer][item.ID(id)] = true
	}
	n.st.mu.Unlock()
}

func (s syncStore) Synced(peer identity.ID) {
	n := s.n
	now := n.cfg.Now()
	n.st.mu.Lock()
	n.st.lastSync = now
	n.st.peerSync[peer] = now.UTC().Truncate(time.Second)
	if ps := n.st.sessions[peer]; ps != nil { // the session calling us
		n.st.synced[peer] = ps.seq
	}
	snap := slices.DeleteFunc(n.st.pairSnap[peer], func(id item.ID) bool { return n.st.pairRefused[peer][id] })
	delete(n.st.pairSnap, peer)
	delete(n.st.pairRefused, peer)
	delete(n.st.silent, peer) // it admits us: nothing waits for its acceptance
	n.st.mu.Unlock()
	// A completed sync means the peer holds every item of our pair scope's
	// snapshot but those it refused. Mark them delivered: an item the peer stored but whose ack
	// was lost (it stopped between storing and acknowledging) is never sent
	// or acknowledged again, and would otherwise show "queued" for ever.
	if err := n.dm.MarkDelivered(snap); err != nil {
		n.log.Warn("recording delivery failed", "err", err)
	}
	n.log.Info("synced", "peer", peer)
	n.releaseMemory()
	n.notifyChanged()
}

// rememberPeerKey records a peer's certified recipient key.
func (n *Node) rememberPeerKey(peer identity.ID, cert *item.Item) error {
	return n.contacts.RememberKey(peer, cert)
}
