package collection

import (
	"errors"
	"fmt"
	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/wire"
	"slices"
)

// Who may write to a collection (docs/protocol.md §10.4). Anyone can sign
// items, and stored items are permanent, so a collection that accepts
// anyone's can be flooded by throwaway keys up to the node's scope limit; a
// collection whose writers are its peers, or listed authors, cannot. The
// policy is this node's own: it decides what this node stores and relays,
// not what other nodes do.

// Writers is a collection's policy for who may add indicators to it here.
type Writers struct {
	// Mode is WritersAnyone (the default), WritersPeers (our peers and us)
	// or WritersListed (Authors and us).
	Mode    string        `json:"mode"`
	Authors []identity.ID `json:"authors,omitempty"`
}

// Writers modes.
const (
	WritersAnyone = "anyone"
	WritersPeers  = "peers"
	WritersListed = "listed"
)

// wireWriters is a collection's stored policy (bucketCollection's value;
// empty means anyone).
type wireWriters struct {
	Mode    uint     `cbor:"1,keyasint,omitempty"` // 0 anyone, 1 peers, 2 listed
	Authors [][]byte `cbor:"2,keyasint,omitempty"`
}

var writersModes = []string{WritersAnyone, WritersPeers, WritersListed}

// SetWriters sets who may add to a collection here. It applies
// to items that arrive from now on; what is stored stays.
func (s *Service) SetWriters(name string, w Writers) error {
	if err := checkCollection(name); err != nil {
		return err
	}
	mode := slices.Index(writersModes, w.Mode)
	if mode < 0 {
		return fault.Invalidf("the modes are anyone, peers and listed", "unknown writers mode %q", w.Mode)
	}
	if (mode == 2) != (len(w.Authors) > 0) {
		return fault.Invalidf("list authors with the listed mode only, and at least one", "writers mode %s with %d authors", w.Mode, len(w.Authors))
	}
	ww := wireWriters{Mode: uint(mode)}
	for _, a := range w.Authors {
		ww.Authors = append(ww.Authors, a.Bytes())
	}
	v, err := wire.Marshal(ww)
	if err != nil {
		return err
	}
	if mode == 0 {
		v = nil
	}
	return s.h.Store().Update(func(tx *store.Tx) error { return tx.Put(bucketCollection, []byte(name), v) })
}

// WritersOf returns a collection's policy.
func (s *Service) WritersOf(name string) (Writers, error) {
	var v []byte
	err := s.h.Store().View(func(tx *store.Tx) error {
		b, err := tx.Get(bucketCollection, []byte(name))
		v = b
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return Writers{Mode: WritersAnyone}, nil
	} else if err != nil {
		return Writers{}, err
	}
	return decodeWriters(v)
}

func decodeWriters(v []byte) (Writers, error) {
	if len(v) == 0 {
		return Writers{Mode: WritersAnyone}, nil
	}
	var ww wireWriters
	if err := wire.Unmarshal(v, &ww); err != nil || ww.Mode >= uint(len(writersModes)) {
		return Writers{}, fmt.Errorf("collection: a collection's stored policy does not decode (%v); set it again", err)
	}
	w := Writers{Mode: writersModes[ww.Mode]}
	for _, b := range ww.Authors {
		id, err := identity.NewID(b)
		if err != nil {
			return Writers{}, fmt.Errorf("collection: a collection's stored policy names a bad author: %v", err)
		}
		w.Authors = append(w.Authors, id)
	}
	return w, nil
}

// admits returns whether the named collection's policy admits an author
// here. We are always admitted. An unreadable policy admits only us until
// it is set again (and says so in the log): failing closed keeps a flood
// out, and the user can fix it with one command.
func (s *Service) admits(name string) func(identity.ID) bool {
	me := s.h.ID()
	w, err := s.WritersOf(name)
	if err != nil {
		s.h.Log().Warn("a collection's writers policy is unreadable; it admits only us until set again", "collection", name, "err", err)
		w = Writers{Mode: WritersListed}
	}
	switch w.Mode {
	case WritersPeers:
		return func(a identity.ID) bool { return a == me || s.h.IsPeer(a) }
	case WritersListed:
		return func(a identity.ID) bool { return a == me || slices.Contains(w.Authors, a) }
	}
	return func(identity.ID) bool { return true }
}
