package room

import (
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/wire"
)

// Create makes a room owned by this node, with this node its only member
// (epoch 0); Invite adds the others. A nonzero ttl is the room's timer
// from the start (docs/protocol.md §13.6).
func (s *Service) Create(name string, ttl time.Duration) (*apitype.Room, error) {
	if err := checkName(name); err != nil {
		return nil, fault.Invalidf(fmt.Sprintf("give a name of 1 to %d bytes", MaxName), "%v", err)
	}
	if ttl != 0 {
		if err := checkTTL(ttl); err != nil {
			return nil, err
		}
		if s.h.Vault() == nil {
			return nil, errNoVault()
		}
	}
	nonce := make([]byte, NonceSize)
	if _, err := io.ReadFull(s.h.Rand(), nonce); err != nil {
		return nil, fmt.Errorf("room: reading randomness: %w", err)
	}
	me := s.h.ID()
	r := &record{space: Space(me, nonce), owner: me, nonce: nonce, name: name, status: statusJoined}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if _, err := s.publishState(r, 0, []identity.ID{me}, nil, ttl); err != nil {
		return nil, err
	}
	if err := s.putRecord(r); err != nil {
		return nil, err
	}
	return s.show(r)
}

// Find resolves what a user typed for a room: its name, or its ID (the
// space in hex) or an unambiguous prefix of it of at least 8 digits.
func (s *Service) Find(q string) (item.Space, error) {
	recs, err := s.records()
	if err != nil {
		return item.Space{}, err
	}
	var hits []*record
	for _, r := range recs {
		id := hex.EncodeToString(r.space[:])
		if r.name == q || (len(q) >= 8 && strings.HasPrefix(id, strings.ToLower(q))) {
			hits = append(hits, r)
		}
	}
	switch len(hits) {
	case 0:
		return item.Space{}, fault.NotFoundf("run `ghostwire room list` to see the rooms this node knows", "no room %q", q)
	case 1:
		return hits[0].space, nil
	}
	return item.Space{}, fault.Invalidf("name the room by its ID (`ghostwire room list` shows them)", "%d rooms match %q", len(hits), q)
}

// joined returns the record of a room we are in, and its model.
func (s *Service) joined(sp item.Space) (*record, *model, error) {
	r, err := s.record(sp)
	if err != nil {
		return nil, nil, fault.NotFoundf("run `ghostwire room list` to see the rooms this node knows", "no such room")
	}
	switch r.status {
	case statusPending:
		return nil, nil, fault.Invalidf("accept the invitation first: ghostwire room join "+r.name, "you are invited to %q but have not joined it", r.name)
	case statusLeft:
		return nil, nil, fault.Invalidf("ask its owner for a new invitation", "you left %q", r.name)
	}
	m, err := s.load(r)
	if err != nil {
		return nil, nil, err
	}
	if !slices.Contains(m.active(), s.h.ID()) {
		return nil, nil, fault.Invalidf("ask its owner for a new invitation", "you were removed from %q", r.name)
	}
	return r, m, nil
}

// owned is joined for the owner's operations.
func (s *Service) owned(sp item.Space) (*record, *model, error) {
	r, m, err := s.joined(sp)
	if err != nil {
		return nil, nil, err
	}
	if r.owner != s.h.ID() {
		return nil, nil, fault.Invalidf("only the owner changes who is in a room; ask "+r.owner.Short(), "you do not own %q", r.name)
	}
	return r, m, nil
}

// Invite adds peers to a room we own: one rekey with them among the
// members, and for each an invitation it sees as pending until it joins.
func (s *Service) Invite(sp item.Space, peers ...identity.ID) (*apitype.Room, error) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	r, m, err := s.owned(sp)
	if err != nil {
		return nil, err
	}
	members := m.active()
	for _, peer := range peers {
		switch {
		case !s.h.IsPeer(peer):
			return nil, fault.New(fault.UnknownPeer, "add it as a peer first: ghostwire peer add ONION", "unknown peer %s", peer)
		case slices.Contains(members, peer):
			return nil, fault.Invalidf("`ghostwire room members "+r.name+"` lists who is in", "%s is already in %q", peer.Short(), r.name)
		}
		members = append(members, peer)
	}
	st, err := s.publishState(r, m.current().epoch+1, members, removedBy(m, members), m.current().timer())
	if err != nil {
		return nil, err
	}
	var entries []store.Entry
	for _, peer := range peers {
		w := wireInvite{Nonce: r.nonce, Name: r.name, Epoch: st.epoch, Invitee: peer.Bytes()}
		for _, id := range members {
			w.Members = append(w.Members, id.Bytes())
		}
		payload, err := wire.Marshal(w)
		if err != nil {
			return nil, err
		}
		it, err := item.New(s.h.Key(), KindInvite, sp, s.h.Now(), payload)
		if err != nil {
			return nil, err
		}
		// The invite scope first: a live push takes an item's first scope
		// the peer shares, and the invitee shares no room scope until it
		// joins.
		entries = append(entries, store.Entry{Item: it, Scopes: []item.Scope{InviteScope(s.h.ID(), peer), Scope(sp)}})
	}
	if _, err := s.h.Publish(entries, nil); err != nil {
		return nil, err
	}
	s.invalidate()
	return s.show(r)
}

// Remove takes peer out of a room we own: one rekey without it. It keeps
// what it read; it gets no key from this epoch on.
func (s *Service) Remove(sp item.Space, peer identity.ID) (*apitype.Room, error) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	r, m, err := s.owned(sp)
	if err != nil {
		return nil, err
	}
	if peer == s.h.ID() {
		return nil, fault.Invalidf("an owner cannot leave its room", "you own %q", r.name)
	}
	if !slices.Contains(m.active(), peer) {
		return nil, fault.Invalidf("`ghostwire room members "+r.name+"` lists who is in", "%s is not in %q", peer.Short(), r.name)
	}
	if _, err := s.rekey(r, nil, []identity.ID{peer}, true); err != nil {
		return nil, err
	}
	return s.show(r)
}

// rekey publishes the next state of a room we own, with add and without
// remove and without whoever left; opMu must be held unless called from
// Accepted (locked is false then).
func (s *Service) rekey(r *record, add, remove []identity.ID, locked bool) (*state, error) {
	if !locked {
		s.opMu.Lock()
		defer s.opMu.Unlock()
	}
	m, err := s.load(r)
	if err != nil {
		return nil, err
	}
	members := slices.DeleteFunc(append(m.active(), add...), func(id identity.ID) bool { return slices.Contains(remove, id) })
	return s.publishState(r, m.current().epoch+1, members, removedBy(m, members), m.current().timer())
}

// removedBy lists who the current state has and members has not.
func removedBy(m *model, members []identity.ID) []identity.ID {
	var out []identity.ID
	for _, id := range m.current().members {
		if !slices.Contains(members, id) {
			out = append(out, id)
		}
	}
	return out
}

// publishState makes and publishes a room state and its key parts: a new
// epoch key sealed to each member (docs/protocol.md §13.4), and the room's
// timer ttl (0: none, §13.6), which every rekey carries forward. The state
// also goes to each removed member's invite scope,
// so its node learns it was removed.
func (s *Service) publishState(r *record, epoch uint64, members, removed []identity.ID, ttl time.Duration) (*state, error) {
	if len(members) > MaxMembers {
		return nil, fault.Invalidf("a room has at most 1,000 members", "%d members, the limit is %d", len(members), MaxMembers)
	}
	pubs := make([]*recipient.PublicKey, len(members))
	for i, id := range members {
		if id == s.h.ID() {
			pubs[i] = s.h.RecipientKey().Public()
			continue
		}
		// The newest certificate this node holds, refused once it has
		// ended (the subkey may be destroyed): the rekey waits for the
		// member's next one, as a direct message to it does (§13.4).
		pk, err := s.h.PeerKey(id)
		if err != nil {
			return nil, fault.Invalidf("let the node sync with it once (it must be online), then try again; "+
				"or remove it from the room first",
				"no usable encryption key of %s on this node: %v", id.Short(), err)
		}
		pubs[i] = pk
	}
	// The state lists at most MaxMembers names in all (§13.2); the removal
	// notices beyond that are left out, the removals themselves are not.
	notice := removed[:min(len(removed), MaxMembers-len(members))]
	now := s.h.Now()
	stIt, keyIts, key, err := makeState(s.h.Key(), s.h.Rand(), r, epoch, members, pubs, notice, ttl, now)
	if err != nil {
		return nil, err
	}
	scopes := []item.Scope{Scope(r.space)}
	for _, id := range notice {
		scopes = append(scopes, InviteScope(s.h.ID(), id))
	}
	entries := []store.Entry{{Item: stIt, Scopes: scopes}}
	for _, k := range keyIts {
		entries = append(entries, store.Entry{Item: k, Scopes: []item.Scope{Scope(r.space)}})
	}
	s.mu.Lock()
	s.mu.keys[epochRef{r.space, epoch}] = key
	s.mu.Unlock()
	s.invalidate()
	if _, err := s.h.Publish(entries, nil); err != nil {
		return nil, err
	}
	s.keep(r.space, epoch, key, false)
	s.invalidate()
	if len(removed) > 0 {
		s.h.Rescope(removed...)
	}
	return decodeState(stIt)
}

// Join accepts the invitation to a room: this node takes part in it from
// now, syncing it with its members.
func (s *Service) Join(sp item.Space) (*apitype.Room, error) {
	r, err := s.record(sp)
	if err != nil {
		return nil, fault.NotFoundf("run `ghostwire room join` to list the invitations", "no such room")
	}
	if r.status != statusPending {
		return nil, fault.Invalidf("`ghostwire room list` shows the room's state", "there is no pending invitation to %q", r.name)
	}
	payload, err := wire.Marshal(wireMark{Epoch: r.epoch})
	if err != nil {
		return nil, err
	}
	it, err := item.New(s.h.Key(), KindJoin, sp, s.h.Now(), payload)
	if err != nil {
		return nil, err
	}
	r.status = statusJoined
	if err := s.putRecord(r); err != nil {
		return nil, err
	}
	if _, err := s.h.Publish([]store.Entry{{Item: it, Scopes: []item.Scope{Scope(sp)}}}, nil); err != nil {
		return nil, err
	}
	s.invalidate() // our join is a membership item (cache.go)
	s.h.Rescope(others(r.members, s.h.ID())...)
	return s.show(r)
}

func others(ids []identity.ID, me identity.ID) []identity.ID {
	return slices.DeleteFunc(slices.Clone(ids), func(id identity.ID) bool { return id == me })
}

// Leave asks to leave a room: this node stops taking part at once, and the
// owner's next rekey (at once, if its node is running when the leave
// reaches it) excludes us. The leave also goes to the owner's invite
// scope, which we keep sharing with it, so it gets there after we stopped
// syncing the room.
func (s *Service) Leave(sp item.Space) (*apitype.Room, error) {
	r, m, err := s.joined(sp)
	if err != nil {
		return nil, err
	}
	if r.owner == s.h.ID() {
		return nil, fault.Invalidf("remove the others, or simply stop using it", "you own %q; an owner cannot leave", r.name)
	}
	payload, err := wire.Marshal(wireMark{Epoch: m.current().epoch})
	if err != nil {
		return nil, err
	}
	it, err := item.New(s.h.Key(), KindLeave, sp, s.h.Now(), payload)
	if err != nil {
		return nil, err
	}
	act := m.active()
	if _, err := s.h.Publish([]store.Entry{{Item: it, Scopes: []item.Scope{InviteScope(s.h.ID(), r.owner), Scope(sp)}}}, nil); err != nil {
		return nil, err
	}
	r.status = statusLeft
	if err := s.putRecord(r); err != nil {
		return nil, err
	}
	s.h.Rescope(others(act, s.h.ID())...)
	return s.show(r)
}

// Send posts a message to a room under its current epoch, with the timer
// t asks for, limited by the room's (docs/protocol.md §13.6): the zero
// Timer takes the room's.
func (s *Service) Send(sp item.Space, text string, t Timer) (*apitype.RoomMessage, error) {
	if !utf8.ValidString(text) || strings.TrimSpace(text) == "" {
		return nil, fault.Invalidf("send some text", "message text is empty or not UTF-8")
	}
	if len(text) > MaxText {
		return nil, fault.Invalidf("split it into several messages", "message is %d bytes, the limit is %d", len(text), MaxText)
	}
	_, m, err := s.joined(sp)
	if err != nil {
		return nil, err
	}
	cur := m.current()
	if cur == nil {
		return nil, fault.New(fault.NotSynced, "wait until the node has synced with a member", "the room's key has not reached this node yet")
	}
	key, err := s.epochKey(m, cur.epoch)
	if err != nil {
		return nil, fault.New(fault.NotSynced, "wait until the node has synced with a member", "the room's current key has not reached this node yet")
	}
	t, err = effective(t, cur)
	if err != nil {
		return nil, err
	}
	if t.TTL != 0 && s.h.Vault() == nil {
		return nil, errNoVault()
	}
	body, err := wire.Marshal(wireBody{Text: text})
	if err != nil {
		return nil, err
	}
	me := s.h.ID()
	nonce, ct, err := sealBody(s.h.Rand(), key, sp, me, cur.epoch, body)
	if err != nil {
		return nil, err
	}
	payload, err := encodeMessage(cur.epoch, nonce, ct, t)
	if err != nil {
		return nil, err
	}
	it, err := item.New(s.h.Key(), KindMessage, sp, s.h.Now(), payload)
	if err != nil {
		return nil, err
	}
	if _, err := s.h.Publish([]store.Entry{{Item: it, Scopes: []item.Scope{Scope(sp)}}}, nil); err != nil {
		return nil, err
	}
	msg, err := decodeMessage(it)
	if err != nil {
		return nil, err
	}
	return &apitype.RoomMessage{ID: it.ID().String(), Room: hex.EncodeToString(sp[:]), Author: me.String(),
		Epoch: cur.epoch, Created: it.Created(), Text: text, Mine: true, Burn: m.burnView(msg)}, nil
}

// epochKey returns the key of epoch: from memory, else from the Keeper,
// else unwrapped from its part with our recipient key and handed to the
// Keeper (held.go), so it outlives the subkey it was sealed to.
func (s *Service) epochKey(m *model, epoch uint64) ([]byte, error) {
	ref := epochRef{m.space, epoch}
	s.mu.Lock()
	k := s.mu.keys[ref]
	s.mu.Unlock()
	if k != nil {
		return k, nil
	}
	k, err := s.held(m.space, epoch)
	if err != nil {
		return nil, err
	}
	if k == nil {
		part := m.partFor(s.h.ID(), epoch)
		if part == nil {
			return nil, ErrNoKey
		}
		if k, err = openKey(part, m.space, epoch, m.states[epoch].commit, s.h.RecipientKey()); err != nil {
			return nil, err
		}
		cur := m.current()
		s.keep(m.space, epoch, k, cur != nil && cur.epoch > epoch)
	}
	s.mu.Lock()
	s.mu.keys[ref] = k
	s.mu.Unlock()
	return k, nil
}

func errUnknown() error {
	return fault.NotFoundf("run `ghostwire room list` to see the rooms this node knows", "no such room")
}

// makeState signs a room's state for epoch and the key items its layout
// needs: a fresh epoch key sealed to each member's recipient key, pubs in
// the order of members (docs/protocol.md §13.4).
func makeState(signer item.Signer, rand io.Reader, r *record, epoch uint64, members []identity.ID, pubs []*recipient.PublicKey,
	removed []identity.ID, ttl time.Duration, now time.Time) (st *item.Item, keyItems []*item.Item, key []byte, err error) {
	key = make([]byte, KeySize)
	if _, err := io.ReadFull(rand, key); err != nil {
		return nil, nil, nil, fmt.Errorf("room: reading randomness: %w", err)
	}
	groups := split(pubs, firstPart(r.name, len(members), len(removed)))
	sealed, err := sealKey(rand, r.space, epoch, key, groups)
	if err != nil {
		return nil, nil, nil, err
	}
	commit := commitment(r.space, epoch, key)
	w := wireState{Nonce: r.nonce, Name: r.name, Epoch: epoch, Commit: commit, Keys: sealed[0], Parts: uint64(len(groups)),
		TTL: uint64(ttl / time.Second)}
	for _, id := range members {
		w.Members = append(w.Members, id.Bytes())
	}
	for _, id := range removed {
		w.Removed = append(w.Removed, id.Bytes())
	}
	payload, err := wire.Marshal(w)
	if err != nil {
		return nil, nil, nil, err
	}
	if st, err = item.New(signer, KindState, r.space, now, payload); err != nil {
		return nil, nil, nil, err
	}
	for i, p := range sealed[1:] {
		kp, err := wire.Marshal(wireKeys{Epoch: epoch, Commit: commit, Part: uint64(i + 1), Keys: p})
		if err != nil {
			return nil, nil, nil, err
		}
		k, err := item.New(signer, KindKeys, r.space, now, kp)
		if err != nil {
			return nil, nil, nil, err
		}
		keyItems = append(keyItems, k)
	}
	return st, keyItems, key, nil
}
