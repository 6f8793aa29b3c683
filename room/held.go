package room

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"time"

	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/vault"
	"github.com/ghostwire/ghostwire/wire"
)

// Epoch keys across the rotation of our encryption subkeys
// (docs/protocol.md §13.4, docs/trust.md §4). An epoch key reaches us
// sealed to the encryption subkey that was current when the owner rekeyed,
// and the node destroys that subkey a period plus a grace later; a room
// whose membership does not change for that long would then no longer
// open after a restart. So the first time this node opens an epoch key it
// hands it to the Keeper (the key vault: destroying it erases it), and
// from then on reads it from there. An epoch key is destroyed once the
// epoch has been superseded on this node for the Keeper's grace, the same
// two weeks a rotated-out subkey lives: a room's current epoch always
// opens, and its old epochs become unreadable on the schedule of direct
// messages.

// Keeper keeps secrets where destroying them erases them: the node's key
// vault (keys.Service.Hold). Hold replaces a secret held under ref, Held
// returns it (an error when none is held), Release destroys it, and Grace
// is how long a superseded epoch's key is kept.
type Keeper interface {
	Hold(ref vault.Ref, secret []byte) error
	Held(ref vault.Ref) ([]byte, error)
	Release(ref vault.Ref) error
	Grace() time.Duration
}

// bucketEpochs records the epoch keys this node holds or held:
// space ‖ uint64be(epoch) → wireHeld. It holds no secret: only when the
// epoch stopped being current here and when its key was destroyed.
const bucketEpochs = "roomepochs"

// heldLabel names a held epoch key's reference in the key vault.
const heldLabel = "ghostwire room held epoch key v1"

type wireHeld struct {
	Superseded int64 `cbor:"1,keyasint,omitempty"` // Unix ms; 0 while current
	Destroyed  int64 `cbor:"2,keyasint,omitempty"` // Unix ms; 0 while kept
}

// errDestroyed: the epoch's key was destroyed here after its grace. The
// listing shows such a message sealed, like one this node never had a key
// for.
var errDestroyed = errors.New("room: this epoch's key was destroyed after it was superseded")

// heldKey is an epoch's key in bucketEpochs (sp is a copy: appending to
// it allocates).
func heldKey(sp item.Space, epoch uint64) []byte { return append(sp[:], epochBytes(epoch)...) }

func epochOf(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// HeldRef names the key vault slot that keeps epoch's key of room sp on
// this node. It is local, never on the wire; the forensic tests use it to
// find the slot a thief would read.
func HeldRef(sp item.Space, epoch uint64) vault.Ref {
	h := sha256.New()
	h.Write([]byte(heldLabel))
	h.Write(sp[:])
	h.Write(epochBytes(epoch))
	return vault.Ref(h.Sum(nil))
}

func (s *Service) heldRecord(sp item.Space, epoch uint64) (w wireHeld, ok bool, err error) {
	err = s.h.Store().View(func(tx *store.Tx) error {
		raw, err := tx.Get(bucketEpochs, heldKey(sp, epoch))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		ok = true
		return wire.Unmarshal(raw, &w)
	})
	return w, ok, err
}

func (s *Service) putHeld(sp item.Space, epoch uint64, w wireHeld) error {
	raw, err := wire.Marshal(&w)
	if err != nil {
		return err
	}
	return s.h.Store().Update(func(tx *store.Tx) error { return tx.Put(bucketEpochs, heldKey(sp, epoch), raw) })
}

// held returns an epoch's key from the Keeper: nil without a Keeper or
// before it was first opened here, errDestroyed after its grace.
func (s *Service) held(sp item.Space, epoch uint64) ([]byte, error) {
	k := s.h.Keeper()
	if k == nil {
		return nil, nil
	}
	w, ok, err := s.heldRecord(sp, epoch)
	if err != nil || !ok {
		return nil, err
	}
	if w.Destroyed != 0 {
		return nil, errDestroyed
	}
	key, err := k.Held(HeldRef(sp, epoch))
	if err != nil {
		return nil, nil // a Hold that stopped half-way: open it again
	}
	return key, nil
}

// keep hands an epoch key just opened (or made, by the owner) to the
// Keeper. The record goes first, so that no held key is ever without the
// record that destroys it. superseded says a later epoch is known already.
func (s *Service) keep(sp item.Space, epoch uint64, key []byte, superseded bool) {
	k := s.h.Keeper()
	if k == nil {
		return
	}
	w, ok, err := s.heldRecord(sp, epoch)
	if err == nil && !ok {
		if superseded {
			w.Superseded = s.h.Now().UnixMilli()
		}
		err = s.putHeld(sp, epoch, w)
	}
	if err == nil && w.Destroyed == 0 {
		err = k.Hold(HeldRef(sp, epoch), key)
	}
	if err != nil {
		s.h.Log().Warn("keeping a room's epoch key failed; it opens only while our encryption subkey lives", "err", err)
	}
}

// KeyTick keeps and destroys epoch keys on schedule: it opens (and so
// keeps) the current epoch key of every joined room, marks the epochs a
// later state supersedes (every epoch of a room we left), and destroys
// the keys superseded for the Keeper's grace. The node runs it before each rotation of its
// encryption subkeys (and at start), so no current epoch key is lost with
// the subkey it was sealed to.
func (s *Service) KeyTick() error {
	k := s.h.Keeper()
	if k == nil {
		return nil
	}
	recs, err := s.records()
	if err != nil {
		return err
	}
	now := s.h.Now()
	var errs []error
	for _, r := range recs {
		if r.status == statusPending {
			continue // nothing opened yet
		}
		m, err := s.admission(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if r.status == statusLeft {
			// Left: no epoch is ours any more, each goes after the grace.
			errs = append(errs, s.expire(m, ^uint64(0), now, k))
			continue
		}
		var cur uint64
		if st := m.current(); st != nil {
			cur = st.epoch
		}
		errs = append(errs, s.keepCurrent(m), s.expire(m, cur, now, k))
	}
	return errors.Join(errs...)
}

// keepCurrent opens room m's current epoch key, which keeps it (epochKey).
// A key not ours to open (we are not in the epoch, or its part has not
// come yet) is no error.
func (s *Service) keepCurrent(m *model) error {
	cur := m.current()
	if cur == nil {
		return nil
	}
	_, err := s.epochKey(m, cur.epoch)
	if errors.Is(err, ErrNoKey) || errors.Is(err, errDestroyed) {
		return nil
	}
	return err
}

// keepArrived keeps the current epoch keys of the joined rooms among
// spaces, as soon as a state or key part for them is stored: a node
// stopped before its next KeyTick and off for longer than its subkey's
// grace then still opens the room.
func (s *Service) keepArrived(spaces []item.Space) {
	if s.h.Keeper() == nil {
		return
	}
	for _, sp := range spaces {
		r, err := s.record(sp)
		if err != nil || r.status != statusJoined {
			continue
		}
		m, err := s.admission(r)
		if err == nil {
			err = s.keepCurrent(m)
		}
		if err != nil {
			s.h.Log().Warn("keeping a room's new epoch key failed; the next key tick tries again", "err", err)
		}
	}
}

// expire marks room m's held epochs before cur as superseded, and
// destroys those superseded for the grace.
func (s *Service) expire(m *model, cur uint64, now time.Time, k Keeper) error {
	type held struct {
		epoch uint64
		w     wireHeld
	}
	var hs []held
	err := s.h.Store().View(func(tx *store.Tx) error {
		return tx.Scan(bucketEpochs, m.space[:], func(key, raw []byte) error {
			var w wireHeld
			if len(key) != item.SpaceSize+8 || wire.Unmarshal(raw, &w) != nil {
				return nil
			}
			hs = append(hs, held{epochOf(key[item.SpaceSize:]), w})
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, h := range hs {
		switch {
		case h.w.Destroyed != 0 || h.epoch >= cur:
			continue
		case h.w.Superseded == 0:
			h.w.Superseded = now.UnixMilli()
			err = s.putHeld(m.space, h.epoch, h.w)
		case !now.Before(time.UnixMilli(h.w.Superseded).Add(k.Grace())):
			if err = k.Release(HeldRef(m.space, h.epoch)); err == nil {
				h.w.Destroyed = now.UnixMilli()
				err = s.putHeld(m.space, h.epoch, h.w)
				s.mu.Lock()
				delete(s.mu.keys, epochRef{m.space, h.epoch})
				s.mu.Unlock()
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}
