package node

import (
	"encoding/binary"
	"github.com/ghostwire/ghostwire/collection"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/store"
	"time"
)

// expiry is when a stored item stops being offered (collection.Expiry:
// an IOC's valid-until, docs/ioc.md §8). The node keeps one index of them
// (bucketExpiry) for every service; only collections expire items today.
type expiry = collection.Expiry

// bucketExpiry indexes items by expiry: valid-until (Unix ms, 8 bytes big
// endian, so keys sort by time) ‖ item ID → empty.
const bucketExpiry = "iocexpiry"

// expiriesOf asks the services when items stop being offered.
func (n *Node) expiriesOf(items []*item.Item) []expiry { return n.coll.Expiries(items) }

// putItems stores entries whose IOC items expire as exp says. The expiry
// index (which lets the sync engine leave expired IOCs out of the sets it
// offers, iocExpiries) is written first: a stop between the two writes then
// leaves at worst an index entry for an item never stored, which is
// harmless, never a stored IOC offered for ever. The cached scope sets hear
// of the expiries once the items are in.
func (n *Node) putItems(entries []store.Entry, exp []expiry) (added int, err error) {
	return n.putItemsWith(entries, exp, n.db.PutItems)
}

// putItemsWith is putItems with the store's write given: PutItems, or
// PutItemsAtomic for an import's batch.
func (n *Node) putItemsWith(entries []store.Entry, exp []expiry, put func([]store.Entry) (int, error)) (added int, err error) {
	items := make([]*item.Item, len(entries))
	for i, e := range entries {
		items[i] = e.Item
	}
	// The content index (collection.ContentIndex: ioc show by content ID)
	// goes in the same transaction as the expiries, for the same reason.
	content := n.coll.ContentIndex(items)
	if len(exp) > 0 || len(content) > 0 {
		err := n.db.Update(func(tx *store.Tx) error {
			for _, e := range exp {
				k := binary.BigEndian.AppendUint64(nil, uint64(max(e.Until.UnixMilli(), 0)))
				if err := tx.Put(bucketExpiry, append(k, e.ID[:]...), nil); err != nil {
					return err
				}
			}
			for _, k := range content {
				if err := tx.Put(collection.ContentIndexBucket, k, nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	if added, err = put(entries); err != nil {
		return added, err
	}
	n.sets.expiring(exp)
	return added, nil
}

// iocExpiries reads the expiry index: the IOC items expired at now, and
// the expiries still ahead.
func (n *Node) iocExpiries(now time.Time) (expired map[item.ID]bool, ahead []expiry, err error) {
	expired = map[item.ID]bool{}
	limit := now.UnixMilli()
	err = n.db.View(func(tx *store.Tx) error {
		return tx.ScanKeys(bucketExpiry, nil, func(k []byte) error {
			if len(k) != 8+len(item.ID{}) {
				return nil
			}
			t, id := int64(binary.BigEndian.Uint64(k[:8])), item.ID(k[8:])
			if t > limit {
				ahead = append(ahead, expiry{ID: id, Until: time.UnixMilli(t)})
			} else {
				expired[id] = true
			}
			return nil
		})
	})
	return expired, ahead, err
}
