package collection

import (
	"errors"
	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/ioc"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/service"
	"github.com/ghostwire/ghostwire/store"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"unicode"
	"unicode/utf8"
)

// Service is the indicator collections of one node.
type Service struct {
	h       Host
	imports imports // the imports running here
	// lastAdded is the last added time given (Unix µs, addedNow).
	lastAdded atomic.Int64
}

// New returns the service.
func New(h Host) *Service { return &Service{h: h} }

// Host is what the service needs of the node.
type Host interface {
	service.Host
	// Signer is the signing subkey our new indicators are signed with
	// (docs/protocol.md §5.9); their author is still our identity.
	Signer() (item.Signer, error)
	// ResolvePeer reads a peer given by address or local name.
	ResolvePeer(string) (identity.ID, error)
	// Admission checks our own new items against the node's limits (a
	// scope's size), counting them, for one batch.
	Admission() Admission
	// Publish stores our own new items in their scopes, indexing their
	// expiries first, and sends them to every peer that shares one (now,
	// or when it next syncs).
	Publish(entries []store.Entry, expiries []item.Expiry) (added int, err error)
	// PublishAtomic is Publish in one store transaction together with
	// also's writes (store.PutItemsAtomic).
	PublishAtomic(entries []store.Entry, expiries []item.Expiry, also func(*store.Tx) error) (added int, err error)
	// SpoolDir is where an import's scratch file goes; empty means the
	// system's temporary directory.
	SpoolDir() string
}

// Admission is the node's check of a batch against its limits.
type Admission interface {
	Admit(it *item.Item, scopes []item.Scope) error
}

// Accepted is told of items from a peer once stored. A restricted
// indicator addressed to us may be in a collection we do not hold: its
// sealed record names the collection (docs/protocol.md §5.8), and holding
// it from now on is what lists the indicator and lets us answer in it.
// Nothing else is asked of the user. (Expiries are indexed by the node
// before, item.Expiry.)
func (s *Service) Accepted(_ identity.ID, items []*item.Item) error {
	var names map[string]bool
	for _, it := range items {
		if it.Kind() != item.KindIOCSealed {
			continue
		}
		if names == nil {
			names = map[string]bool{}
			for _, n := range s.Names() {
				names[n] = true
			}
		}
		r, err := s.record(it)
		if err != nil || r.Collection == "" || names[r.Collection] || checkCollection(r.Collection) != nil {
			continue // not for us, from an older node, or held already
		}
		if err := s.addCollection(r.Collection); err != nil {
			return err
		}
		names[r.Collection] = true
		s.h.Log().Info("holding a collection a peer addressed indicators to us in", "collection", r.Collection, "author", it.Author().Short())
	}
	return nil
}

// Collections (docs/ioc.md, docs/protocol.md §10.1).
const (
	// Default is where IOCs go unless another is named.
	Default           = "default"
	maxCollectionName = 64
	bucketCollection  = "collection" // name → the collection's writers policy (writers.go): collections this node holds and offers
)

// ClassScope names a collection seen through one TLP visibility class.
// A restricted class is not the collection's: its scope is the author's
// and recipient's, shared by all collections (item.RestrictedScope), so
// that both peers offer it whatever collections each holds
// (docs/protocol.md §10.1).
func ClassScope(sp item.Space, c ioc.Class) item.Scope {
	switch c.Level {
	case ioc.ClassPublic:
		return item.ScopeOf(sp, item.ClassPublic)
	case ioc.ClassTrusted:
		return item.ScopeOf(sp, item.ClassTrusted)
	}
	return item.RestrictedScope(c.Author, c.Recipient)
}

func checkCollection(name string) error {
	if name == "" || len(name) > maxCollectionName || !utf8.ValidString(name) || strings.ContainsAny(name, "/") ||
		strings.ContainsFunc(name, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) }) {
		return fault.Invalidf("use a short name without slashes or control characters", "invalid collection name %q", name)
	}
	return nil
}

func (s *Service) Names() []string {
	names := []string{Default}
	s.h.Store().View(func(tx *store.Tx) error {
		return tx.ScanKeys(bucketCollection, nil, func(k []byte) error {
			if string(k) != Default {
				names = append(names, string(k))
			}
			return nil
		})
	})
	sort.Strings(names[1:])
	return names
}

func (s *Service) addCollection(name string) error {
	return s.h.Store().Update(func(tx *store.Tx) error {
		if _, err := tx.Get(bucketCollection, []byte(name)); !errors.Is(err, store.ErrNotFound) {
			return err // held already (nil), with its policy
		}
		return tx.Put(bucketCollection, []byte(name), nil)
	})
}

// trusts reports whether this node trusts peer for TLP GREEN. Every peer
// the user added is paired, and pairing is what GREEN asks for; strangers
// get no session at all.
func (s *Service) trusts(peer identity.ID) bool { return s.h.IsPeer(peer) }

// Scopes lists the collection scopes offered to peer: for each
// collection, the classes ioc.PeerClasses allows between us.
func (s *Service) Scopes(peer identity.ID) []item.Scope {
	return s.classScopes(peer, func(ioc.Class) bool { return true })
}

func (s *Service) classScopes(peer identity.ID, keep func(ioc.Class) bool) []item.Scope {
	var out, restricted []item.Scope
	classes := ioc.PeerClasses(s.h.ID(), peer, s.trusts(peer))
	for _, name := range s.Names() {
		sp := item.CollectionSpace(name)
		for _, c := range classes {
			if keep(c) && c.Level != ioc.ClassDirect {
				out = append(out, ClassScope(sp, c))
			}
		}
	}
	// The restricted scopes once, after the collections': they span every
	// collection, held here or not.
	for _, c := range classes {
		if keep(c) && c.Level == ioc.ClassDirect {
			restricted = append(restricted, ClassScope(item.Space{}, c))
		}
	}
	return append(out, restricted...)
}

// audience reads what TLP needs of an IOC item: for a sealed one the
// recipients come from its stanzas, so no one needs to open it to route it.
func audience(it *item.Item) (ioc.Audience, error) {
	switch it.Kind() {
	case item.KindIOC:
		r, err := ioc.FromItem(it)
		if err != nil {
			return ioc.Audience{}, err
		}
		return ioc.Audience{TLP: r.TLP, Author: it.Author()}, nil
	case item.KindIOCSealed:
		ids, err := recipient.Recipients(it.Payload())
		if err != nil {
			return ioc.Audience{}, err
		}
		return ioc.Audience{TLP: ioc.TLPRed, Author: it.Author(), Recipients: ids}, nil
	}
	return ioc.Audience{}, errors.New("not an IOC item")
}

// ScopesOf lists the scopes an IOC item belongs to in its collection.
func ScopesOf(it *item.Item) ([]item.Scope, error) {
	a, err := audience(it)
	if err != nil {
		return nil, err
	}
	var out []item.Scope
	for _, c := range ioc.Classes(a) {
		out = append(out, ClassScope(it.Space(), c))
	}
	return out, nil
}

// Check returns the test an item peer sent in scope sc must pass to be
// stored there, or nil if sc is not one of ours offered to peer: sc's
// collection and class must be the item's (ioc.MayExchange), and its author
// one the collection's policy admits (writers.go). It does the per-scope
// part once (is sc offered, in which collection and class, which policy)
// and returns the per-item part.
func (s *Service) Check(peer identity.ID, sc item.Scope) func(*item.Item) bool {
	if !slices.Contains(s.Scopes(peer), sc) {
		return nil
	}
	var space item.Space
	var name string
	shared := false // public or trusted class: anyone's tombstone may travel
	held := map[item.Space]string{}
	for _, n := range s.Names() {
		sp := item.CollectionSpace(n)
		held[sp] = n
		if sc == ClassScope(sp, ioc.Class{Level: ioc.ClassPublic}) || sc == ClassScope(sp, ioc.Class{Level: ioc.ClassTrusted}) {
			space, name, shared = sp, n, true
		}
	}
	if !shared {
		// A restricted scope spans every collection: the item's own
		// collection's policy applies if it is held here; one not held has
		// the default (anyone), and the scope admits only the pair anyway.
		pair := item.DirectSpace(s.h.ID(), peer)
		return func(it *item.Item) bool {
			if it.Space() == pair { // the pair's messages have a scope of their own
				return false
			}
			if n, ok := held[it.Space()]; ok && !s.admits(n)(it.Author()) {
				return false
			}
			if it.Kind() == item.KindTombstone {
				return it.Author() == peer || it.Author() == s.h.ID()
			}
			scopes, err := ScopesOf(it)
			return err == nil && slices.Contains(scopes, sc)
		}
	}
	admits := s.admits(name)
	return func(it *item.Item) bool {
		if it.Space() != space || !admits(it.Author()) {
			return false
		}
		if it.Kind() == item.KindTombstone {
			// A tombstone deletes only its author's item (item.Deletes).
			return true
		}
		scopes, err := ScopesOf(it)
		return err == nil && slices.Contains(scopes, sc)
	}
}
