// Package contacts is the peers this node talks to: the identities the user
// added, the local names given them, their certified recipient keys, the
// state the user gave each (unverified, verified, blocked; revoked when its
// identity revokes itself) and the contact requests of peers who added us
// first. It answers one question for the node at every handshake, Admit:
// does this identity get a session? The node enforces the answer.
//
// docs/trust.md says what each state means and what a request reveals to
// whom. It never imports node, net/http or a transport; the node owns the
// Book and composes what the API shows of a peer (connected, last sync)
// from it.
package contacts

import (
	"errors"
	"net/netip"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/wire"
)

const (
	bucketPeer    = "peer"    // peer ID → record
	bucketPeerKey = "peerkey" // peer ID → the peer's recipient-key certificate item ID
	bucketRequest = "request" // peer ID → a pending contact request (requests.go)
	bucketIgnored = "ignored" // peer ID → empty: requests the user ignored
)

// MaxName bounds a peer's local name.
const MaxName = 64

// record is a contact as stored. State and Verified are omitted when zero,
// so records from before contact states are read, and written, unchanged.
type record struct {
	Name     string `cbor:"1,keyasint"`
	Added    int64  `cbor:"2,keyasint"`
	State    uint8  `cbor:"3,keyasint,omitempty"`
	Verified int64  `cbor:"4,keyasint,omitempty"` // Unix seconds the user verified it
	// Keys from 20 on are LAN mode's.
	Paired int64  `cbor:"20,keyasint,omitempty"` // unix seconds of a PIN pairing, 0 if never
	LAN    string `cbor:"21,keyasint,omitempty"` // an ADDR:PORT given by hand (peer add --lan)
}

// Contact is one peer as the book holds it.
type Contact struct {
	ID     identity.ID
	Name   string
	Added  time.Time
	HasKey bool // its recipient key is known
	State  State
	// VerifiedAt is when the user verified it; zero unless State is
	// Verified.
	VerifiedAt time.Time
	// Paired is when the peer was paired by code (LAN mode), zero if it
	// was added by hand.
	Paired time.Time
	// LAN is where to dial the peer in LAN mode when its advert is not
	// seen (multicast blocked); invalid if none was given.
	LAN netip.AddrPort
}

// Book is the node's contacts. Its methods are safe for concurrent use.
type Book struct {
	db  *store.DB
	me  identity.ID
	now func() time.Time
	// addMu serialises writes of contact records: Add's name check and its
	// write, and SetState's read and write, must not interleave.
	addMu sync.Mutex
	req   requests // contact requests' rate limit (requests.go)
}

// New returns the book of the identity me over db.
func New(db *store.DB, me identity.ID, now func() time.Time) *Book {
	return &Book{db: db, me: me, now: now, req: requests{limit: DefaultRequestLimits}}
}

// unshowable reports the characters a name may not hold: controls (ESC,
// BEL, C1) and the bidi controls, which would act on a terminal or reorder
// the text around a name wherever it is shown.
func unshowable(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) }

// Add records a peer (or renames a known one; adding again without a name
// keeps the old one).
func (b *Book) Add(id identity.ID, name string) error {
	name = strings.TrimSpace(name)
	if len(name) > MaxName || !utf8.ValidString(name) || strings.ContainsFunc(name, unshowable) {
		return fault.Invalidf("use a short name without control characters", "peer name is invalid")
	}
	if id == b.me {
		return fault.Invalidf("add the other peer's address", "that is this node's own address")
	}
	b.addMu.Lock()
	defer b.addMu.Unlock()
	if name != "" {
		if other, err := b.ByName(name); err == nil && other != id {
			return fault.Invalidf("choose another name", "name %q is already used by %s", name, other.Short())
		}
	}
	rec := record{Name: name, Added: b.now().Unix()}
	return b.db.Update(func(tx *store.Tx) error {
		if raw, err := tx.Get(bucketPeer, id.Bytes()); err == nil {
			var old record
			if err := wire.Unmarshal(raw, &old); err == nil {
				rec.Added, rec.Paired, rec.LAN = old.Added, old.Paired, old.LAN
				rec.State, rec.Verified = old.State, old.Verified
				if rec.Name == "" {
					rec.Name = old.Name
				}
			}
		}
		// Adding a peer answers its request, or undoes ignoring it.
		if err := tx.Delete(bucketRequest, id.Bytes()); err != nil {
			return err
		}
		if err := tx.Delete(bucketIgnored, id.Bytes()); err != nil {
			return err
		}
		v, err := wire.Marshal(rec)
		if err != nil {
			return err
		}
		return tx.Put(bucketPeer, id.Bytes(), v)
	})
}

// MarkPaired records that a known peer was paired by code just now.
func (b *Book) MarkPaired(id identity.ID) error {
	return b.update(id, func(r *record) { r.Paired = b.now().Unix() })
}

// SetLAN records where a known peer can be dialed in LAN mode when its
// advert is not seen; an invalid addr forgets it.
func (b *Book) SetLAN(id identity.ID, addr netip.AddrPort) error {
	return b.update(id, func(r *record) {
		r.LAN = ""
		if addr.IsValid() {
			r.LAN = addr.String()
		}
	})
}

// update changes a known peer's record.
func (b *Book) update(id identity.ID, change func(*record)) error {
	b.addMu.Lock()
	defer b.addMu.Unlock()
	err := b.db.Update(func(tx *store.Tx) error {
		raw, err := tx.Get(bucketPeer, id.Bytes())
		if err != nil {
			return err
		}
		var rec record
		if err := wire.Unmarshal(raw, &rec); err != nil {
			return err
		}
		change(&rec)
		v, err := wire.Marshal(rec)
		if err != nil {
			return err
		}
		return tx.Put(bucketPeer, id.Bytes(), v)
	})
	if errors.Is(err, store.ErrNotFound) {
		return unknown(id)
	}
	return err
}

// Remove forgets a peer. A blocked or revoked one is remembered as
// ignored: removing it must not turn its next handshake into a contact
// request, as it would for a stranger.
func (b *Book) Remove(id identity.ID) error {
	st, ok := b.StateOf(id)
	if !ok {
		return unknown(id)
	}
	return b.db.Update(func(tx *store.Tx) error {
		if st.Refuses() {
			if err := tx.Put(bucketIgnored, id.Bytes(), nil); err != nil {
				return err
			}
		}
		return tx.Delete(bucketPeer, id.Bytes())
	})
}

func unknown(id identity.ID) error {
	return fault.New(fault.UnknownPeer, "add it as a peer first", "unknown peer %s", id)
}

// Has reports whether id is a peer.
func (b *Book) Has(id identity.ID) bool {
	err := b.db.View(func(tx *store.Tx) error {
		_, err := tx.Get(bucketPeer, id.Bytes())
		return err
	})
	return err == nil
}

// Get returns a peer.
func (b *Book) Get(id identity.ID) (Contact, error) {
	var c Contact
	err := b.db.View(func(tx *store.Tx) error {
		raw, err := tx.Get(bucketPeer, id.Bytes())
		if err != nil {
			return err
		}
		c, err = contactFrom(tx, id, raw)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return Contact{}, unknown(id)
	}
	return c, err
}

func contactFrom(tx *store.Tx, id identity.ID, raw []byte) (Contact, error) {
	var rec record
	if err := wire.Unmarshal(raw, &rec); err != nil {
		return Contact{}, err
	}
	_, keyErr := tx.Get(bucketPeerKey, id.Bytes())
	c := Contact{ID: id, Name: rec.Name, Added: time.Unix(rec.Added, 0).UTC(), HasKey: keyErr == nil,
		State: State(rec.State), VerifiedAt: verifiedAt(rec)}
	if rec.Paired != 0 {
		c.Paired = time.Unix(rec.Paired, 0).UTC()
	}
	c.LAN, _ = netip.ParseAddrPort(rec.LAN)
	return c, nil
}

// List returns every peer, ordered by identity.
func (b *Book) List() ([]Contact, error) {
	var out []Contact
	err := b.db.View(func(tx *store.Tx) error {
		return tx.Scan(bucketPeer, nil, func(k, v []byte) error {
			id, err := identity.NewID(k)
			if err != nil {
				return err
			}
			c, err := contactFrom(tx, id, v)
			if err != nil {
				return err
			}
			out = append(out, c)
			return nil
		})
	})
	return out, err
}

// IDs returns every peer's identity, in order.
func (b *Book) IDs() []identity.ID {
	var ids []identity.ID
	b.db.View(func(tx *store.Tx) error {
		return tx.ScanKeys(bucketPeer, nil, func(k []byte) error {
			if id, err := identity.NewID(k); err == nil {
				ids = append(ids, id)
			}
			return nil
		})
	})
	return ids
}

// Admitted returns the contacts that get a session (every one but the
// blocked and revoked), in order: those the node dials, and those a
// transport that admits only peers lets in.
func (b *Book) Admitted() []identity.ID {
	var ids []identity.ID
	cs, _ := b.List()
	for _, c := range cs {
		if !c.State.Refuses() {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// ByName returns the peer with this local name.
func (b *Book) ByName(name string) (identity.ID, error) {
	cs, err := b.List()
	if err != nil {
		return identity.ID{}, err
	}
	for _, c := range cs {
		if c.Name == name {
			return c.ID, nil
		}
	}
	return identity.ID{}, fault.New(fault.UnknownName, "list the peers to see their names", "no peer named %q", name)
}

// Name is a peer's local name, or "" if it has none (or is gone).
func (b *Book) Name(id identity.ID) string {
	if c, err := b.Get(id); err == nil {
		return c.Name
	}
	return ""
}

// Resolve reads a peer given by onion address or by name.
func (b *Book) Resolve(s string) (identity.ID, error) {
	if id, err := identity.ParseID(s); err == nil {
		if !b.Has(id) {
			return id, unknown(id)
		}
		return id, nil
	}
	return b.ByName(s)
}

// ResolveAuthor reads an IOC author given by onion address or by a peer's
// name; unlike Resolve it accepts any address (authors need not be peers).
func (b *Book) ResolveAuthor(s string) (identity.ID, error) {
	if id, err := identity.ParseID(s); err == nil {
		return id, nil
	}
	return b.ByName(s)
}

// Key returns a peer's certified recipient key, once a sync brought it.
func (b *Book) Key(peer identity.ID) (*recipient.PublicKey, error) {
	it, err := b.KeyItem(peer)
	if err != nil {
		return nil, err
	}
	return recipient.FromCertificate(it)
}

// KeyItem returns the certificate item of a peer's recipient key.
func (b *Book) KeyItem(peer identity.ID) (*item.Item, error) {
	var id item.ID
	err := b.db.View(func(tx *store.Tx) error {
		raw, err := tx.Get(bucketPeerKey, peer.Bytes())
		copy(id[:], raw)
		return err
	})
	if err != nil {
		return nil, err
	}
	it, _, err := b.db.GetItem(id)
	return it, err
}

// RememberKey records a peer's certified recipient key: the newest, if it
// ever sends several. cert must be stored already.
func (b *Book) RememberKey(peer identity.ID, cert *item.Item) error {
	if _, err := recipient.FromCertificate(cert); err != nil {
		return err
	}
	id := cert.ID()
	// Read the current certificate first: GetItem inside Update would take
	// the store's lock twice, which deadlocks if Close waits in between.
	if old, err := b.KeyItem(peer); err == nil && !item.VersionOf(cert).Newer(item.VersionOf(old)) {
		return nil
	}
	return b.db.Update(func(tx *store.Tx) error { return tx.Put(bucketPeerKey, peer.Bytes(), id[:]) })
}
