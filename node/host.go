package node

import (
	"io"
	"log/slog"
	"time"

	"github.com/ghostwire/ghostwire/collection"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/room"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/vault"
)

// host is the node as its item-kind services see it (dm.Host): what they
// may read and the few things they may ask of it. It is a separate type so
// that none of this is part of Node's own API.
type host struct{ n *Node }

func (h host) ID() identity.ID                            { return h.n.id }
func (h host) Key() *identity.PrivateKey                  { return h.n.key }
func (h host) RecipientKey() *recipient.PrivateKey        { return h.n.recipientKey() }
func (h host) Store() *store.DB                           { return h.n.db }
func (h host) Now() time.Time                             { return h.n.cfg.Now() }
func (h host) Rand() io.Reader                            { return h.n.cfg.Rand }
func (h host) Log() *slog.Logger                          { return h.n.log }
func (h host) SpoolDir() string                           { return h.n.cfg.SpoolDir }
func (h host) IsPeer(id identity.ID) bool                 { return h.n.isPeer(id) }
func (h host) Peers() []identity.ID                       { return h.n.contacts.IDs() } // blocked ones' history stays listed
func (h host) PeerName(id identity.ID) string             { return h.n.peerName(id) }
func (h host) Urge(peer identity.ID)                      { h.n.urge(peer) }
func (h host) Changed()                                   { h.n.notifyChanged() }
func (h host) Changes() <-chan struct{}                   { return h.n.changedCh() }
func (h host) Sent(peer identity.ID, items ...*item.Item) { h.n.afterLocalItems(peer, items...) }

// Rescope ends the live sessions with peers without waiting (a service
// may call it from a session's own Accepted) and has the dialer reach them
// again, so the next session reconciles the scopes as they are now.
func (h host) Rescope(peers ...identity.ID) {
	h.n.st.mu.Lock()
	for _, p := range peers {
		if ps := h.n.st.sessions[p]; ps != nil {
			ps.cancel()
		}
	}
	h.n.st.mu.Unlock()
	h.n.urge(peers...)
}

func (h host) Vault() *vault.Vault { return h.n.cfg.Vault }

// Keeper is the key vault for room epoch keys: the encryption subkeys'
// service, when the node has one (keys.Service.Hold).
func (h host) Keeper() room.Keeper {
	if h.n.cfg.KeyVault == nil {
		return nil
	}
	return h.n.keys
}

// Burn is the room service's way to the node's one burn machinery (dm's
// sealer and vault, docs/protocol.md §13.6).
func (h host) Burn(ids []item.ID, keep time.Time, why string)       { h.n.dm.Burn(ids, keep, why) }
func (h host) Signer() (item.Signer, error)                         { return h.n.keys.Signer() }
func (h host) RevokeContact(id identity.ID) error                   { return h.n.revokeContact(id) }
func (h host) PeerKey(id identity.ID) (*recipient.PublicKey, error) { return h.n.peerKey(id) }

func (h host) ResolvePeer(s string) (identity.ID, error) { return h.n.ResolvePeer(s) }
func (h host) Admission() collection.Admission           { return h.n.sets.Admission() }

// Publish stores our own new items (expiries indexed first) and hands them
// to every peer that shares one of their scopes.
func (h host) Publish(entries []store.Entry, exp []item.Expiry) (int, error) {
	return h.publish(entries, exp, h.n.db.PutItems)
}

// PublishAtomic is Publish in one store transaction together with also's
// writes (store.PutItemsAtomic): an import's batch and its progress record.
func (h host) PublishAtomic(entries []store.Entry, exp []item.Expiry, also func(*store.Tx) error) (int, error) {
	return h.publish(entries, exp, func(e []store.Entry) (int, error) { return h.n.db.PutItemsAtomic(e, also) })
}

func (h host) publish(entries []store.Entry, exp []item.Expiry, put func([]store.Entry) (int, error)) (int, error) {
	added, err := h.n.putItems(entries, exp, put)
	if err != nil {
		return added, err
	}
	h.n.pushToAll(entries)
	return added, nil
}

// putItems stores entries through the sync sets (scopeset: expiries
// indexed first) with put, each item's collection index entries (content
// and added index, collection.Indexer) in the item's own transaction, so
// that neither is ever stored without the other.
func (n *Node) putItems(entries []store.Entry, exp []item.Expiry, put func([]store.Entry) (int, error)) (int, error) {
	withIndex := make([]store.Entry, len(entries))
	for i, e := range entries {
		withIndex[i] = e
		index := n.coll.Indexer(e.Item)
		if index == nil {
			continue
		}
		withIndex[i].With = func(tx *store.Tx) error {
			if e.With != nil {
				if err := e.With(tx); err != nil {
					return err
				}
			}
			return index(tx)
		}
	}
	return n.sets.PutWith(withIndex, exp, put)
}
