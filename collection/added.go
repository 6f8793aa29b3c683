package collection

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/ioc"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/store"
)

// The added index (docs/ioc.md §8) orders a collection's indicators by
// when this node stored them, which is what a TAXII client's added_after
// and a listing's cursor need: an item created long ago that reaches us
// today is new to a subscriber, and sorting by creation time would hide it
// behind a cursor already past it. The node writes an item's entries in
// the transaction that stores it (Indexer), like the content index.
const (
	// bucketAdded: space ‖ added (Unix µs, 8 bytes big-endian) ‖ item ID.
	bucketAdded = "iocadded"
	// bucketFacts: item ID → added µs ‖ facts (iocFacts). What an IOC
	// item said stays here after a retraction deletes its bytes, so the
	// retraction can still be shown as the revoked object it ends.
	bucketFacts = "iocfacts"
	// bucketAddedDone holds one key ("old") once the added index covers
	// every item stored before it existed (indexAddedOld).
	bucketAddedDone = "iocadded-done"
)

const (
	factIOC        = 1
	factRetraction = 2
)

// facts is what the added index keeps of an item.
type facts struct {
	added      time.Time
	retraction bool
	target     item.ID // a retraction's
	// an IOC item's:
	created time.Time
	author  identity.ID
	space   item.Space
	tlp     ioc.TLP
	typ     ioc.Type
	value   string
}

func iocFacts(it *item.Item, r *ioc.Record) []byte {
	sp := it.Space()
	b := []byte{factIOC}
	b = binary.BigEndian.AppendUint64(b, uint64(it.CreatedMillis()))
	b = append(b, it.Author().Bytes()...)
	b = append(b, sp[:]...)
	b = append(b, byte(r.TLP), byte(r.Type))
	return append(b, r.Value...)
}

func decodeFacts(v []byte) (facts, bool) {
	var f facts
	if len(v) < 9 {
		return f, false
	}
	f.added = time.UnixMicro(int64(binary.BigEndian.Uint64(v))).UTC()
	v = v[8:]
	switch v[0] {
	case factRetraction:
		if len(v) != 1+item.IDSize {
			return f, false
		}
		f.retraction, f.target = true, item.ID(v[1:])
		return f, true
	case factIOC:
		const head = 1 + 8 + identity.IDSize + item.SpaceSize + 2
		if len(v) < head {
			return f, false
		}
		f.created = time.UnixMilli(int64(binary.BigEndian.Uint64(v[1:9]))).UTC()
		a, err := identity.NewID(v[9 : 9+identity.IDSize])
		if err != nil {
			return f, false
		}
		f.author = a
		f.space = item.Space(v[9+identity.IDSize : 9+identity.IDSize+item.SpaceSize])
		f.tlp, f.typ = ioc.TLP(v[head-2]), ioc.Type(v[head-1])
		f.value = string(v[head:])
		return f, f.tlp.Valid() && f.typ.Valid()
	}
	return f, false
}

func addedKey(sp item.Space, us int64, id item.ID) []byte {
	k := make([]byte, 0, item.SpaceSize+8+item.IDSize)
	k = append(k, sp[:]...)
	k = binary.BigEndian.AppendUint64(k, uint64(us))
	return append(k, id[:]...)
}

// Indexer returns what storing it must also write in its transaction: the
// content index and added index entries of an IOC item this node can read,
// or the added entry of a retraction of one. Nil if there is nothing.
//
// The added time is taken inside the transaction, strictly after every one
// taken before: the store commits its item writes one call at a time, so
// added times rise in commit order and a reader's snapshot holds every
// entry up to the last it sees. A cursor or added_after past an entry can
// then never skip one committed later (TAXII 2.1 §3.4's "each object once").
func (s *Service) Indexer(it *item.Item) func(tx *store.Tx) error {
	switch it.Kind() {
	case item.KindIOC, item.KindIOCSealed:
		r, err := s.record(it)
		if err != nil {
			return nil // sealed to others: not ours to index
		}
		c, id := r.ContentID(), it.ID()
		ck := append(c[:], id[:]...)
		f := iocFacts(it, &r)
		return func(tx *store.Tx) error {
			if err := tx.Put(bucketContent, ck, nil); err != nil {
				return err
			}
			return putAdded(tx, it, s.addedNow, f)
		}
	case item.KindTombstone:
		target, err := item.TombstoneTarget(it)
		if err != nil {
			return nil
		}
		return func(tx *store.Tx) error {
			v, err := tx.Get(bucketFacts, target[:])
			if errors.Is(err, store.ErrNotFound) {
				return nil // not an indicator we index
			} else if err != nil {
				return err
			}
			f, ok := decodeFacts(v)
			if !ok || f.retraction || f.author != it.Author() || f.space != it.Space() {
				return nil // deletes nothing we list
			}
			return putAdded(tx, it, s.addedNow, append([]byte{factRetraction}, target[:]...))
		}
	}
	return nil
}

// addedNow is the next added time (Unix µs): the clock, or one more than
// the last one given if the clock has not passed it.
func (s *Service) addedNow() int64 {
	for {
		last, now := s.lastAdded.Load(), s.h.Now().UnixMicro()
		if now <= last {
			now = last + 1
		}
		if s.lastAdded.CompareAndSwap(last, now) {
			return now
		}
	}
}

// putAdded indexes it as added at when(), unless it is indexed already (an
// item stored again keeps its first time).
func putAdded(tx *store.Tx, it *item.Item, when func() int64, f []byte) error {
	id := it.ID()
	if _, err := tx.Get(bucketFacts, id[:]); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	us := when()
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(f)), uint64(us))
	if err := tx.Put(bucketFacts, id[:], append(v, f...)); err != nil {
		return err
	}
	return tx.Put(bucketAdded, addedKey(it.Space(), us, id), nil)
}

// indexAddedOld indexes, once per store, the IOC items stored before the
// added index existed, as added when they were created. Retractions
// stored before it are not shown: what they retracted is gone.
func (s *Service) indexAddedOld() error {
	done := false
	err := s.h.Store().View(func(tx *store.Tx) error {
		_, err := tx.Get(bucketAddedDone, []byte("old"))
		done = err == nil
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil || done {
		return err
	}
	var batch []*item.Item
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := s.h.Store().Update(func(tx *store.Tx) error {
			for _, it := range batch {
				r, err := s.record(it)
				if err != nil {
					continue
				}
				created := func() int64 { return it.Created().UnixMicro() }
				if err := putAdded(tx, it, created, iocFacts(it, &r)); err != nil {
					return err
				}
			}
			return nil
		})
		batch = batch[:0]
		return err
	}
	for _, name := range s.Names() {
		err := s.h.Store().SpaceItems(item.CollectionSpace(name), func(it *item.Item) error {
			if it.Kind() != item.KindIOC && it.Kind() != item.KindIOCSealed {
				return nil
			}
			batch = append(batch, it)
			if len(batch) >= 2048 {
				return flush()
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	return s.h.Store().Update(func(tx *store.Tx) error { return tx.Put(bucketAddedDone, []byte("old"), nil) })
}

// MarkFresh records, in a store that holds no indicator yet, that its
// content and added indexes are complete: every item it will hold is
// indexed as it is stored (Indexer), so the first listing need not scan
// the store for older ones (indexOld, indexAddedOld), which costs minutes
// at a million indicators. The node calls it when it opens the store; a
// failure (a full disk) is logged and leaves the first listing to scan.
func (s *Service) MarkFresh() {
	if err := s.markFresh(); err != nil {
		s.h.Log().Warn("collection: cannot mark the indexes complete; the first listing will scan the store", "err", err)
	}
}

func (s *Service) markFresh() error {
	done := 0
	err := s.h.Store().View(func(tx *store.Tx) error {
		for _, b := range []string{bucketContentDone, bucketAddedDone} {
			if _, err := tx.Get(b, []byte("old")); err == nil {
				done++
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return nil
	})
	if err != nil || done == 2 {
		return err
	}
	for _, name := range s.Names() {
		held := false
		err := s.h.Store().SpaceItems(item.CollectionSpace(name), func(*item.Item) error {
			held = true
			return store.ErrStop
		})
		if err != nil || held {
			return err // the first listing indexes what is there
		}
	}
	return s.h.Store().Update(func(tx *store.Tx) error {
		if err := tx.Put(bucketContentDone, []byte("old"), nil); err != nil {
			return err
		}
		return tx.Put(bucketAddedDone, []byte("old"), nil)
	})
}

// indexBefore brings the content and added indexes up to date with what
// was stored before they existed. A failure (a full disk) is logged, not
// returned: a listing shows what is indexed, and the next one tries again.
func (s *Service) indexBefore() {
	if err := s.indexOld(); err != nil {
		s.h.Log().Warn("collection: cannot index older indicators yet; listings leave them out until then", "err", err)
	}
	if err := s.indexAddedOld(); err != nil {
		s.h.Log().Warn("collection: cannot index older indicators yet; listings leave them out until then", "err", err)
	}
}

// Cursor is a position in a collection's added order: after the entry
// added at Added (Unix µs) with item ID ID. The zero Cursor is the start.
type Cursor struct {
	Added int64
	ID    item.ID
}

// String writes c as the API carries it: "µs.hex-id".
func (c Cursor) String() string {
	if c == (Cursor{}) {
		return ""
	}
	return strconv.FormatInt(c.Added, 10) + "." + hex.EncodeToString(c.ID[:])
}

// ParseCursor reads a Cursor's String; "" is the start.
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	bad := fault.Invalidf("pass back the cursor a listing gave, unchanged", "bad cursor %q", s)
	us, id, ok := strings.Cut(s, ".")
	if !ok || len(id) != 2*item.IDSize || len(us) == 0 || len(us) > 19 {
		return Cursor{}, bad
	}
	n, err := strconv.ParseInt(us, 10, 64)
	if err != nil || n < 0 {
		return Cursor{}, bad
	}
	raw, err := hex.DecodeString(id)
	if err != nil {
		return Cursor{}, bad
	}
	return Cursor{Added: n, ID: item.ID(raw)}, nil
}

// CursorAfter is the cursor past everything added at or before t.
func CursorAfter(t time.Time) Cursor {
	var id item.ID
	for i := range id {
		id[i] = 0xff
	}
	return Cursor{Added: t.UnixMicro(), ID: id}
}

// Listed is one entry of a collection in added order (Each).
type Listed struct {
	Cursor Cursor
	Added  time.Time
	// IOC is the statement as the API shows it; nil for a retraction.
	IOC   *IOC
	Entry ioc.Entry
	// Retracted, when not zero, is when the author retracted Entry.
	Retracted time.Time
}

// eachBatch is how many index entries Each reads per store snapshot.
const eachBatch = 256

// Each calls fn with the current statements of collection name this node
// can read, in the order it stored them, from after on; with retractions,
// also each retraction of a statement that has no current version left.
// It holds one batch of index entries at a time, whatever the collection
// holds. fn returning store.ErrStop ends it without error.
func (s *Service) Each(name string, after Cursor, retractions bool, fn func(*Listed) error) error {
	if err := checkCollection(name); err != nil {
		return err
	}
	s.indexBefore()
	sp := item.CollectionSpace(name)
	type entry struct {
		c Cursor
		f facts
	}
	batch := make([]entry, 0, eachBatch)
	for {
		batch = batch[:0]
		from := addedKey(sp, after.Added, after.ID)
		err := s.h.Store().View(func(tx *store.Tx) error {
			return tx.ScanKeysFrom(bucketAdded, sp[:], from, func(k []byte) error {
				if len(k) != item.SpaceSize+8+item.IDSize {
					return nil
				}
				c := Cursor{Added: int64(binary.BigEndian.Uint64(k[item.SpaceSize:])), ID: item.ID(k[item.SpaceSize+8:])}
				if c == after {
					return nil
				}
				v, err := tx.Get(bucketFacts, c.ID[:])
				if err != nil {
					return nil
				}
				f, ok := decodeFacts(v)
				if !ok {
					return nil
				}
				batch = append(batch, entry{c, f})
				if len(batch) == eachBatch {
					return store.ErrStop
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
		for _, e := range batch {
			l, err := s.listedOf(name, e.c, e.f, retractions)
			if err != nil {
				return err
			}
			if l == nil {
				continue
			}
			if err := fn(l); err != nil {
				if errors.Is(err, store.ErrStop) {
					return nil
				}
				return err
			}
		}
		if len(batch) < eachBatch {
			return nil
		}
		after = batch[len(batch)-1].c
	}
}

// listedOf is what Each shows of one added entry: nil for a statement
// that is gone or replaced by a newer one of its author (which has its own
// entry, later), or a retraction not asked for or followed by a statement.
func (s *Service) listedOf(name string, c Cursor, f facts, retractions bool) (*Listed, error) {
	if f.retraction {
		if !retractions {
			return nil, nil
		}
		tf, ok, err := s.factsOf(f.target)
		if err != nil {
			return nil, err
		}
		if !ok || tf.retraction {
			return nil, nil
		}
		live, err := s.liveVersion(tf.author, tf.space, ioc.ContentIDOf(tf.typ, tf.value), nil)
		if err != nil || live {
			return nil, err
		}
		t, _, err := s.h.Store().GetItem(c.ID)
		if err != nil {
			return nil, nil
		}
		r := ioc.Record{Type: tf.typ, Value: tf.value, TLP: tf.tlp, Confidence: ioc.NoConfidence}
		return &Listed{Cursor: c, Added: f.added, Retracted: t.Created(),
			Entry: ioc.Entry{Record: r, Author: tf.author, Created: tf.created}}, nil
	}
	it, dead, err := s.h.Store().GetItem(c.ID)
	if errors.Is(err, store.ErrNotFound) || dead {
		return nil, nil
	} else if err != nil {
		// One damaged item never fails the whole listing (docs/storage.md).
		s.h.Store().SkipDamaged(c.ID, err)
		return nil, nil
	}
	r, err := s.record(it)
	if err != nil {
		return nil, nil
	}
	newer, err := s.liveVersion(it.Author(), it.Space(), r.ContentID(), it)
	if err != nil || newer {
		return nil, err
	}
	return &Listed{Cursor: c, Added: f.added, IOC: s.shown(it, &r, name),
		Entry: ioc.Entry{Record: r, Author: it.Author(), Created: it.Created()}}, nil
}

// factsOf reads the added index's facts of item id; ok is false if it
// has none.
func (s *Service) factsOf(id item.ID) (f facts, ok bool, err error) {
	err = s.h.Store().View(func(tx *store.Tx) error {
		v, err := tx.Get(bucketFacts, id[:])
		if errors.Is(err, store.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		f, ok = decodeFacts(v)
		return nil
	})
	return f, ok, err
}

// liveVersion reports whether author holds a live statement of content c
// in space sp newer than item self (any, if self is nil): then self is not
// current, or a retraction of c is not the last word.
func (s *Service) liveVersion(author identity.ID, sp item.Space, c ioc.ContentID, selfItem *item.Item) (bool, error) {
	var self item.ID
	var mine item.Version
	if selfItem != nil {
		self, mine = selfItem.ID(), item.VersionOf(selfItem)
	}
	var ids []item.ID
	err := s.h.Store().View(func(tx *store.Tx) error {
		return tx.ScanKeys(bucketContent, c[:], func(k []byte) error {
			if len(k) == 2*item.IDSize && item.ID(k[item.IDSize:]) != self {
				ids = append(ids, item.ID(k[item.IDSize:]))
			}
			if len(ids) > 4*maxShown {
				return store.ErrStop
			}
			return nil
		})
	})
	if err != nil || len(ids) == 0 {
		return false, err
	}
	for _, id := range ids {
		it, dead, err := s.h.Store().GetItem(id)
		if err != nil || dead || it.Author() != author || it.Space() != sp {
			continue
		}
		if selfItem == nil || item.VersionOf(it).Newer(mine) {
			return true, nil
		}
	}
	return false, nil
}
