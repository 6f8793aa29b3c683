package node

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/ioc"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/store"
)

// Collections (docs/ioc.md, docs/protocol.md §10.1).
const (
	collectionSpaceLabel = "ghostwire space: collection v1"
	// DefaultCollection is where IOCs go unless another is named.
	DefaultCollection = "default"
	maxCollectionName = 64
	bucketCollection  = "collection" // name → empty: collections this node holds and offers
)

func collectionSpace(name string) item.Space {
	h := sha256.New()
	h.Write([]byte(collectionSpaceLabel))
	h.Write([]byte(name))
	return item.Space(h.Sum(nil))
}

// classScope names a collection seen through one TLP visibility class.
func classScope(sp item.Space, c ioc.Class) store.Scope {
	switch c.Level {
	case ioc.ClassPublic:
		return scopeOf(sp, "public")
	case ioc.ClassTrusted:
		return scopeOf(sp, "trusted")
	}
	return scopeOf(sp, "direct:"+c.Author.Hex()+":"+c.Recipient.Hex())
}

func checkCollection(name string) error {
	if name == "" || len(name) > maxCollectionName || strings.ContainsAny(name, "\x00\n\r\t/") {
		return badRequest("use a short name without slashes or control characters", "invalid collection name %q", name)
	}
	return nil
}

func (n *Node) collections() []string {
	names := []string{DefaultCollection}
	n.db.View(func(tx *store.Tx) error {
		return tx.ScanKeys(bucketCollection, nil, func(k []byte) error {
			if string(k) != DefaultCollection {
				names = append(names, string(k))
			}
			return nil
		})
	})
	sort.Strings(names[1:])
	return names
}

func (n *Node) addCollection(name string) error {
	return n.db.Update(func(tx *store.Tx) error { return tx.Put(bucketCollection, []byte(name), nil) })
}

// trusts reports whether this node trusts peer for TLP GREEN. Every peer
// the user added is paired, and pairing is what GREEN asks for; strangers
// get no session at all.
func (n *Node) trusts(peer identity.ID) bool { return n.isPeer(peer) }

// iocScopes lists the collection scopes offered to peer: for each
// collection, the classes ioc.PeerClasses allows between us.
func (n *Node) iocScopes(peer identity.ID) []store.Scope {
	var out []store.Scope
	for _, name := range n.collections() {
		sp := collectionSpace(name)
		for _, c := range ioc.PeerClasses(n.id, peer, n.trusts(peer)) {
			out = append(out, classScope(sp, c))
		}
	}
	return out
}

// audience reads what TLP needs of an IOC item: for a sealed one the
// recipients come from its stanzas, so no one needs to open it to route it.
func audience(it *item.Item) (ioc.Audience, error) {
	switch it.Kind() {
	case ioc.Kind:
		r, err := ioc.FromItem(it)
		if err != nil {
			return ioc.Audience{}, err
		}
		return ioc.Audience{TLP: r.TLP, Author: it.Author()}, nil
	case ioc.KindSealed:
		ids, err := recipient.Recipients(it.Payload())
		if err != nil {
			return ioc.Audience{}, err
		}
		return ioc.Audience{TLP: ioc.TLPRed, Author: it.Author(), Recipients: ids}, nil
	}
	return ioc.Audience{}, errors.New("not an IOC item")
}

// iocScopesOf lists the scopes an IOC item belongs to in its collection.
func iocScopesOf(it *item.Item) ([]store.Scope, error) {
	a, err := audience(it)
	if err != nil {
		return nil, err
	}
	var out []store.Scope
	for _, c := range ioc.Classes(a) {
		out = append(out, classScope(it.Space(), c))
	}
	return out, nil
}

// iocBelongs decides whether an IOC item (or a tombstone) sent by peer in
// scope s may be stored: s must be one of the item's classes and one of the
// classes this node reconciles with peer, which is ioc.MayExchange.
func (n *Node) iocBelongs(peer identity.ID, s store.Scope, it *item.Item) bool {
	offered := false
	for _, sc := range n.iocScopes(peer) {
		offered = offered || sc == s
	}
	if !offered {
		return false
	}
	if it.Kind() == item.KindTombstone {
		// A tombstone deletes only its author's item (item.Deletes); in a
		// direct class only the pair may write at all.
		for _, name := range n.collections() {
			sp := collectionSpace(name)
			if it.Space() != sp {
				continue
			}
			if s == classScope(sp, ioc.Class{Level: ioc.ClassPublic}) || s == classScope(sp, ioc.Class{Level: ioc.ClassTrusted}) {
				return true
			}
			return it.Author() == peer || it.Author() == n.id
		}
		return false
	}
	scopes, err := iocScopesOf(it)
	return err == nil && slices.Contains(scopes, s)
}

// IOC is an indicator as the API shows it.
type IOC struct {
	ID          string     `json:"id"`         // item ID: this statement
	ContentID   string     `json:"content_id"` // the indicator: same type and value, same ID
	Collection  string     `json:"collection"`
	Author      string     `json:"author"`
	Type        string     `json:"type"`
	Value       string     `json:"value"`
	TLP         string     `json:"tlp"`
	Confidence  *int       `json:"confidence,omitempty"`
	Tags        []string   `json:"tags,omitempty"`
	Description string     `json:"description,omitempty"`
	ValidUntil  *time.Time `json:"valid_until,omitempty"`
	References  []string   `json:"references,omitempty"`
	Recipients  []string   `json:"recipients,omitempty"`
	Created     time.Time  `json:"created"`
	Expired     bool       `json:"expired,omitempty"`
}

// DropRequest is POST /v1/iocs.
type DropRequest struct {
	Collection  string     `json:"collection"`
	Type        string     `json:"type"`
	Value       string     `json:"value"`
	TLP         string     `json:"tlp"`
	Confidence  *int       `json:"confidence"`
	Tags        []string   `json:"tags"`
	Description string     `json:"description"`
	ValidUntil  *time.Time `json:"valid_until"`
	References  []string   `json:"references"`
	To          []string   `json:"to"`
}

// DropIOC publishes an indicator into a collection. CLEAR and GREEN go in
// the clear inside the signed item; AMBER, AMBER+STRICT and RED are sealed to
// the named recipients (and to us) and reach no one else.
func (n *Node) DropIOC(req DropRequest) (*IOC, error) {
	if req.Collection == "" {
		req.Collection = DefaultCollection
	}
	if err := checkCollection(req.Collection); err != nil {
		return nil, err
	}
	t, err := ioc.ParseType(req.Type)
	if err != nil {
		return nil, badRequest("types: ipv4 ipv6 cidr domain hostname url email md5 sha1 sha256 cve", "%v", err)
	}
	if req.TLP == "" {
		req.TLP = "clear"
	}
	tlp, err := ioc.ParseTLP(req.TLP)
	if err != nil {
		return nil, badRequest("TLP is clear, green, amber, amber+strict or red", "%v", err)
	}
	rec := ioc.Record{Type: t, Value: req.Value, TLP: tlp, Confidence: ioc.NoConfidence,
		Tags: req.Tags, Description: req.Description, References: req.References}
	if req.Confidence != nil {
		rec.Confidence = *req.Confidence
	}
	if req.ValidUntil != nil {
		rec.ValidUntil = *req.ValidUntil
	}
	var keys []*recipient.PublicKey
	for _, p := range req.To {
		id, err := n.ResolvePeer(p)
		if err != nil {
			return nil, err
		}
		pk, err := n.peerKey(id)
		if err != nil {
			return nil, badRequest("sync with the peer once (it must have been online) so its key is known", "no encryption key known for %s yet", id.Short())
		}
		rec.Recipients = append(rec.Recipients, id)
		keys = append(keys, pk)
	}
	if tlp.Restricted() && len(keys) == 0 {
		return nil, badRequest("name the recipients with --to", "TLP %s needs recipients", tlp)
	}
	if !tlp.Restricted() && len(keys) > 0 {
		return nil, badRequest("recipients are only for amber, amber+strict and red", "TLP %s is not addressed to recipients", tlp)
	}
	if err := rec.Normalize(); err != nil {
		return nil, badRequest("see docs/ioc.md for the fields", "%v", err)
	}
	sp := collectionSpace(req.Collection)
	now := n.cfg.Now()
	var it *item.Item
	if tlp.Restricted() {
		pt, err := rec.Encode()
		if err != nil {
			return nil, err
		}
		sealed, err := recipient.Seal(n.cfg.Rand, pt, ioc.SealAAD(sp, n.id), append(keys, n.rkey.Public()))
		if err != nil {
			return nil, err
		}
		if it, err = item.New(n.key, ioc.KindSealed, sp, now, sealed); err != nil {
			return nil, err
		}
	} else if it, err = ioc.NewItem(n.key, sp, now, &rec); err != nil {
		return nil, badRequest("see docs/ioc.md for the fields", "%v", err)
	}
	if err := n.storeIOCItems(req.Collection, it); err != nil {
		return nil, err
	}
	return n.iocFrom(it, req.Collection)
}

// storeIOCItems stores local IOC items (or their tombstones) in their
// scopes and pushes them to every live session that shares a scope.
func (n *Node) storeIOCItems(collection string, items ...*item.Item) error {
	if err := n.addCollection(collection); err != nil {
		return err
	}
	var entries []store.Entry
	for _, it := range items {
		scopes, err := iocScopesOf(it)
		if err != nil {
			return err
		}
		entries = append(entries, store.Entry{Item: it, Scopes: scopes})
	}
	if _, err := n.db.PutItems(entries); err != nil {
		return err
	}
	n.pushToAll(entries)
	return nil
}

// record opens an IOC item as this node can: plain ones always, sealed ones
// only if we are among the recipients.
func (n *Node) record(it *item.Item) (ioc.Record, error) {
	if it.Kind() == ioc.Kind {
		return ioc.FromItem(it)
	}
	pt, err := recipient.Open(it.Payload(), ioc.SealAAD(it.Space(), it.Author()), n.rkey)
	if err != nil {
		return ioc.Record{}, err
	}
	ids, err := recipient.Recipients(it.Payload())
	if err != nil {
		return ioc.Record{}, err
	}
	var stanzas []identity.ID
	for _, id := range ids {
		if id != it.Author() {
			stanzas = append(stanzas, id)
		}
	}
	return ioc.FromSealed(it, pt, stanzas)
}

func (n *Node) iocFrom(it *item.Item, collection string) (*IOC, error) {
	r, err := n.record(it)
	if err != nil {
		return nil, err
	}
	id, cid := it.ID(), r.ContentID()
	out := &IOC{ID: id.String(), ContentID: cid.String(), Collection: collection, Author: it.Author().String(),
		Type: r.Type.String(), Value: r.Value, TLP: r.TLP.Name(), Tags: r.Tags, Description: r.Description,
		References: r.References, Created: it.Created(), Expired: r.Expired(n.cfg.Now())}
	if r.Confidence != ioc.NoConfidence {
		c := r.Confidence
		out.Confidence = &c
	}
	if !r.ValidUntil.IsZero() {
		t := r.ValidUntil
		out.ValidUntil = &t
	}
	for _, p := range r.Recipients {
		out.Recipients = append(out.Recipients, p.String())
	}
	return out, nil
}

// IOCFilter selects what ListIOCs returns.
type IOCFilter struct {
	Collection     string
	TLP, Type      string
	Author         *identity.ID
	Since          time.Time
	IncludeExpired bool
}

// ListIOCs lists the current statements (the newest per author and
// indicator, last-writer-wins) this node can read, oldest first.
func (n *Node) ListIOCs(f IOCFilter) ([]*IOC, error) {
	var out []*IOC
	for _, name := range n.collections() {
		if f.Collection != "" && f.Collection != name {
			continue
		}
		winners := map[item.Key]*IOC{}
		versions := map[item.Key]item.Version{}
		err := n.db.SpaceItems(collectionSpace(name), func(it *item.Item) error {
			if it.Kind() != ioc.Kind && it.Kind() != ioc.KindSealed {
				return nil
			}
			r, err := n.record(it)
			if err != nil {
				return nil // sealed to others, or unreadable: not ours to list
			}
			k, v := ioc.LogicalKey(it, &r), item.VersionOf(it)
			if old, ok := versions[k]; ok && !v.Newer(old) {
				return nil
			}
			x, err := n.iocFrom(it, name)
			if err != nil {
				return nil
			}
			versions[k], winners[k] = v, x
			return nil
		})
		if err != nil {
			return nil, err
		}
		for _, x := range winners {
			if (x.Expired && !f.IncludeExpired) || (f.TLP != "" && x.TLP != f.TLP) || (f.Type != "" && x.Type != f.Type) ||
				(f.Author != nil && x.Author != f.Author.String()) || x.Created.Before(f.Since) {
				continue
			}
			out = append(out, x)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// ShowIOC finds statements by item ID or content ID (hex, or a unique
// prefix of at least 8 characters).
func (n *Node) ShowIOC(ref string) ([]*IOC, error) {
	ref = strings.ToLower(strings.TrimSpace(ref))
	if len(ref) < 8 || len(ref) > 64 {
		return nil, badRequest("give an item ID or content ID (hex, 8 to 64 characters)", "bad IOC id %q", ref)
	}
	if _, err := hex.DecodeString(ref[:len(ref)&^1]); err != nil {
		return nil, badRequest("IDs are hexadecimal", "bad IOC id %q", ref)
	}
	all, err := n.ListIOCs(IOCFilter{IncludeExpired: true})
	if err != nil {
		return nil, err
	}
	var out []*IOC
	for _, x := range all {
		if strings.HasPrefix(x.ID, ref) || strings.HasPrefix(x.ContentID, ref) {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		return nil, notFound("list them with 'ghostwire ioc list'", "no IOC %s held here", ref)
	}
	return out, nil
}

// RetractIOC publishes a signed tombstone for one of our own IOC items; it
// reaches exactly the peers that may hold the item.
func (n *Node) RetractIOC(ref string) (*IOC, error) {
	found, err := n.ShowIOC(ref)
	if err != nil {
		return nil, err
	}
	var mine []*IOC
	for _, x := range found {
		if x.Author == n.id.String() {
			mine = append(mine, x)
		}
	}
	if len(mine) != 1 {
		return nil, badRequest("give the item ID of one of your own IOCs", "%d of your IOCs match %q", len(mine), ref)
	}
	raw, _ := hex.DecodeString(mine[0].ID)
	target, _, err := n.db.GetItem(item.ID(raw))
	if err != nil {
		return nil, err
	}
	t, err := item.NewTombstone(n.key, target, n.cfg.Now())
	if err != nil {
		return nil, err
	}
	scopes, err := iocScopesOf(target)
	if err != nil {
		return nil, err
	}
	entries := []store.Entry{{Item: t, Scopes: scopes}}
	if _, err := n.db.PutItems(entries); err != nil {
		return nil, err
	}
	n.pushToAll(entries)
	return mine[0], nil
}

// pushToAll hands stored entries to every live session sharing a scope.
func (n *Node) pushToAll(entries []store.Entry) {
	n.notifyChanged()
	n.mu.Lock()
	live := make([]*peerSession, 0, len(n.sessions))
	for _, ps := range n.sessions {
		live = append(live, ps)
	}
	n.mu.Unlock()
	for _, ps := range live {
		shared := map[store.Scope]bool{}
		for _, s := range n.scopesFor(ps.peer) {
			shared[s] = true
		}
		for _, e := range entries {
			for _, s := range e.Scopes {
				if shared[s] {
					n.pushTo(ps, s, e.Item)
					break
				}
			}
		}
	}
	n.poke()
}

func (n *Node) registerIOCRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/iocs", n.handle(func(r *http.Request) (int, any, error) {
		var req DropRequest
		if err := decodeBody(r, &req); err != nil {
			return 0, nil, err
		}
		x, err := n.DropIOC(req)
		return http.StatusCreated, x, err
	}))
	mux.HandleFunc("GET /v1/iocs", n.handle(func(r *http.Request) (int, any, error) {
		q := r.URL.Query()
		f := IOCFilter{Collection: q.Get("collection"), TLP: q.Get("tlp"), Type: q.Get("type"), IncludeExpired: q.Get("expired") != ""}
		if a := q.Get("author"); a != "" {
			id, err := n.resolveAuthor(a)
			if err != nil {
				return 0, nil, err
			}
			f.Author = &id
		}
		if s := q.Get("since"); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return 0, nil, badRequest("use RFC 3339, e.g. 2026-11-23T00:00:00Z", "bad since: %v", err)
			}
			f.Since = t
		}
		list, err := n.ListIOCs(f)
		if list == nil {
			list = []*IOC{}
		}
		return http.StatusOK, list, err
	}))
	mux.HandleFunc("GET /v1/iocs/{id}", n.handle(func(r *http.Request) (int, any, error) {
		x, err := n.ShowIOC(r.PathValue("id"))
		return http.StatusOK, x, err
	}))
	mux.HandleFunc("DELETE /v1/iocs/{id}", n.handle(func(r *http.Request) (int, any, error) {
		x, err := n.RetractIOC(r.PathValue("id"))
		return http.StatusOK, x, err
	}))
}

// resolveAuthor accepts our own address too (authors need not be peers).
func (n *Node) resolveAuthor(s string) (identity.ID, error) {
	if id, err := identity.ParseID(s); err == nil {
		return id, nil
	}
	return n.peerByName(s)
}
