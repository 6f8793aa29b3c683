package room

import (
	"context"
	"encoding/hex"
	"slices"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/localapi/apitype"
)

// known returns the record and model of a room this node knows, in
// whatever state.
func (s *Service) known(sp item.Space) (*record, *model, error) {
	r, err := s.record(sp)
	if err != nil {
		return nil, nil, errUnknown()
	}
	m, err := s.load(r)
	return r, m, err
}

// show describes a room as the API lists it.
func (s *Service) show(r *record) (*apitype.Room, error) {
	m, err := s.load(r)
	if err != nil {
		return nil, err
	}
	return s.describe(r, m), nil
}

func (s *Service) describe(r *record, m *model) *apitype.Room {
	out := &apitype.Room{ID: hex.EncodeToString(r.space[:]), Name: r.name, Owner: r.owner.String(), Status: r.status}
	act := m.active()
	out.Members = len(act)
	if cur := m.current(); cur != nil {
		out.Epoch, out.Name = cur.epoch, cur.name
		t := cur.it.Created()
		out.KeyChanged = &t
		if cur.ttl != 0 {
			out.Timer = item.FormatTTL(cur.timer())
		}
		if r.status == statusJoined && !slices.Contains(act, s.h.ID()) {
			out.Status = apitype.RoomRemoved
		}
	}
	if r.status == statusPending {
		out.Epoch, out.Members, out.InvitedBy = r.epoch, len(r.members), r.owner.String()
	}
	return out
}

// List lists the rooms this node knows: joined, pending, left and removed.
func (s *Service) List() ([]*apitype.Room, error) {
	recs, err := s.records()
	if err != nil {
		return nil, err
	}
	out := []*apitype.Room{}
	for _, r := range recs {
		d, err := s.show(r)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// Members lists who is in a room now, who has joined, who asked to leave,
// and who the last rekey removed; with the room, whose KeyChanged says
// when the key last changed.
func (s *Service) Members(sp item.Space) (*apitype.RoomMembers, error) {
	r, m, err := s.known(sp)
	if err != nil {
		return nil, err
	}
	out := &apitype.RoomMembers{Room: *s.describe(r, m)}
	members := r.members
	var epoch uint64
	cur := m.current()
	if cur != nil {
		members, epoch = cur.members, cur.epoch
		for _, id := range cur.removed {
			out.Removed = append(out.Removed, id.String())
		}
	}
	for _, id := range members {
		_, joined := m.joins[id]
		out.Members = append(out.Members, apitype.RoomMember{
			Peer: id.String(), Name: s.h.PeerName(id), Owner: id == r.owner, Joined: joined || id == r.owner,
			Leaving: m.leftBy(id, epoch, farFuture), Me: id == s.h.ID(),
		})
	}
	return out, nil
}

// Messages lists a room's messages in creation order: those this node has
// the epoch's key for opened, the others marked sealed (a member sees
// what was posted while it was in, and nothing after).
func (s *Service) Messages(sp item.Space) ([]*apitype.RoomMessage, error) {
	_, m, err := s.known(sp)
	if err != nil {
		return nil, err
	}
	msgs := slices.Clone(m.messages)
	slices.SortFunc(msgs, func(a, b *message) int { return item.VersionOf(a.it).Compare(item.VersionOf(b.it)) })
	out := []*apitype.RoomMessage{}
	var read []*message
	now := s.h.Now()
	for _, msg := range msgs {
		if until, ok := msg.deadline(); ok && !until.After(now) {
			continue // burning now (the node's burn loop): never shown again
		}
		a := msg.it.Author()
		rm := &apitype.RoomMessage{ID: msg.it.ID().String(), Room: hex.EncodeToString(sp[:]), Author: a.String(),
			Name: s.h.PeerName(a), Epoch: msg.epoch, Created: msg.it.Created(), Mine: a == s.h.ID(), Burn: m.burnView(msg)}
		if text, err := s.open(m, msg); err == nil {
			rm.Text = text
			read = append(read, msg)
		} else {
			rm.Sealed = true
		}
		out = append(out, rm)
	}
	// Listed is read: an after-read message shown opened burns here now,
	// shown once in full (docs/protocol.md §13.6).
	s.burnRead(read)
	return out, nil
}

// open decrypts one message.
func (s *Service) open(m *model, msg *message) (string, error) {
	key, err := s.epochKey(m, msg.epoch)
	if err != nil {
		return "", err
	}
	pt, err := openBody(key, m.space, msg.it.Author(), msg.epoch, msg.nonce, msg.ct)
	if err != nil {
		return "", err
	}
	return decodeBody(pt)
}

// Follow calls fn with every message of the room, then with each new one,
// until ctx ends (it then returns nil) or fn or a listing fails.
func (s *Service) Follow(ctx context.Context, sp item.Space, fn func(*apitype.RoomMessage) error) error {
	seen := map[string]bool{}
	for {
		ch := s.h.Changes()
		msgs, err := s.Messages(sp)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if seen[m.ID] {
				continue
			}
			seen[m.ID] = true
			if err := fn(m); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ch:
		}
	}
}

// Me is this node's identity (the CLI marks our own lines).
func (s *Service) Me() identity.ID { return s.h.ID() }
