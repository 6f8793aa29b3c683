package collection

import (
	"encoding/hex"
	"errors"
	"sort"
	"strings"

	"github.com/ghostwire/ghostwire/ioc"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/store"
)

// bucketContent indexes IOC items by what they state: content ID ‖ item
// ID → empty, for the items this node can read. The node writes an item's
// entries (Indexer) in the transaction that stores the item
// (store.Entry.With), so neither is ever stored without the other; a
// deleted item's entries stay, and lookups skip them.
const bucketContent = "ioccontent"

// bucketContentDone holds one key ("old") once bucketContent covers every
// item stored before it existed (indexOld).
const bucketContentDone = "ioccontent-done"

// maxShown bounds what one lookup returns: a short prefix matching more is
// refused rather than listed.
const maxShown = 64

// ContentIndex returns the content index entries (bucketContent's keys)
// of the IOC items among items that this node can read.
func (s *Service) ContentIndex(items []*item.Item) [][]byte {
	var out [][]byte
	for _, it := range items {
		if it.Kind() != item.KindIOC && it.Kind() != item.KindIOCSealed {
			continue
		}
		if r, err := s.record(it); err == nil {
			c, id := r.ContentID(), it.ID()
			out = append(out, append(c[:], id[:]...))
		}
	}
	return out
}

func (s *Service) collectionOf(sp item.Space) string {
	for _, n := range s.Names() {
		if item.CollectionSpace(n) == sp {
			return n
		}
	}
	return ""
}

// byItemID finds IOC items whose ID starts with ref.
func (s *Service) byItemID(ref string, prefix []byte) ([]*IOC, error) {
	var out []*IOC
	err := s.h.Store().ItemsWithPrefix(prefix, maxShown+1, func(it *item.Item) error {
		id := it.ID()
		if !strings.HasPrefix(hex.EncodeToString(id[:]), ref) || (it.Kind() != item.KindIOC && it.Kind() != item.KindIOCSealed) {
			return nil
		}
		r, err := s.record(it)
		if err != nil {
			return nil // sealed to others: not ours to show
		}
		out = append(out, s.shown(it, &r, s.collectionOf(it.Space())))
		return nil
	})
	return out, err
}

// byContentID finds, for each author and collection, the current statement
// of the indicators whose content ID starts with ref.
func (s *Service) byContentID(ref string, prefix []byte) ([]*IOC, error) {
	if err := s.indexOld(); err != nil {
		return nil, err
	}
	var ids []item.ID
	err := s.h.Store().View(func(tx *store.Tx) error {
		return tx.ScanKeys(bucketContent, prefix, func(k []byte) error {
			if len(k) != 2*item.IDSize {
				return nil
			}
			if !strings.HasPrefix(hex.EncodeToString(k[:item.IDSize]), ref) {
				return nil
			}
			if len(ids) == 4*maxShown {
				return store.ErrStop
			}
			ids = append(ids, item.ID(k[item.IDSize:]))
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	type current struct {
		it *item.Item
		r  ioc.Record
	}
	winners := map[item.Key]current{}
	for _, id := range ids {
		it, dead, err := s.h.Store().GetItem(id)
		if errors.Is(err, store.ErrNotFound) || dead {
			continue
		}
		if err != nil {
			return nil, err
		}
		r, err := s.record(it)
		if err != nil {
			continue
		}
		k := ioc.LogicalKey(it, &r)
		if old, ok := winners[k]; ok && !item.VersionOf(it).Newer(item.VersionOf(old.it)) {
			continue
		}
		winners[k] = current{it, r}
	}
	var out []*IOC
	for _, c := range winners {
		out = append(out, s.shown(c.it, &c.r, s.collectionOf(c.it.Space())))
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// indexOld indexes, once per store, the IOC items stored before the
// content index existed. Items stored since are indexed as they are stored,
// so running it beside them only writes some entries twice.
func (s *Service) indexOld() error {
	if done, err := s.marked(bucketContentDone, "old"); err != nil || done {
		return err
	}
	var keys [][]byte
	flush := func() error {
		err := s.h.Store().Update(func(tx *store.Tx) error {
			for _, k := range keys {
				if err := tx.Put(bucketContent, k, nil); err != nil {
					return err
				}
			}
			return nil
		})
		keys = keys[:0]
		return err
	}
	for _, name := range s.Names() {
		err := s.h.Store().SpaceItems(item.CollectionSpace(name), func(it *item.Item) error {
			keys = append(keys, s.ContentIndex([]*item.Item{it})...)
			if len(keys) >= 4096 {
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
	return s.h.Store().Update(func(tx *store.Tx) error { return tx.Put(bucketContentDone, []byte("old"), nil) })
}
