package room

import (
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/vault"
)

// world is a set of nodes in one process, each with a real store, whose
// sync is done by hand (syncPair) through the services' own Scopes, Check
// and Accepted: everything of a node but its sessions.
type world struct {
	t    testing.TB
	now  time.Time
	keys map[identity.ID]*recipient.PublicKey
}

func newWorld(t testing.TB) *world {
	return &world{t: t, now: time.Now().Truncate(time.Millisecond), keys: map[identity.ID]*recipient.PublicKey{}}
}

// node is one member's node. Its store may be closed and opened again
// (close, open), so that a room of 100 members needs two open at a time.
type node struct {
	w   *world
	key *identity.PrivateKey
	rk  *recipient.PrivateKey
	dir string
	db  *store.DB
	v   *vault.Vault // a real vault, so timers are allowed; nothing is sealed with it here
	svc *Service
	// burnt lists what the service burnt (Host.Burn), in order.
	burnt []item.ID
	// rescoped lists the peers the service asked to rescope, in order.
	rescoped []identity.ID
}

func (w *world) node() *node {
	w.t.Helper()
	k, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		w.t.Fatal(err)
	}
	rk, err := recipient.Derive(k)
	if err != nil {
		w.t.Fatal(err)
	}
	n := &node{w: w, key: k, rk: rk, dir: filepath.Join(w.t.TempDir(), "store")}
	w.keys[k.ID()] = rk.Public()
	n.open()
	return n
}

func (n *node) open() {
	n.w.t.Helper()
	db, err := store.Open(n.dir, make([]byte, 32), nil)
	if err != nil {
		n.w.t.Fatal(err)
	}
	n.db = db
	if n.v, err = vault.Open(filepath.Join(filepath.Dir(n.dir), "burn.vault"), make([]byte, 32), rand.Reader); err != nil {
		n.w.t.Fatal(err)
	}
	n.svc = New(host{n})
}

func (n *node) close() {
	n.w.t.Helper()
	if err := n.db.Close(); err != nil {
		n.w.t.Fatal(err)
	}
	if err := n.v.Close(); err != nil {
		n.w.t.Fatal(err)
	}
	n.db, n.svc = nil, nil
}

func (n *node) id() identity.ID { return n.key.ID() }

// host is the node as the service sees it: every node of the world is a
// peer with a known recipient key.
type host struct{ n *node }

func (h host) ID() identity.ID                     { return h.n.key.ID() }
func (h host) Key() *identity.PrivateKey           { return h.n.key }
func (h host) RecipientKey() *recipient.PrivateKey { return h.n.rk }
func (h host) Store() *store.DB                    { return h.n.db }
func (h host) Now() time.Time {
	h.n.w.now = h.n.w.now.Add(time.Second) // every item a second after the last
	return h.n.w.now
}
func (h host) Rand() io.Reader             { return rand.Reader }
func (h host) Log() *slog.Logger           { return slog.New(slog.DiscardHandler) }
func (h host) IsPeer(id identity.ID) bool  { return h.n.w.keys[id] != nil }
func (h host) PeerName(identity.ID) string { return "" }
func (h host) Rescope(p ...identity.ID)    { h.n.rescoped = append(h.n.rescoped, p...) }
func (h host) Changed()                    {}
func (h host) Changes() <-chan struct{}    { return make(chan struct{}) }
func (h host) Vault() *vault.Vault         { return h.n.v }
func (h host) Keeper() Keeper              { return nil } // node/roomkeys_test.go runs the key vault

// Burn does what the node's does once the keys are gone: it takes the
// items out of the store and remembers them.
func (h host) Burn(ids []item.ID, keep time.Time, _ string) {
	h.n.burnt = append(h.n.burnt, ids...)
	if err := h.n.db.Burn(ids, keep); err != nil {
		h.n.w.t.Error(err)
	}
}

func (h host) PeerKey(id identity.ID) (*recipient.PublicKey, error) {
	if k := h.n.w.keys[id]; k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("no key for %s", id.Short())
}

func (h host) Publish(entries []store.Entry, _ []item.Expiry) (int, error) {
	return h.n.db.PutItems(entries)
}

// deliver offers items to n as peer sent them in scope sc, the way the
// node's sync store does: verify, the scope's check, store, Accepted. It
// returns how many were stored.
func (n *node) deliver(peer identity.ID, sc item.Scope, items []*item.Item) int {
	n.w.t.Helper()
	fits := n.svc.Check(peer, sc)
	if fits == nil {
		return 0
	}
	var entries []store.Entry
	var ok []*item.Item
	for _, it := range items {
		if it.Verify(n.w.now) != nil || !fits(it) {
			continue
		}
		entries = append(entries, store.Entry{Item: it, Scopes: []item.Scope{sc}})
		ok = append(ok, it)
	}
	if len(entries) == 0 {
		return 0
	}
	if _, err := n.db.PutItems(entries); err != nil {
		n.w.t.Fatal(err)
	}
	if err := n.svc.Accepted(peer, ok); err != nil {
		n.w.t.Fatal(err)
	}
	return len(ok)
}

// syncPair moves what each of a and b lacks in every scope both offer, in
// item ID order (as unordered as a real session's), until nothing moves:
// a refused item is offered again on the next pass, as the next session
// would.
func syncPair(a, b *node) {
	a.w.t.Helper()
	for range 4 {
		moved := push(a, b) + push(b, a)
		if moved == 0 {
			return
		}
	}
}

func push(from, to *node) int {
	from.w.t.Helper()
	theirs := map[item.Scope]bool{}
	for _, sc := range to.svc.Scopes(from.id()) {
		theirs[sc] = true
	}
	moved := 0
	for _, sc := range from.svc.Scopes(to.id()) {
		if !theirs[sc] {
			continue
		}
		var missing []*item.Item
		from.db.ScopeIDs(sc, func(id item.ID) error {
			if _, _, err := to.db.GetItem(id); err == nil {
				return nil
			}
			it, _, err := from.db.GetItem(id)
			if err == nil {
				missing = append(missing, it)
			}
			return nil
		})
		moved += to.deliver(from.id(), sc, missing)
	}
	return moved
}

// texts lists the texts n reads in a room, "<sealed>" for those it cannot
// open.
func (n *node) texts(sp item.Space) []string {
	n.w.t.Helper()
	msgs, err := n.svc.Messages(sp)
	if err != nil {
		n.w.t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		if m.Sealed {
			out = append(out, "<sealed>")
		} else {
			out = append(out, m.Text)
		}
	}
	return out
}

func (n *node) status(sp item.Space) string {
	n.w.t.Helper()
	rooms, err := n.svc.List()
	if err != nil {
		n.w.t.Fatal(err)
	}
	for _, r := range rooms {
		if r.ID == fmt.Sprintf("%x", sp[:]) {
			return r.Status
		}
	}
	return ""
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
