package node

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/ioc"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/recon"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/syncproto"
)

// Collections (docs/ioc.md, docs/protocol.md §10.1).
const (
	collectionSpaceLabel = "ghostwire space: collection v1"
	// DefaultCollection is where IOCs go unless another is named.
	DefaultCollection = "default"
	maxCollectionName = 64
	bucketCollection  = "collection" // name → empty: collections this node holds and offers
	// bucketIOCExpiry indexes IOC items by expiry: valid-until (unix ms,
	// 8 bytes big endian, so keys sort by time) ‖ item ID → empty.
	bucketIOCExpiry = "iocexpiry"
)

func collectionSpace(name string) item.Space {
	h := sha256.New()
	h.Write([]byte(collectionSpaceLabel))
	h.Write([]byte(name))
	return item.Space(h.Sum(nil))
}

// classScope names a collection seen through one TLP visibility class.
func classScope(sp item.Space, c ioc.Class) item.Scope {
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
func (n *Node) iocScopes(peer identity.ID) []item.Scope {
	return n.classScopes(peer, func(ioc.Class) bool { return true })
}

// ownScopes lists the scopes only we and peer share: the pair scope and, per
// collection, the direct classes each way (not those every peer shares).
func (n *Node) ownScopes(peer identity.ID) []item.Scope {
	direct := func(c ioc.Class) bool { return c.Level != ioc.ClassPublic && c.Level != ioc.ClassTrusted }
	return append([]item.Scope{pairScope(n.id, peer)}, n.classScopes(peer, direct)...)
}

func (n *Node) classScopes(peer identity.ID, keep func(ioc.Class) bool) []item.Scope {
	var out []item.Scope
	for _, name := range n.collections() {
		sp := collectionSpace(name)
		for _, c := range ioc.PeerClasses(n.id, peer, n.trusts(peer)) {
			if keep(c) {
				out = append(out, classScope(sp, c))
			}
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
func iocScopesOf(it *item.Item) ([]item.Scope, error) {
	a, err := audience(it)
	if err != nil {
		return nil, err
	}
	var out []item.Scope
	for _, c := range ioc.Classes(a) {
		out = append(out, classScope(it.Space(), c))
	}
	return out, nil
}

// iocScopeCheck is scopeCheck for collection scopes: s must be offered to
// peer, and each item must have s among its classes, which is
// ioc.MayExchange. It does the per-scope part once (is s offered, in which
// collection and class) and returns the per-item part.
func (n *Node) iocScopeCheck(peer identity.ID, s item.Scope) func(*item.Item) bool {
	if !slices.Contains(n.iocScopes(peer), s) {
		return func(*item.Item) bool { return false }
	}
	var space item.Space
	shared := false // public or trusted class: anyone's tombstone may travel
	for _, name := range n.collections() {
		sp := collectionSpace(name)
		if s == classScope(sp, ioc.Class{Level: ioc.ClassPublic}) || s == classScope(sp, ioc.Class{Level: ioc.ClassTrusted}) {
			space, shared = sp, true
			break
		}
		for _, c := range ioc.PeerClasses(n.id, peer, n.trusts(peer)) {
			if classScope(sp, c) == s {
				space = sp
			}
		}
	}
	return func(it *item.Item) bool {
		if it.Space() != space {
			return false
		}
		if it.Kind() == item.KindTombstone {
			// A tombstone deletes only its author's item (item.Deletes); in
			// a direct class only the pair may write at all.
			return shared || it.Author() == peer || it.Author() == n.id
		}
		scopes, err := iocScopesOf(it)
		return err == nil && slices.Contains(scopes, s)
	}
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
	ids, keys, err := n.recipientKeys(req.To)
	if err != nil {
		return nil, err
	}
	rec.Recipients = ids
	if tlp.Restricted() && len(keys) == 0 {
		return nil, errorf(NeedsRecipients, "name the recipients in to", "TLP %s needs recipients", tlp)
	}
	if !tlp.Restricted() && len(keys) > 0 {
		return nil, badRequest("recipients are only for amber, amber+strict and red", "TLP %s is not addressed to recipients", tlp)
	}
	if err := rec.Normalize(); err != nil {
		return nil, badRequest("see docs/ioc.md for the fields", "%v", err)
	}
	it, err := n.iocItem(collectionSpace(req.Collection), n.cfg.Now(), &rec, keys)
	if err != nil {
		return nil, err
	}
	if err := n.storeIOCItems(req.Collection, it); err != nil {
		return nil, err
	}
	return n.iocFrom(it, req.Collection)
}

// recipientKeys resolves --to peers and their certified recipient keys.
func (n *Node) recipientKeys(to []string) ([]identity.ID, []*recipient.PublicKey, error) {
	var ids []identity.ID
	var keys []*recipient.PublicKey
	for _, p := range to {
		id, err := n.ResolvePeer(p)
		if err != nil {
			return nil, nil, err
		}
		pk, err := n.peerKey(id)
		if err != nil {
			return nil, nil, badRequest("sync with the peer once (it must have been online) so its key is known", "no encryption key known for %s yet", id.Short())
		}
		ids, keys = append(ids, id), append(keys, pk)
	}
	return ids, keys, nil
}

// iocItem signs a normalised record as an item of space sp: in the clear
// for CLEAR and GREEN, sealed to keys and to us for the restricted levels.
func (n *Node) iocItem(sp item.Space, now time.Time, rec *ioc.Record, keys []*recipient.PublicKey) (*item.Item, error) {
	if !rec.TLP.Restricted() {
		it, err := ioc.NewItem(n.key, sp, now, rec)
		if err != nil {
			return nil, badRequest("see docs/ioc.md for the fields", "%v", err)
		}
		return it, nil
	}
	pt, err := rec.Encode()
	if err != nil {
		return nil, err
	}
	sealed, err := recipient.Seal(n.cfg.Rand, pt, ioc.SealAAD(sp, n.id), append(slices.Clip(keys), n.rkey.Public()))
	if err != nil {
		return nil, err
	}
	return item.New(n.key, ioc.KindSealed, sp, now, sealed)
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
	if _, err := n.putItems(entries, n.expiryOf(items)); err != nil {
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
	return n.iocOf(it, &r, collection), nil
}

// iocOf shows an opened record of item it as the API does.
func (n *Node) iocOf(it *item.Item, r *ioc.Record, collection string) *IOC {
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
	return out
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
	ls, err := n.currentIOCs(f)
	out := make([]*IOC, len(ls))
	for i, l := range ls {
		out[i] = l.x
	}
	return out, err
}

// listed is one current statement: as the API shows it and as export
// writes it.
type listed struct {
	x     *IOC
	entry ioc.Entry
}

func (n *Node) currentIOCs(f IOCFilter) ([]listed, error) {
	var out []listed
	for _, name := range n.collections() {
		if f.Collection != "" && f.Collection != name {
			continue
		}
		winners := map[item.Key]listed{}
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
			x := n.iocOf(it, &r, name)
			versions[k] = v
			winners[k] = listed{x: x, entry: ioc.Entry{Record: r, Author: it.Author(), Created: it.Created()}}
			return nil
		})
		if err != nil {
			return nil, err
		}
		for _, l := range winners {
			x := l.x
			if (x.Expired && !f.IncludeExpired) || (f.TLP != "" && x.TLP != f.TLP) || (f.Type != "" && x.Type != f.Type) ||
				(f.Author != nil && x.Author != f.Author.String()) || x.Created.Before(f.Since) {
				continue
			}
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].x, out[j].x
		if !a.Created.Equal(b.Created) {
			return a.Created.Before(b.Created)
		}
		return a.ID < b.ID
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
		return nil, errorf(UnknownIOC, "list the IOCs held here", "no IOC %s held here", ref)
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

// maxFetchWait bounds how long a fetch waits for its syncs.
const maxFetchWait = 2 * time.Minute

// FetchWait clamps a requested fetch wait to [1 s, maxFetchWait], once for
// the reply's deadline and the fetch alike (a negative one had set the
// deadline in the past).
func FetchWait(d time.Duration) time.Duration { return min(max(d, time.Second), maxFetchWait) }

// FetchIOC gets an IOC by content ID (or item ID) from peers: it restarts
// the session with every connected peer, which makes each reconcile afresh,
// and waits until those syncs complete (or wait passes) before looking
// again. It asks for nothing by ID: a peer sends only what the scopes it
// shares with us hold, so a fetch can never reveal an IOC outside its TLP,
// and a peer that may not share it answers exactly as one that lacks it
// (docs/ioc.md §8).
func (n *Node) FetchIOC(ctx context.Context, ref string, wait time.Duration) (*FetchResult, error) {
	if found, err := n.ShowIOC(ref); err == nil {
		return &FetchResult{IOCs: found, Synced: []string{}, Held: true}, nil
	} else if KindOf(err) != UnknownIOC {
		return nil, err
	}
	wait = FetchWait(wait)
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	n.mu.Lock()
	var live []identity.ID
	for p := range n.sessions {
		live = append(live, p)
	}
	first := n.sessionSeq + 1 // the first session to start after this
	n.mu.Unlock()
	// The sessions running now reconciled before the fetch began: end
	// them, and count only syncs by sessions that start after it.
	for _, p := range live {
		n.endSession(p)
	}
	n.urge()
	want := len(live)
	if want == 0 {
		// Nobody connected: wait for every known peer (the dialer tries
		// them all now), or for the deadline.
		want = len(n.peerIDs())
	}
	res := &FetchResult{Synced: []string{}}
	for {
		ch := n.changedCh()
		res.Synced = res.Synced[:0]
		peers := n.peerIDs()
		n.mu.Lock()
		for _, p := range peers {
			if n.synced[p] >= first {
				res.Synced = append(res.Synced, p.String())
			}
		}
		n.mu.Unlock()
		found, err := n.ShowIOC(ref)
		if err == nil {
			res.IOCs = found
			return res, nil
		}
		if len(res.Synced) >= want {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			if len(res.Synced) == 0 {
				return res, errorf(NotSynced, "no sync completed in time; check the node's status and try again", "no peer synced within %s; %s not found", wait, ref)
			}
			return res, notFound("no peer you share its TLP class with holds it", "%s not found after syncing with %d peers", ref, len(res.Synced))
		}
	}
	return res, notFound("no peer you share its TLP class with holds it", "%s not found after syncing with %d peers", ref, len(res.Synced))
}

// iocExpiry is when one stored IOC item expires.
type iocExpiry struct {
	id    item.ID
	until time.Time
}

// expiryOf reads the expiry of IOC items we can read; items without one,
// and items that are not IOCs, give none.
func (n *Node) expiryOf(items []*item.Item) []iocExpiry {
	var out []iocExpiry
	for _, it := range items {
		if it.Kind() != ioc.Kind && it.Kind() != ioc.KindSealed {
			continue
		}
		if r, err := n.record(it); err == nil && !r.ValidUntil.IsZero() {
			out = append(out, iocExpiry{it.ID(), r.ValidUntil})
		}
	}
	return out
}

// putItems stores entries whose IOC items expire as exp says. The expiry
// index (which lets the sync engine leave expired IOCs out of the sets it
// offers, iocExpiries) is written first: a stop between the two writes then
// leaves at worst an index entry for an item never stored, which is
// harmless, never a stored IOC offered for ever. The cached scope sets hear
// of the expiries once the items are in.
func (n *Node) putItems(entries []store.Entry, exp []iocExpiry) (added int, err error) {
	if len(exp) > 0 {
		err := n.db.Update(func(tx *store.Tx) error {
			for _, e := range exp {
				k := binary.BigEndian.AppendUint64(nil, uint64(max(e.until.UnixMilli(), 0)))
				if err := tx.Put(bucketIOCExpiry, append(k, e.id[:]...), nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	if added, err = n.db.PutItems(entries); err != nil {
		return added, err
	}
	n.sets.expiring(exp)
	return added, nil
}

// iocExpiries reads the expiry index: the IOC items expired at now, and
// the expiries still ahead.
func (n *Node) iocExpiries(now time.Time) (expired map[item.ID]bool, ahead []iocExpiry, err error) {
	expired = map[item.ID]bool{}
	limit := now.UnixMilli()
	err = n.db.View(func(tx *store.Tx) error {
		return tx.ScanKeys(bucketIOCExpiry, nil, func(k []byte) error {
			if len(k) != 8+len(item.ID{}) {
				return nil
			}
			t, id := int64(binary.BigEndian.Uint64(k[:8])), item.ID(k[8:])
			if t > limit {
				ahead = append(ahead, iocExpiry{id, time.UnixMilli(t)})
			} else {
				expired[id] = true
			}
			return nil
		})
	})
	return expired, ahead, err
}

// pushToAll hands stored entries to every live session sharing a scope,
// and urges the dialer to reach the peers without a session that share one.
func (n *Node) pushToAll(entries []store.Entry) {
	n.notifyChanged()
	var idle []identity.ID
	for _, p := range n.peerIDs() {
		shared := map[item.Scope]bool{}
		for _, s := range n.scopesFor(p) {
			shared[s] = true
		}
		// One push per scope, however many items: an import of 100k
		// items must not start 100k goroutines.
		var order []item.Scope
		groups := map[item.Scope][]*item.Item{}
		for _, e := range entries {
			for _, s := range e.Scopes {
				if shared[s] {
					if groups[s] == nil {
						order = append(order, s)
					}
					groups[s] = append(groups[s], e.Item)
					break
				}
			}
		}
		if len(order) == 0 {
			continue
		}
		n.mu.Lock()
		ps := n.sessions[p]
		n.mu.Unlock()
		if ps == nil {
			idle = append(idle, p) // gets these when it next syncs: dial it now
			continue
		}
		for _, s := range order {
			n.pushItems(ps, s, groups[s])
		}
	}
	if len(idle) > 0 {
		n.urge(idle...)
	}
}

// pushItems queues stored items of one scope on a live session, which
// reads and sends them after its own traffic (syncproto.Session.Push): the
// caller never waits for the peer, and a large import queues 32 bytes per
// item, not the items.
func (n *Node) pushItems(ps *peerSession, s item.Scope, items []*item.Item) {
	ids := make([]recon.ID, len(items))
	for i, it := range items {
		ids[i] = recon.ID(it.ID())
	}
	switch err := ps.sess.Push(s, ids); {
	case errors.Is(err, syncproto.ErrNotShared):
		// The peer refused the scope this session; so would the next.
	case err != nil:
		n.log.Warn("live push failed; the next sync will carry it", "peer", ps.peer, "err", err)
		ps.cancel()
	}
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
