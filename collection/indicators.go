package collection

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/ioc"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/store"
	"slices"
	"sort"
	"strings"
	"time"
)

// IOC is an indicator as the API shows it.
type IOC = apitype.IOC

// DropRequest is POST /v1/iocs.
type DropRequest = apitype.DropRequest

// Drop publishes an indicator into a collection. CLEAR and GREEN go in
// the clear inside the signed item; AMBER, AMBER+STRICT and RED are sealed to
// the named recipients (and to us) and reach no one else.
func (s *Service) Drop(req DropRequest) (*IOC, error) {
	if req.Collection == "" {
		req.Collection = Default
	}
	if err := checkCollection(req.Collection); err != nil {
		return nil, err
	}
	t, err := ioc.ParseType(req.Type)
	if err != nil {
		return nil, fault.Invalidf("types: ipv4 ipv6 cidr domain hostname url email md5 sha1 sha256 cve", "%v", err)
	}
	if req.TLP == "" {
		req.TLP = "clear"
	}
	tlp, err := ioc.ParseTLP(req.TLP)
	if err != nil {
		return nil, fault.Invalidf("TLP is clear, green, amber, amber+strict or red", "%v", err)
	}
	rec := ioc.Record{Type: t, Value: req.Value, TLP: tlp, Confidence: ioc.NoConfidence,
		Tags: req.Tags, Description: req.Description, References: req.References}
	if req.Confidence != nil {
		rec.Confidence = *req.Confidence
	}
	if req.ValidUntil != nil {
		rec.ValidUntil = *req.ValidUntil
	}
	ids, keys, err := s.recipientKeys(req.To)
	if err != nil {
		return nil, err
	}
	rec.Recipients = ids
	if tlp.Restricted() && len(keys) == 0 {
		return nil, fault.New(fault.NeedsRecipients, "name the recipients in to", "TLP %s needs recipients", tlp)
	}
	if !tlp.Restricted() && len(keys) > 0 {
		return nil, fault.Invalidf("recipients are only for amber, amber+strict and red", "TLP %s is not addressed to recipients", tlp)
	}
	if err := rec.Normalize(); err != nil {
		return nil, fault.Invalidf("see docs/ioc.md for the fields", "%v", err)
	}
	it, err := s.iocItem(req.Collection, s.h.Now(), &rec, keys)
	if err != nil {
		return nil, err
	}
	if err := s.Add(req.Collection, it); err != nil {
		return nil, err
	}
	return s.show1(it, req.Collection)
}

// recipientKeys resolves --to peers and their certified recipient keys.
func (s *Service) recipientKeys(to []string) ([]identity.ID, []*recipient.PublicKey, error) {
	var ids []identity.ID
	var keys []*recipient.PublicKey
	for _, p := range to {
		id, err := s.h.ResolvePeer(p)
		if err != nil {
			return nil, nil, err
		}
		pk, err := s.h.PeerKey(id)
		if err != nil {
			return nil, nil, fault.Invalidf("sync with the peer once (it must have been online) so its key is known", "no encryption key known for %s yet", id.Short())
		}
		ids, keys = append(ids, id), append(keys, pk)
	}
	return ids, keys, nil
}

// iocItem signs a normalised record as an item of the collection: in the
// clear for CLEAR and GREEN, sealed to keys and to us for the restricted
// levels, then naming the collection inside the seal so that a recipient
// that does not hold the collection can file it (docs/protocol.md §5.8).
// The node's current signing subkey signs it (docs/protocol.md §5.9).
func (s *Service) iocItem(collection string, now time.Time, rec *ioc.Record, keys []*recipient.PublicKey) (*item.Item, error) {
	sp := item.CollectionSpace(collection)
	signer, err := s.h.Signer()
	if err != nil {
		return nil, err
	}
	if !rec.TLP.Restricted() {
		it, err := ioc.NewItem(signer, sp, now, rec)
		if err != nil {
			return nil, fault.Invalidf("see docs/ioc.md for the fields", "%v", err)
		}
		return it, nil
	}
	named := *rec
	named.Collection = collection
	pt, err := named.Encode()
	if err != nil {
		return nil, err
	}
	sealed, err := recipient.Seal(s.h.Rand(), pt, ioc.SealAAD(sp, s.h.ID()), append(slices.Clip(keys), s.h.RecipientKey().Public()))
	if err != nil {
		return nil, err
	}
	return item.New(signer, item.KindIOCSealed, sp, now, sealed)
}

// Add stores our own IOC items (or their tombstones) in a collection, in
// their scopes, and has them sent to every peer that shares one.
func (s *Service) Add(collection string, items ...*item.Item) error {
	if err := s.addCollection(collection); err != nil {
		return err
	}
	var entries []store.Entry
	adm := s.h.Admission()
	for _, it := range items {
		scopes, err := ScopesOf(it)
		if err != nil {
			return err
		}
		if err := adm.Admit(it, scopes); err != nil {
			return refusedHere(collection, err)
		}
		entries = append(entries, store.Entry{Item: it, Scopes: scopes})
	}
	_, err := s.h.Publish(entries, s.Expiries(items))
	return err
}

// refusedHere is the error for our own item that admission refused.
func refusedHere(collection string, err error) error {
	if fault.KindOf(err) == fault.Full {
		return &fault.Error{Kind: fault.Full, Msg: fmt.Sprintf("collection %q is full here: %v", collection, err),
			Hint: "retract indicators you no longer need, or use another collection"}
	}
	return err
}

// record opens an IOC item as this node can: plain ones always, sealed ones
// only if we are among the recipients.
func (s *Service) record(it *item.Item) (ioc.Record, error) {
	if it.Kind() == item.KindIOC {
		return ioc.FromItem(it)
	}
	pt, err := recipient.Open(it.Payload(), ioc.SealAAD(it.Space(), it.Author()), s.h.RecipientKey())
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

func (s *Service) show1(it *item.Item, collection string) (*IOC, error) {
	r, err := s.record(it)
	if err != nil {
		return nil, err
	}
	return s.shown(it, &r, collection), nil
}

// shown shows an opened record of item it as the API does.
func (s *Service) shown(it *item.Item, r *ioc.Record, collection string) *IOC {
	return s.shownOf(it.ID(), it.Author(), it.Created(), r, collection)
}

// shownOf is shown from the facts of an item instead of the item.
func (s *Service) shownOf(id item.ID, author identity.ID, created time.Time, r *ioc.Record, collection string) *IOC {
	cid := r.ContentID()
	out := &IOC{ID: id.String(), ContentID: cid.String(), Collection: collection, Author: author.String(),
		Type: r.Type.String(), Value: r.Value, TLP: r.TLP.Name(), Tags: r.Tags, Description: r.Description,
		References: r.References, Created: created, Expired: r.Expired(s.h.Now())}
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

// Filter selects what List returns.
type Filter struct {
	Collection     string
	TLP, Type      string
	Author         *identity.ID
	Since          time.Time
	IncludeExpired bool
	// SourceTrust, if set, scores each author (0 to 1, docs/reputation.md):
	// the score is shown with each IOC and exported as STIX confidence,
	// and authors scoring below MinTrust are left out.
	SourceTrust func(identity.ID) float64
	MinTrust    float64
	// Sightings, if set, gives the current sightings of an IOC item;
	// export writes those of every statement of an indicator with it
	// (docs/taxii.md, "Sightings").
	Sightings Sightings
}

// Sightings gives the current sightings of the IOC item id (rating's
// SightingsByTarget); nil has none.
type Sightings func(id item.ID) []ioc.Sighting

// of returns the sightings of every item in ids, oldest first.
func (f Sightings) of(ids []item.ID) []ioc.Sighting {
	if f == nil {
		return nil
	}
	var out []ioc.Sighting
	for _, id := range ids {
		out = append(out, f(id)...)
	}
	slices.SortFunc(out, func(a, b ioc.Sighting) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.ID, b.ID))
	})
	return out
}

// List lists the current statements (the newest per author and
// indicator, last-writer-wins) this node can read, oldest first. It holds
// the whole listing: the API streams with ListEach instead.
func (s *Service) List(f Filter) ([]*IOC, error) {
	var out []*IOC
	err := s.ListEach(f, func(x *IOC) error {
		out = append(out, x)
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.Created.Equal(b.Created) {
			return a.Created.Before(b.Created)
		}
		return a.ID < b.ID
	})
	return out, err
}

// Show finds statements by item ID or content ID (hex, or a unique
// prefix of at least 8 characters) by key, in O(log n) whatever the store
// holds (lookup.go): an item ID names that statement (even one a newer
// statement replaced); a content ID gives each author's current statement
// of that indicator.
func (s *Service) Show(ref string) ([]*IOC, error) {
	ref = strings.ToLower(strings.TrimSpace(ref))
	if len(ref) < 8 || len(ref) > 64 {
		return nil, fault.Invalidf("give an item ID or content ID (hex, 8 to 64 characters)", "bad IOC id %q", ref)
	}
	prefix, err := hex.DecodeString(ref[:len(ref)&^1])
	if err != nil {
		return nil, fault.Invalidf("IDs are hexadecimal", "bad IOC id %q", ref)
	}
	out, err := s.byItemID(ref, prefix)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		if out, err = s.byContentID(ref, prefix); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, fault.New(fault.UnknownIOC, "list the IOCs held here", "no IOC %s held here", ref)
	}
	return out, nil
}

// Retract retracts one of our indicators: a signed tombstone for every
// version of it we stated (the same logical key, docs/ioc.md), so no older
// statement becomes current again. Each reaches exactly the peers that may
// hold its target.
func (s *Service) Retract(ref string) (*IOC, error) {
	found, err := s.Show(ref)
	if err != nil {
		return nil, err
	}
	var mine []*IOC
	for _, x := range found {
		if x.Author == s.h.ID().String() {
			mine = append(mine, x)
		}
	}
	if len(mine) != 1 {
		return nil, fault.Invalidf("give the item ID of one of your own IOCs", "%d of your IOCs match %q", len(mine), ref)
	}
	raw, _ := hex.DecodeString(mine[0].ID)
	current, _, err := s.h.Store().GetItem(item.ID(raw))
	if err != nil {
		return nil, err
	}
	r, err := s.record(current)
	if err != nil {
		return nil, err
	}
	key := ioc.LogicalKey(current, &r)
	var versions []*item.Item
	err = s.h.Store().SpaceItems(current.Space(), func(it *item.Item) error {
		if it.Author() != s.h.ID() || (it.Kind() != item.KindIOC && it.Kind() != item.KindIOCSealed) {
			return nil
		}
		if r, err := s.record(it); err == nil && ioc.LogicalKey(it, &r) == key {
			versions = append(versions, it)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	now := s.h.Now()
	var entries []store.Entry
	for _, v := range versions {
		t, err := item.NewTombstone(s.h.Key(), v, now)
		if err != nil {
			return nil, err
		}
		scopes, err := ScopesOf(v)
		if err != nil {
			return nil, err
		}
		entries = append(entries, store.Entry{Item: t, Scopes: scopes})
	}
	if _, err := s.h.Publish(entries, nil); err != nil {
		return nil, err
	}
	return mine[0], nil
}

// Expiries reads the expiry of IOC items we can read; items without one,
// and items that are not IOCs, give none.
func (s *Service) Expiries(items []*item.Item) []item.Expiry {
	var out []item.Expiry
	for _, it := range items {
		if it.Kind() != item.KindIOC && it.Kind() != item.KindIOCSealed {
			continue
		}
		if r, err := s.record(it); err == nil && !r.ValidUntil.IsZero() {
			out = append(out, item.Expiry{ID: it.ID(), Until: r.ValidUntil})
		}
	}
	return out
}
