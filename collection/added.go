package collection

import (
	"bytes"
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
	// every item stored before it existed (indexAddedOld), and "v2" once
	// every entry carries its record (indexV2).
	bucketAddedDone = "iocadded-done"
	// bucketLatest: author ‖ space ‖ content ID → created (Unix ms, 8
	// bytes) ‖ item ID: the newest version (§5.5) of each statement this
	// node indexed, live or not, so a listing tells a current statement
	// from a superseded one with one lookup instead of reading every
	// version.
	bucketLatest = "ioclatest"
	// bucketGone: target item ID ‖ author ‖ space → empty, for every
	// tombstone stored: the item it deletes, if it is the author's in that
	// space (item.Deletes), is not listed, whether it came before the
	// tombstone or after it.
	bucketGone = "iocgone"
)

// The added index's values (docs/ioc.md §8): facts length (4 bytes,
// big-endian) ‖ facts (bucketFacts' value) ‖ the item's payload for a
// CLEAR or GREEN statement, so that a page of a feed or listing is one
// ordered scan. A sealed statement's payload is not copied: burning it
// must leave nothing readable (store.Burn), so it is read from its item.
// An empty value is an entry written before version 2 (indexV2).
func addedValue(f, payload []byte) []byte {
	v := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(f)+len(payload)), uint32(len(f)))
	return append(append(v, f...), payload...)
}

func splitAdded(v []byte) (f, payload []byte, ok bool) {
	if len(v) < 4 || uint64(len(v)-4) < uint64(binary.BigEndian.Uint32(v)) {
		return nil, nil, false
	}
	n := binary.BigEndian.Uint32(v)
	return v[4 : 4+n], v[4+n:], true
}

func latestKey(author identity.ID, sp item.Space, c ioc.ContentID) []byte {
	k := make([]byte, 0, identity.IDSize+item.SpaceSize+len(c))
	k = append(k, author.Bytes()...)
	k = append(k, sp[:]...)
	return append(k, c[:]...)
}

func goneKey(target item.ID, author identity.ID, sp item.Space) []byte {
	k := append(target[:], author.Bytes()...)
	return append(k, sp[:]...)
}

// putLatest records it as the newest version of its statement if it is.
func putLatest(tx *store.Tx, it *item.Item, c ioc.ContentID) error {
	k := latestKey(it.Author(), it.Space(), c)
	v, err := tx.Get(bucketLatest, k)
	if err == nil && len(v) == 8+item.IDSize {
		old := item.Version{Created: binary.BigEndian.Uint64(v), ID: item.ID(v[8:])}
		if !item.VersionOf(it).Newer(old) {
			return nil
		}
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	id := it.ID()
	return tx.Put(bucketLatest, k, append(binary.BigEndian.AppendUint64(nil, it.CreatedMillis()), id[:]...))
}

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
			if err := putLatest(tx, it, c); err != nil {
				return err
			}
			return putAdded(tx, it, s.addedNow, f, plainPayload(it))
		}
	case item.KindTombstone:
		target, err := item.TombstoneTarget(it)
		if err != nil {
			return nil
		}
		return func(tx *store.Tx) error {
			if err := tx.Put(bucketGone, goneKey(target, it.Author(), it.Space()), nil); err != nil {
				return err
			}
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
			return putAdded(tx, it, s.addedNow, append([]byte{factRetraction}, target[:]...), nil)
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

// plainPayload is what the added index keeps of an IOC item's record: a
// CLEAR or GREEN item's payload; nothing of a sealed one.
func plainPayload(it *item.Item) []byte {
	if it.Kind() != item.KindIOC {
		return nil
	}
	return it.Payload()
}

// putAdded indexes it as added at when(), unless it is indexed already (an
// item stored again keeps its first time), with payload in the entry.
func putAdded(tx *store.Tx, it *item.Item, when func() int64, f, payload []byte) error {
	id := it.ID()
	if _, err := tx.Get(bucketFacts, id[:]); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	us := when()
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(f)), uint64(us))
	v = append(v, f...)
	if err := tx.Put(bucketFacts, id[:], v); err != nil {
		return err
	}
	return tx.Put(bucketAdded, addedKey(it.Space(), us, id), addedValue(v, payload))
}

// marked reports whether the store holds the mark key in bucket, which
// says a one-time indexing pass is done.
func (s *Service) marked(bucket, key string) (bool, error) {
	done := false
	err := s.h.Store().View(func(tx *store.Tx) error {
		_, err := tx.Get(bucket, []byte(key))
		done = err == nil
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	return done, err
}

// indexAddedOld indexes, once per store, the IOC items stored before the
// added index existed, as added when they were created. Retractions
// stored before it are not shown: what they retracted is gone.
func (s *Service) indexAddedOld() error {
	if done, err := s.marked(bucketAddedDone, "old"); err != nil || done {
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
				if err := putLatest(tx, it, r.ContentID()); err != nil {
					return err
				}
				if err := putAdded(tx, it, created, iocFacts(it, &r), plainPayload(it)); err != nil {
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
		ident := s.h.Store().Identity()
		if err := tx.Put(bucketAddedDone, []byte("v2"), ident[:]); err != nil {
			return err
		}
		return tx.Put(bucketAddedDone, []byte("old"), nil)
	})
}

// indexV2 brings, once per store, the added index entries written before
// version 2 up to it: each readable statement's entry gets its record and
// its version a place in bucketLatest. Entries of items gone since are
// left without a record; a listing reads those from the store, as before.
//
// The mark that it is done holds the store's identity. A store salvaged
// from another (store.Salvage) has its own identity but the other's index
// records, which may name items the salvage dropped, so there it runs
// again over every entry, keeping a record only where its item is held,
// and forgets the newest versions that are not.
func (s *Service) indexV2() error {
	ident := s.h.Store().Identity()
	var mark []byte
	err := s.h.Store().View(func(tx *store.Tx) error {
		v, err := tx.Get(bucketAddedDone, []byte("v2"))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		mark = v
		return err
	})
	if err != nil || bytes.Equal(mark, ident[:]) {
		return err
	}
	recheck := mark != nil // copied from another store
	if recheck {
		if err := s.forgetLostLatest(); err != nil {
			return err
		}
	}
	type old struct {
		k []byte
		f facts
		v []byte
	}
	var from []byte
	for {
		var batch []old
		err := s.h.Store().View(func(tx *store.Tx) error {
			return tx.ScanFrom(bucketAdded, nil, from, func(k, v []byte) error {
				if len(batch) == 2048 {
					from = bytes.Clone(k)
					return store.ErrStop
				}
				if (len(v) > 0 && !recheck) || len(k) != item.SpaceSize+8+item.IDSize {
					return nil
				}
				fv, err := tx.Get(bucketFacts, k[item.SpaceSize+8:])
				if err != nil {
					return nil
				}
				if f, ok := decodeFacts(fv); ok {
					batch = append(batch, old{bytes.Clone(k), f, fv})
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
		more := len(batch) == 2048
		err = s.h.Store().Update(func(tx *store.Tx) error {
			for _, o := range batch {
				var payload []byte
				if !o.f.retraction {
					it, dead, err := s.h.Store().GetItem(item.ID(o.k[item.SpaceSize+8:]))
					if err == nil && !dead {
						if r, err := s.record(it); err == nil {
							if err := putLatest(tx, it, r.ContentID()); err != nil {
								return err
							}
							payload = plainPayload(it)
						}
					}
				}
				if err := tx.Put(bucketAdded, o.k, addedValue(o.v, payload)); err != nil {
					return err
				}
			}
			if !more {
				return tx.Put(bucketAddedDone, []byte("v2"), ident[:])
			}
			return nil
		})
		if err != nil || !more {
			return err
		}
	}
}

// forgetLostLatest deletes the latest index's entries whose item is not
// held: the statement's other versions are then judged from the store.
func (s *Service) forgetLostLatest() error {
	var lost [][]byte
	err := s.h.Store().View(func(tx *store.Tx) error {
		return tx.Scan(bucketLatest, nil, func(k, v []byte) error {
			if len(v) != 8+item.IDSize {
				lost = append(lost, bytes.Clone(k))
				return nil
			}
			if _, _, err := s.h.Store().GetItem(item.ID(v[8:])); err != nil {
				lost = append(lost, bytes.Clone(k))
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	return s.h.Store().Update(func(tx *store.Tx) error {
		for _, k := range lost {
			if err := tx.Delete(bucketLatest, k); err != nil {
				return err
			}
		}
		return nil
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
	if err := s.indexV2(); err != nil {
		s.h.Log().Warn("collection: cannot bring the added index to version 2 yet; listings read older indicators from the store until then", "err", err)
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
	return s.each(name, after, retractions, false, fn)
}

// EachIndexed is Each reading each CLEAR or GREEN statement's record from
// the added index instead of its item: one ordered scan, whatever the
// store holds, where Each reads each item at random (docs/ioc.md §7.4).
// The copy is the item's signed payload, written with it; what it cannot
// tell is that the item itself was since damaged on disk, which Each
// reports (store.Skipped) and the feed need not.
func (s *Service) EachIndexed(name string, after Cursor, retractions bool, fn func(*Listed) error) error {
	return s.each(name, after, retractions, true, fn)
}

func (s *Service) each(name string, after Cursor, retractions, fromIndex bool, fn func(*Listed) error) error {
	if err := checkCollection(name); err != nil {
		return err
	}
	s.indexBefore()
	sp := item.CollectionSpace(name)
	type entry struct {
		c Cursor
		f facts
		// the statement's record and whether it is current, when the
		// entry alone tells (fast); otherwise listedOf reads the store
		payload []byte
		fast    bool
		current bool
	}
	batch := make([]entry, 0, eachBatch)
	for {
		batch = batch[:0]
		from := addedKey(sp, after.Added, after.ID)
		err := s.h.Store().View(func(tx *store.Tx) error {
			return tx.ScanFrom(bucketAdded, sp[:], from, func(k, v []byte) error {
				if len(k) != item.SpaceSize+8+item.IDSize {
					return nil
				}
				c := Cursor{Added: int64(binary.BigEndian.Uint64(k[item.SpaceSize:])), ID: item.ID(k[item.SpaceSize+8:])}
				if c == after {
					return nil
				}
				fv, payload, ok := splitAdded(v)
				if !ok { // written before version 2
					var err error
					if fv, err = tx.Get(bucketFacts, c.ID[:]); err != nil {
						return nil
					}
					payload = nil
				}
				f, ok := decodeFacts(fv)
				if !ok {
					return nil
				}
				e := entry{c: c, f: f}
				if fromIndex && len(payload) > 0 && !f.retraction {
					cur, known, err := currentByIndex(tx, c.ID, &f)
					if err != nil {
						return err
					}
					e.payload, e.fast, e.current = payload, known, cur
				}
				batch = append(batch, e)
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
			var l *Listed
			switch {
			case e.fast && !e.current:
			case e.fast:
				l = s.listedFromIndex(name, e.c, &e.f, e.payload)
				if l == nil { // a record that does not decode: read the item
					l, err = s.listedOf(name, e.c, e.f, retractions)
				}
			default:
				l, err = s.listedOf(name, e.c, e.f, retractions)
			}
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

// currentByIndex tells from the gone and latest buckets whether statement
// id (with facts f) is current: not deleted, and no live newer version of
// its author's. known is false when the index cannot tell (the newest
// version was deleted, so an older one may be current again): the caller
// then reads the store.
func currentByIndex(tx *store.Tx, id item.ID, f *facts) (current, known bool, err error) {
	gone := func(id item.ID) (bool, error) {
		_, err := tx.Get(bucketGone, goneKey(id, f.author, f.space))
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}
	if g, err := gone(id); err != nil || g {
		return false, err == nil, err
	}
	v, err := tx.Get(bucketLatest, latestKey(f.author, f.space, ioc.ContentIDOf(f.typ, f.value)))
	if errors.Is(err, store.ErrNotFound) {
		return false, false, nil
	} else if err != nil {
		return false, false, err
	}
	if len(v) != 8+item.IDSize {
		return false, false, nil
	}
	newest := item.ID(v[8:])
	if newest == id {
		return true, true, nil
	}
	if (item.Version{Created: binary.BigEndian.Uint64(v), ID: newest}).Newer(item.Version{Created: uint64(f.created.UnixMilli()), ID: id}) {
		if g, err := gone(newest); err != nil || !g {
			return false, err == nil, err // superseded by a live version
		}
	}
	return false, false, nil
}

// listedFromIndex is what Each shows of a current statement whose record
// the added index holds; nil if the record does not decode.
func (s *Service) listedFromIndex(name string, c Cursor, f *facts, payload []byte) *Listed {
	r, err := ioc.Decode(payload)
	if err != nil {
		return nil
	}
	return &Listed{Cursor: c, Added: f.added, IOC: s.shownOf(c.ID, f.author, f.created, &r, name),
		Entry: ioc.Entry{Record: r, Author: f.author, Created: f.created}}
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
