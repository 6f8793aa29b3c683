package node

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/recon"
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

// Set returns the scope's IDs from the node's cache (scopesets.go), which
// reads the store only the first time. Expired IOCs are left out: they are
// not offered (docs/ioc.md §8).
func (s syncStore) Set(sc item.Scope) (recon.Set, error) {
	n := s.n
	now := n.cfg.Now()
	set, err := n.sets.get(sc, now, func() ([]recon.ID, []iocExpiry, error) {
		expired, ahead, err := n.iocExpiries(now)
		if err != nil {
			return nil, nil, err
		}
		var ids []recon.ID
		err = n.db.ScopeIDs(sc, func(id item.ID) error {
			if !expired[id] {
				ids = append(ids, recon.ID(id))
			}
			return nil
		})
		return ids, ahead, err
	})
	if err != nil {
		return nil, err
	}
	if set.Len() > syncproto.MaxScopeItems {
		n.log.Warn("a scope is too large to sync; it is left out of every session until it holds fewer items",
			"scope", fmt.Sprintf("%x", sc[:8]), "items", set.Len(), "max", syncproto.MaxScopeItems)
	}
	// Keep the pair scope's snapshot for Synced (see there).
	for _, p := range n.peerIDs() {
		if pairScope(n.id, p) == sc {
			snap := make([]item.ID, 0, set.Len())
			for id := range set.All() {
				snap = append(snap, item.ID(id))
			}
			n.mu.Lock()
			n.pairSnap[p] = snap
			n.mu.Unlock()
			break
		}
	}
	return set, nil
}

func (s syncStore) Item(id recon.ID) []byte {
	it, _, err := s.n.db.GetItem(item.ID(id))
	if err != nil {
		return nil
	}
	return it.Bytes()
}

// Accept checks every item of a frame before storing any: it must decode
// canonically, verify under its author, not be from the future, and belong
// to the scope it came in (§10.1). Detailed reasons go to our log; the peer
// is told nothing but a close.
func (s syncStore) Accept(peer identity.ID, sc item.Scope, raw [][]byte) error {
	n := s.n
	items, err := decodeVerify(raw, n.cfg.Now())
	if err != nil {
		return fmt.Errorf("item from %s: %w", peer.Short(), err)
	}
	fits := n.scopeCheck(peer, sc)
	entries := make([]store.Entry, 0, len(raw))
	for _, it := range items {
		if !fits(it) {
			return fmt.Errorf("item from %s: kind %d by %s does not belong in the scope it was sent in", peer.Short(), it.Kind(), it.Author().Short())
		}
		entries = append(entries, store.Entry{Item: it, Scopes: []item.Scope{sc}})
	}
	added, err := n.putItems(entries, n.expiryOf(items))
	if err != nil {
		return err
	}
	gotKey := false
	for _, e := range entries {
		if e.Item.Kind() == item.KindRecipientKey && e.Item.Author() == peer {
			if err := n.rememberPeerKey(peer, e.Item); err != nil {
				n.log.Warn("peer's recipient key unusable", "peer", peer, "err", err)
			} else {
				gotKey = true
			}
		}
	}
	if gotKey {
		n.flushOutbox(peer)
	}
	if added > 0 {
		n.log.Info("items received", "peer", peer, "new", added)
		n.notifyChanged()
	}
	return nil
}

func (s syncStore) Acked(peer identity.ID, ids []recon.ID) {
	list := make([]item.ID, len(ids))
	for i, id := range ids {
		list[i] = item.ID(id)
	}
	if err := s.n.markDelivered(list); err != nil {
		s.n.log.Warn("recording delivery failed", "err", err)
	}
}

func (s syncStore) Synced(peer identity.ID) {
	n := s.n
	now := n.cfg.Now()
	n.mu.Lock()
	n.lastSync = now
	n.peerSync[peer] = now.UTC().Truncate(time.Second)
	if ps := n.sessions[peer]; ps != nil { // the session calling us
		n.synced[peer] = ps.seq
	}
	snap := n.pairSnap[peer]
	delete(n.pairSnap, peer)
	n.mu.Unlock()
	// A completed sync means the peer holds every item of our pair scope's
	// snapshot. Mark them delivered: an item the peer stored but whose ack
	// was lost (it stopped between storing and acknowledging) is never sent
	// or acknowledged again, and would otherwise show "queued" for ever.
	if err := n.markDelivered(snap); err != nil {
		n.log.Warn("recording delivery failed", "err", err)
	}
	n.log.Info("synced", "peer", peer)
	n.notifyChanged()
}

// rememberPeerKey records the peer's certified recipient key (the newest,
// if it ever sends several).
func (n *Node) rememberPeerKey(peer identity.ID, cert *item.Item) error {
	if _, err := recipient.FromCertificate(cert); err != nil {
		return err
	}
	id := cert.ID()
	// Read the current certificate first: GetItem inside Update would take
	// the store's lock twice, which deadlocks if Close waits in between.
	if old, err := n.peerKeyItem(peer); err == nil && !item.VersionOf(cert).Newer(item.VersionOf(old)) {
		return nil
	}
	return n.db.Update(func(tx *store.Tx) error { return tx.Put(bucketPeerKey, peer.Bytes(), id[:]) })
}

// decodeVerify decodes and verifies a frame's items, spread over the cores
// (signature checks are most of the cost of receiving). It fails on the
// first bad item; the caller then stores nothing of the frame.
func decodeVerify(raw [][]byte, now time.Time) ([]*item.Item, error) {
	items := make([]*item.Item, len(raw))
	workers := min(runtime.GOMAXPROCS(0), (len(raw)+63)/64)
	if workers <= 1 {
		for i, b := range raw {
			it, err := decodeOne(b, now)
			if err != nil {
				return nil, err
			}
			items[i] = it
		}
		return items, nil
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(raw); i += workers {
				it, err := decodeOne(raw[i], now)
				if err != nil {
					errs[w] = err
					return
				}
				items[i] = it
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return items, nil
}

func decodeOne(b []byte, now time.Time) (*item.Item, error) {
	it, err := item.Decode(b)
	if err != nil {
		return nil, err
	}
	if err := it.Verify(now); err != nil {
		return nil, err
	}
	return it, nil
}
