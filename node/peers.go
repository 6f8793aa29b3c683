package node

import (
	"fmt"
	"slices"
	"time"

	"github.com/ghostwire/ghostwire/cloak"
	"github.com/ghostwire/ghostwire/contacts"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/store"
)

// The peers themselves (names, keys) are the contacts book's (package
// contacts); the node adds what it alone knows of each (its session) and
// what adding or removing one sets going.

const (
	bucketMeta  = "meta" // name → value
	metaOwnCert = "own-recipient-cert"
)

// AddPeer records a peer (or renames a known one) and starts syncing with it.
func (n *Node) AddPeer(id identity.ID, name string) (*Peer, error) {
	if err := n.contacts.Add(id, name); err != nil {
		return nil, err
	}
	// Our recipient-key certificate belongs to the new pair scope.
	if err := n.indexOwnCert(id); err != nil {
		return nil, err
	}
	n.tellPeers()
	n.log.Info("peer added", "peer", id)
	n.urge(id)
	return n.peer(id)
}

// RemovePeer forgets a peer and ends any session with it. Messages already
// stored are kept; nothing more is sent to or accepted from it.
func (n *Node) RemovePeer(id identity.ID) error {
	if !n.contacts.Has(id) {
		return n.contacts.Remove(id) // the error naming it
	}
	// The scopes only this peer shares with us: their sets are forgotten.
	// (Those other peers share too, the public and trusted classes, stay.)
	own := n.scopesFor(id) // while it is still a peer
	for _, p := range n.contacts.IDs() {
		if p != id {
			others := n.scopesFor(p)
			own = slices.DeleteFunc(own, func(s item.Scope) bool { return slices.Contains(others, s) })
		}
	}
	if err := n.contacts.Remove(id); err != nil {
		return err
	}
	n.tellPeers()
	n.endSession(id)
	n.sets.Forget(own...)
	n.log.Info("peer removed", "peer", id)
	return nil
}

// tellPeers names the current peers to a transport that admits only them.
func (n *Node) tellPeers() {
	if pa, ok := n.cfg.Transport.(cloak.PeerAware); ok {
		pa.SetPeers(n.peerIDs())
	}
}

// isPeer and peerIDs are about the contacts that get a session: every one
// but the blocked and revoked (trust.go), which are neither dialled, nor
// admitted, nor offered anything.
func (n *Node) isPeer(id identity.ID) bool     { return n.contacts.Admit(id) == nil }
func (n *Node) peerIDs() []identity.ID         { return n.contacts.Admitted() }
func (n *Node) peerName(id identity.ID) string { return n.contacts.Name(id) }

// ResolvePeer reads a peer given by onion address or by name.
func (n *Node) ResolvePeer(s string) (identity.ID, error) { return n.contacts.Resolve(s) }

// ResolveAuthor reads an IOC author given by onion address or by a peer's
// name; unlike ResolvePeer it accepts our own address and any other.
func (n *Node) ResolveAuthor(s string) (identity.ID, error) { return n.contacts.ResolveAuthor(s) }

// peerKey is the peer's current recipient key. One whose certificate has
// ended is not used (its owner may have destroyed it, docs/trust.md §4):
// messages wait in the outbox for the peer's next certificate, which the
// next sync brings.
func (n *Node) peerKey(id identity.ID) (*recipient.PublicKey, error) {
	k, err := n.contacts.Key(id)
	if err == nil && k.Expired(n.cfg.Now()) {
		return nil, fmt.Errorf("node: the encryption key of %s ended on %s; waiting for its next one", id.Short(), k.NotAfter.Format(time.DateOnly))
	}
	return k, err
}

// peer returns a peer as the API shows it.
func (n *Node) peer(id identity.ID) (*Peer, error) {
	c, err := n.contacts.Get(id)
	if err != nil {
		return nil, err
	}
	return n.peerView(c), nil
}

// Peers lists known peers, ordered by address.
func (n *Node) Peers() ([]*Peer, error) {
	cs, err := n.contacts.List()
	out := make([]*Peer, 0, len(cs))
	for _, c := range cs {
		out = append(out, n.peerView(c))
	}
	return out, err
}

// peerView adds what the node knows of a contact: its session.
func (n *Node) peerView(c contacts.Contact) *Peer {
	p := &Peer{Onion: c.ID.String(), Name: c.Name, Added: c.Added, HasKey: c.HasKey,
		State: c.State.String(), SafetyNumber: identity.SafetyNumber(n.id, c.ID)}
	if !c.VerifiedAt.IsZero() {
		p.VerifiedAt = &c.VerifiedAt
	}
	if !c.Paired.IsZero() {
		p.Paired = &c.Paired
	}
	if c.LAN.IsValid() {
		p.LAN = c.LAN.String()
	}
	n.st.mu.Lock()
	ps := n.st.sessions[c.ID]
	if t, ok := n.st.peerSync[c.ID]; ok {
		p.LastSync = &t
	}
	n.st.mu.Unlock()
	p.Connected = ps != nil && ps.established()
	return p
}

// publishRecipientKey makes (once) and stores our recipient-key
// certificate; with encryption subkeys, it certifies the first (or a due
// one) and destroys the keys whose grace ended while the node was off.
func (n *Node) publishRecipientKey() error {
	if n.cfg.KeyVault != nil {
		_, err := n.tickKeys()
		return err
	}
	var have bool
	n.db.View(func(tx *store.Tx) error {
		_, err := tx.Get(bucketMeta, []byte(metaOwnCert))
		have = err == nil
		return nil
	})
	if have {
		return nil
	}
	cert, err := recipient.Certificate(n.key, n.rkey, n.cfg.Now())
	if err != nil {
		return err
	}
	if _, err := n.db.PutItems([]store.Entry{{Item: cert}}); err != nil {
		return err
	}
	id := cert.ID()
	return n.db.Update(func(tx *store.Tx) error { return tx.Put(bucketMeta, []byte(metaOwnCert), id[:]) })
}

func (n *Node) ownCert() (*item.Item, error) {
	if n.cfg.KeyVault != nil {
		return n.keys.Certificate()
	}
	var id item.ID
	err := n.db.View(func(tx *store.Tx) error {
		raw, err := tx.Get(bucketMeta, []byte(metaOwnCert))
		copy(id[:], raw)
		return err
	})
	if err != nil {
		return nil, err
	}
	it, _, err := n.db.GetItem(id)
	return it, err
}

// indexOwnCert adds our certificate to the pair scope with peer, so the
// first sync hands it over.
func (n *Node) indexOwnCert(peer identity.ID) error {
	cert, err := n.ownCert()
	if err != nil {
		return err
	}
	return n.db.IndexItem(cert.ID(), item.PairScope(n.id, peer))
}
