package node

import (
	"io"
	"log/slog"
	"time"

	"github.com/ghostwire/ghostwire/collection"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/store"
)

// host is the node as its item-kind services see it (dm.Host): what they
// may read and the few things they may ask of it. It is a separate type so
// that none of this is part of Node's own API.
type host struct{ n *Node }

func (h host) ID() identity.ID                            { return h.n.id }
func (h host) Key() *identity.PrivateKey                  { return h.n.key }
func (h host) RecipientKey() *recipient.PrivateKey        { return h.n.rkey }
func (h host) Store() *store.DB                           { return h.n.db }
func (h host) Now() time.Time                             { return h.n.cfg.Now() }
func (h host) Rand() io.Reader                            { return h.n.cfg.Rand }
func (h host) Log() *slog.Logger                          { return h.n.log }
func (h host) SpoolDir() string                           { return h.n.cfg.SpoolDir }
func (h host) IsPeer(id identity.ID) bool                 { return h.n.isPeer(id) }
func (h host) Peers() []identity.ID                       { return h.n.peerIDs() }
func (h host) PeerName(id identity.ID) string             { return h.n.peerName(id) }
func (h host) Delivered(id item.ID) bool                  { return h.n.delivered(id) }
func (h host) Urge(peer identity.ID)                      { h.n.urge(peer) }
func (h host) Changed()                                   { h.n.notifyChanged() }
func (h host) Sent(peer identity.ID, items ...*item.Item) { h.n.afterLocalItems(peer, items...) }

func (h host) PeerKey(id identity.ID) (*recipient.PublicKey, error) { return h.n.peerKey(id) }

func (h host) ResolvePeer(s string) (identity.ID, error) { return h.n.ResolvePeer(s) }
func (h host) Admission() collection.Admission           { return h.n.admission() }

// Publish stores our own new items (expiries indexed first) and hands them
// to every peer that shares one of their scopes.
func (h host) Publish(entries []store.Entry, exp []collection.Expiry) (int, error) {
	added, err := h.n.putItems(entries, exp)
	if err != nil {
		return added, err
	}
	h.n.pushToAll(entries)
	return added, nil
}

// PublishAtomic is Publish in one store transaction together with also's
// writes (store.PutItemsAtomic): an import's batch and its progress record.
func (h host) PublishAtomic(entries []store.Entry, exp []collection.Expiry, also func(*store.Tx) error) (int, error) {
	added, err := h.n.putItemsWith(entries, exp, func(e []store.Entry) (int, error) { return h.n.db.PutItemsAtomic(e, also) })
	if err != nil {
		return added, err
	}
	h.n.pushToAll(entries)
	return added, nil
}
