package node

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/wire"
)

const (
	bucketPeer    = "peer"    // peer ID → peerRecord
	bucketPeerKey = "peerkey" // peer ID → the peer's recipient-key certificate item ID
	bucketMeta    = "meta"    // name → value
	metaOwnCert   = "own-recipient-cert"
)

// maxPeerName bounds a peer's local nickname.
const maxPeerName = 64

type peerRecord struct {
	Name  string `cbor:"1,keyasint"`
	Added int64  `cbor:"2,keyasint"`
}

// AddPeer records a peer (or renames a known one) and starts syncing with it.
func (n *Node) AddPeer(id identity.ID, name string) (*Peer, error) {
	name = strings.TrimSpace(name)
	if len(name) > maxPeerName || strings.ContainsAny(name, "\x00\n\r\t") {
		return nil, fault.Invalidf("use a short name without control characters", "peer name is invalid")
	}
	if id == n.id {
		return nil, fault.Invalidf("add the other peer's address", "that is this node's own address")
	}
	// One AddPeer at a time: the name check and the write must not
	// interleave with another's, or two peers could end up with one name.
	n.addPeerMu.Lock()
	defer n.addPeerMu.Unlock()
	if name != "" {
		if other, err := n.peerByName(name); err == nil && other != id {
			return nil, fault.Invalidf("choose another name", "name %q is already used by %s", name, other.Short())
		}
	}
	rec := peerRecord{Name: name, Added: n.cfg.Now().Unix()}
	err := n.db.Update(func(tx *store.Tx) error {
		if raw, err := tx.Get(bucketPeer, id.Bytes()); err == nil {
			var old peerRecord
			if err := wire.Unmarshal(raw, &old); err == nil {
				rec.Added = old.Added
				if rec.Name == "" {
					rec.Name = old.Name // adding again without a name keeps it
				}
			}
		}
		b, err := wire.Marshal(rec)
		if err != nil {
			return err
		}
		return tx.Put(bucketPeer, id.Bytes(), b)
	})
	if err != nil {
		return nil, err
	}
	// Our recipient-key certificate belongs to the new pair scope.
	if err := n.indexOwnCert(id); err != nil {
		return nil, err
	}
	n.log.Info("peer added", "peer", id)
	n.urge(id)
	return n.peer(id)
}

// RemovePeer forgets a peer and ends any session with it. Messages already
// stored are kept; nothing more is sent to or accepted from it.
func (n *Node) RemovePeer(id identity.ID) error {
	if _, err := n.peer(id); err != nil {
		return err
	}
	// The scopes only this peer shares with us: their sets are forgotten.
	// (Those other peers share too, the public and trusted classes, stay.)
	own := n.scopesFor(id) // while it is still a peer
	for _, p := range n.peerIDs() {
		if p != id {
			others := n.scopesFor(p)
			own = slices.DeleteFunc(own, func(s item.Scope) bool { return slices.Contains(others, s) })
		}
	}
	if err := n.db.Update(func(tx *store.Tx) error { return tx.Delete(bucketPeer, id.Bytes()) }); err != nil {
		return err
	}
	n.endSession(id)
	n.sets.forget(own...)
	n.log.Info("peer removed", "peer", id)
	return nil
}

func (n *Node) isPeer(id identity.ID) bool {
	err := n.db.View(func(tx *store.Tx) error {
		_, err := tx.Get(bucketPeer, id.Bytes())
		return err
	})
	return err == nil
}

func (n *Node) peer(id identity.ID) (*Peer, error) {
	var p *Peer
	err := n.db.View(func(tx *store.Tx) error {
		raw, err := tx.Get(bucketPeer, id.Bytes())
		if err != nil {
			return err
		}
		p, err = n.peerFrom(tx, id, raw)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, fault.New(fault.UnknownPeer, "add it as a peer first", "unknown peer %s", id)
	}
	return p, err
}

func (n *Node) peerFrom(tx *store.Tx, id identity.ID, raw []byte) (*Peer, error) {
	var rec peerRecord
	if err := wire.Unmarshal(raw, &rec); err != nil {
		return nil, err
	}
	_, keyErr := tx.Get(bucketPeerKey, id.Bytes())
	p := &Peer{Onion: id.String(), Name: rec.Name, Added: time.Unix(rec.Added, 0).UTC(), HasKey: keyErr == nil}
	n.st.mu.Lock()
	ps := n.st.sessions[id]
	if t, ok := n.st.peerSync[id]; ok {
		t := t
		p.LastSync = &t
	}
	n.st.mu.Unlock()
	p.Connected = ps != nil && ps.established()
	return p, nil
}

// Peers lists known peers, ordered by address.
func (n *Node) Peers() ([]*Peer, error) {
	var out []*Peer
	err := n.db.View(func(tx *store.Tx) error {
		return tx.Scan(bucketPeer, nil, func(k, v []byte) error {
			id, err := identity.NewID(k)
			if err != nil {
				return err
			}
			p, err := n.peerFrom(tx, id, v)
			if err != nil {
				return err
			}
			out = append(out, p)
			return nil
		})
	})
	return out, err
}

func (n *Node) peerIDs() []identity.ID {
	var ids []identity.ID
	n.db.View(func(tx *store.Tx) error {
		return tx.ScanKeys(bucketPeer, nil, func(k []byte) error {
			if id, err := identity.NewID(k); err == nil {
				ids = append(ids, id)
			}
			return nil
		})
	})
	return ids
}

func (n *Node) peerByName(name string) (identity.ID, error) {
	peers, err := n.Peers()
	if err != nil {
		return identity.ID{}, err
	}
	for _, p := range peers {
		if p.Name == name {
			return identity.ParseID(p.Onion)
		}
	}
	return identity.ID{}, fault.New(fault.UnknownName, "list the peers to see their names", "no peer named %q", name)
}

// ResolvePeer reads a peer given by onion address or by name.
func (n *Node) ResolvePeer(s string) (identity.ID, error) {
	if id, err := identity.ParseID(s); err == nil {
		if !n.isPeer(id) {
			return id, fault.New(fault.UnknownPeer, "add it as a peer first", "unknown peer %s", id)
		}
		return id, nil
	}
	return n.peerByName(s)
}

// publishRecipientKey makes (once) and stores our recipient-key certificate.
func (n *Node) publishRecipientKey() error {
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

// peerKey returns a peer's certified recipient key, if we have it.
func (n *Node) peerKey(peer identity.ID) (*recipient.PublicKey, error) {
	it, err := n.peerKeyItem(peer)
	if err != nil {
		return nil, err
	}
	return recipient.FromCertificate(it)
}

// peerKeyItem returns the certificate item of a peer's recipient key.
func (n *Node) peerKeyItem(peer identity.ID) (*item.Item, error) {
	var id item.ID
	err := n.db.View(func(tx *store.Tx) error {
		raw, err := tx.Get(bucketPeerKey, peer.Bytes())
		copy(id[:], raw)
		return err
	})
	if err != nil {
		return nil, err
	}
	it, _, err := n.db.GetItem(id)
	return it, err
}

// peerName is the peer's local name, or "" if it has none (or is gone).
func (n *Node) peerName(peer identity.ID) string {
	if p, err := n.peer(peer); err == nil {
		return p.Name
	}
	return ""
}

// ResolveAuthor reads an IOC author given by onion address or by a peer's
// name; unlike ResolvePeer it accepts our own address and any other (authors
// need not be peers).
func (n *Node) ResolveAuthor(s string) (identity.ID, error) {
	if id, err := identity.ParseID(s); err == nil {
		return id, nil
	}
	return n.peerByName(s)
}
