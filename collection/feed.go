package collection

import (
	"slices"
	"time"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/ioc"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/store"
)

// Feed limits (docs/api.md, GET /v1/iocs/feed).
const (
	// MaxFeedPage bounds one page: what a TAXII server answers for any
	// larger limit (TAXII 2.1 §3.4 lets a server choose a smaller page).
	MaxFeedPage = 1000
	// feedBudget bounds how many index entries one page reads past those
	// it returns, so a filter that matches little answers in bounded time
	// with a cursor to go on from, instead of scanning the collection.
	feedBudget = 10 * MaxFeedPage
	// feedTime bounds how long one page reads, for the same reason: the
	// API answers within its deadline (10 s) even on a slow disk, and the
	// client follows the cursor.
	feedTime = 3 * time.Second
)

// FeedQuery selects one page of a collection's feed.
type FeedQuery struct {
	Collection string
	After      Cursor
	Limit      int
	// TLPs are the levels shown; the others are left out. Empty: none.
	TLPs []ioc.TLP
	// IDs and Types, when set, keep only objects with one of these STIX
	// ids or types.
	IDs, Types []string
	// Sightings, if set, gives each statement's sightings, served right
	// after it (docs/taxii.md, "Sightings").
	Sightings Sightings
}

// ListEach calls fn with each current statement List would list for f,
// collection by collection in the order this node stored them, holding one
// batch at a time (Each): a listing of a million indicators starts at
// once and never sits in memory whole.
func (s *Service) ListEach(f Filter, fn func(*IOC) error) error {
	for _, name := range s.Names() {
		if f.Collection != "" && f.Collection != name {
			continue
		}
		err := s.Each(name, Cursor{}, false, func(l *Listed) error {
			x := l.IOC
			if (x.Expired && !f.IncludeExpired) || (f.TLP != "" && x.TLP != f.TLP) || (f.Type != "" && x.Type != f.Type) ||
				(f.Author != nil && x.Author != f.Author.String()) || x.Created.Before(f.Since) {
				return nil
			}
			score, keep := f.trusted(l.Entry.Author)
			if !keep {
				return nil
			}
			x.SourceTrust, l.Entry.SourceTrust = score, score
			return fn(x)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Feed returns one page of a collection's feed (docs/api.md): its current
// statements and retractions as STIX objects, in the order this node
// stored them, after q.After, each followed by its sightings. It reads
// the records from the added index (EachIndexed), at most q.Limit +
// feedBudget index entries for at most feedTime, so More may be true on a
// short page.
func (s *Service) Feed(q FeedQuery) (*apitype.FeedPage, error) {
	if q.Limit <= 0 || q.Limit > MaxFeedPage {
		q.Limit = MaxFeedPage
	}
	if !slices.Contains(s.Names(), q.Collection) {
		return nil, fault.New(fault.NotFound, "list the collections held here", "no collection %q here", q.Collection)
	}
	page := &apitype.FeedPage{Objects: []apitype.FeedObject{}}
	read := 0
	last := q.After
	until := time.Now().Add(feedTime)
	err := s.EachIndexed(q.Collection, q.After, true, func(l *Listed) error {
		read++
		if len(page.Objects) >= q.Limit || read > q.Limit+feedBudget || (read > 1 && time.Now().After(until)) {
			page.More = true
			return store.ErrStop
		}
		if !slices.Contains(q.TLPs, l.Entry.Record.TLP) {
			last = l.Cursor
			return nil
		}
		o, err := ioc.ObjectOf(&l.Entry, l.Retracted)
		if err != nil {
			return err
		}
		l.Entry.Sightings = q.Sightings.of([]item.ID{l.Cursor.ID})
		sg, err := ioc.SightingObjectsOf(&l.Entry)
		if err != nil {
			return err
		}
		objs := append([]ioc.STIXObject{o}, sg...)
		n := 0
		for _, o := range objs {
			if (len(q.IDs) == 0 || slices.Contains(q.IDs, o.ID)) && (len(q.Types) == 0 || slices.Contains(q.Types, o.Type)) {
				objs[n] = o
				n++
			}
		}
		// A statement and its sightings share one cursor, so they go on one
		// page: the page ends before them if they would overflow it.
		if len(page.Objects) > 0 && len(page.Objects)+n > q.Limit {
			page.More = true
			return store.ErrStop
		}
		last = l.Cursor
		for _, o := range objs[:n] {
			page.Objects = append(page.Objects, apitype.FeedObject{ID: o.ID, Type: o.Type, Version: o.Modified,
				Added: l.Added, TLP: l.Entry.Record.TLP.Name(), Cursor: l.Cursor.String(), Object: o.JSON})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if page.More {
		page.Next = last.String()
	}
	return page, nil
}
