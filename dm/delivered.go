package dm

import (
	"encoding/binary"
	"errors"

	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/store"
)

// bucketDelivered records items a peer acknowledged: item ID → delivery
// time (Unix seconds, 8 bytes). A message is "delivered" once its ID is
// here. The sync engine acknowledges every kind of item; only messages
// show it.
const bucketDelivered = "delivered"

func (s *Service) delivered(id item.ID) bool {
	err := s.h.Store().View(func(tx *store.Tx) error {
		_, err := tx.Get(bucketDelivered, id[:])
		return err
	})
	return err == nil
}

// MarkDelivered records that a peer acknowledged ids: it stored them
// durably. The node calls it for every acknowledgement and for the pair
// scope's items once a sync completes.
func (s *Service) MarkDelivered(ids []item.ID) error {
	now := binary.BigEndian.AppendUint64(nil, uint64(s.h.Now().Unix()))
	wrote := false
	err := s.h.Store().Update(func(tx *store.Tx) error {
		for _, id := range ids {
			if _, err := tx.Get(bucketDelivered, id[:]); errors.Is(err, store.ErrNotFound) {
				if err := tx.Put(bucketDelivered, id[:], now); err != nil {
					return err
				}
				wrote = true
			}
		}
		return nil
	})
	if err == nil && wrote {
		s.h.Changed()
	}
	return err
}
