package room

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/wire"
)

// The room item kinds, docs/protocol.md §5.6 and §13.2.
const (
	KindState   = item.KindRoomState
	KindKeys    = item.KindRoomKeys
	KindInvite  = item.KindRoomInvite
	KindJoin    = item.KindRoomJoin
	KindLeave   = item.KindRoomLeave
	KindMessage = item.KindRoomMessage
)

// ErrMalformed is wrapped by every error of a room item that does not
// follow §13.2: a peer that sends one sent something no honest node makes.
var ErrMalformed = errors.New("room: malformed item")

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

// state is a decoded room state (kind 32).
type state struct {
	it      *item.Item
	nonce   []byte
	name    string
	epoch   uint64
	members []identity.ID // the owner first
	removed []identity.ID
	commit  []byte
	keys    []byte // the first part's sealed key; empty when it has none
	parts   uint64
	ttl     uint64 // the room's timer in seconds under this epoch; 0: none
}

// checkName reports why name cannot name a room, or nil.
func checkName(name string) error {
	switch {
	case !utf8.ValidString(name) || strings.TrimSpace(name) == "":
		return errors.New("the room name is empty or not UTF-8")
	case len(name) > MaxName:
		return fmt.Errorf("the room name is %d bytes, the limit is %d", len(name), MaxName)
	}
	return nil
}

// ids decodes a list of distinct identities.
func ids(raw [][]byte, what string) ([]identity.ID, error) {
	if len(raw) > MaxMembers {
		return nil, malformed("%d %s, the limit is %d", len(raw), what, MaxMembers)
	}
	out := make([]identity.ID, len(raw))
	seen := make(map[identity.ID]bool, len(raw))
	for i, b := range raw {
		id, err := identity.NewID(b)
		if err != nil {
			return nil, malformed("%s %d: %v", what, i, err)
		}
		if seen[id] {
			return nil, malformed("%s %d listed twice", what, i)
		}
		seen[id], out[i] = true, id
	}
	return out, nil
}

// partsFor is how many parts a state with these lists has (§13.4).
func partsFor(name string, members, removed int) uint64 {
	first := firstPart(name, members, removed)
	return 1 + uint64((members-first+partMembers-1)/partMembers)
}

// decodeState reads and checks a room state: its payload, that its author
// owns the space, and that its first part wraps the key for exactly the
// members the layout puts there. The item must be verified already.
func decodeState(it *item.Item) (*state, error) {
	if it.Kind() != KindState {
		return nil, malformed("kind %s is not a room state", it.Kind())
	}
	var w wireState
	if err := wire.UnmarshalCanonical(it.Payload(), &w); err != nil {
		return nil, malformed("state: %v", err)
	}
	if len(w.Nonce) != NonceSize {
		return nil, malformed("state nonce is %d bytes, want %d", len(w.Nonce), NonceSize)
	}
	if Space(it.Author(), w.Nonce) != it.Space() {
		return nil, malformed("the state's author does not own the room")
	}
	if err := checkName(w.Name); err != nil {
		return nil, malformed("%v", err)
	}
	members, err := ids(w.Members, "member")
	if err != nil {
		return nil, err
	}
	removed, err := ids(w.Removed, "removed member")
	if err != nil {
		return nil, err
	}
	switch {
	case len(members) == 0 || members[0] != it.Author():
		return nil, malformed("the owner is not the state's first member")
	case len(w.Commit) != 32:
		return nil, malformed("key commitment is %d bytes, want 32", len(w.Commit))
	case w.TTL != 0 && !ttlRange(w.TTL):
		return nil, malformed("room ttl %d seconds is outside 60 to 31,536,000", w.TTL)
	case w.Parts != partsFor(w.Name, len(members), len(removed)):
		return nil, malformed("%d key parts, the layout gives %d", w.Parts, partsFor(w.Name, len(members), len(removed)))
	}
	if len(members)+len(removed) > MaxMembers {
		return nil, malformed("%d members and %d removed, together over %d", len(members), len(removed), MaxMembers)
	}
	for _, r := range removed {
		if slices.Contains(members, r) {
			return nil, malformed("a removed member is still listed")
		}
	}
	first := firstPart(w.Name, len(members), len(removed))
	if err := checkPart(w.Keys, members[:first]); err != nil {
		return nil, err
	}
	return &state{it: it, nonce: w.Nonce, name: w.Name, epoch: w.Epoch, members: members, removed: removed,
		commit: w.Commit, keys: w.Keys, parts: w.Parts, ttl: w.TTL}, nil
}

// checkPart checks that a sealed part wraps the key for exactly want, in
// order; an empty want needs an empty part.
func checkPart(sealed []byte, want []identity.ID) error {
	if len(want) == 0 {
		if len(sealed) != 0 {
			return malformed("key part where none belongs")
		}
		return nil
	}
	got, err := recipient.Recipients(sealed)
	if err != nil {
		return malformed("key part: %v", err)
	}
	if !slices.Equal(got, want) {
		return malformed("key part wraps for %d members, not the %d the layout gives", len(got), len(want))
	}
	return nil
}

// keysPart is a decoded further part of an epoch's key (kind 33).
type keysPart struct {
	it     *item.Item
	epoch  uint64
	commit []byte
	part   uint64
	keys   []byte
}

func decodeKeys(it *item.Item) (*keysPart, error) {
	if it.Kind() != KindKeys {
		return nil, malformed("kind %s is not a room key part", it.Kind())
	}
	var w wireKeys
	if err := wire.UnmarshalCanonical(it.Payload(), &w); err != nil {
		return nil, malformed("key part: %v", err)
	}
	switch {
	case len(w.Commit) != 32:
		return nil, malformed("key commitment is %d bytes, want 32", len(w.Commit))
	case w.Part == 0 || w.Part > MaxMembers/partMembers+1:
		return nil, malformed("key part %d out of range", w.Part)
	}
	got, err := recipient.Recipients(w.Keys)
	if err != nil {
		return nil, malformed("key part: %v", err)
	}
	if len(got) > partMembers {
		return nil, malformed("key part wraps for %d members, the limit is %d", len(got), partMembers)
	}
	return &keysPart{it: it, epoch: w.Epoch, commit: w.Commit, part: w.Part, keys: w.Keys}, nil
}

// fits reports whether a key part belongs to state st: same epoch and
// commitment, a part number the state announces, wrapping for the members
// the layout puts in that part.
func (k *keysPart) fits(st *state) bool {
	if k.epoch != st.epoch || !bytes.Equal(k.commit, st.commit) || k.part >= st.parts {
		return false
	}
	first := firstPart(st.name, len(st.members), len(st.removed))
	lo := first + int(k.part-1)*partMembers
	hi := min(lo+partMembers, len(st.members))
	return lo < hi && checkPart(k.keys, st.members[lo:hi]) == nil
}

// invite is a decoded invitation (kind 34).
type invite struct {
	it      *item.Item
	nonce   []byte
	name    string
	epoch   uint64
	invitee identity.ID
	members []identity.ID
}

func decodeInvite(it *item.Item) (*invite, error) {
	if it.Kind() != KindInvite {
		return nil, malformed("kind %s is not a room invite", it.Kind())
	}
	var w wireInvite
	if err := wire.UnmarshalCanonical(it.Payload(), &w); err != nil {
		return nil, malformed("invite: %v", err)
	}
	if len(w.Nonce) != NonceSize || Space(it.Author(), w.Nonce) != it.Space() {
		return nil, malformed("the invite's author does not own the room")
	}
	if err := checkName(w.Name); err != nil {
		return nil, malformed("%v", err)
	}
	invitee, err := identity.NewID(w.Invitee)
	if err != nil {
		return nil, malformed("invitee: %v", err)
	}
	members, err := ids(w.Members, "member")
	if err != nil {
		return nil, err
	}
	if len(members) == 0 || members[0] != it.Author() || !slices.Contains(members, invitee) || invitee == it.Author() {
		return nil, malformed("the invite's members do not start with its owner and include its invitee")
	}
	return &invite{it: it, nonce: w.Nonce, name: w.Name, epoch: w.Epoch, invitee: invitee, members: members}, nil
}

// mark is a decoded join (kind 35) or leave (kind 36).
type mark struct {
	it    *item.Item
	epoch uint64
}

func decodeMark(it *item.Item) (*mark, error) {
	if it.Kind() != KindJoin && it.Kind() != KindLeave {
		return nil, malformed("kind %s is not a join or leave", it.Kind())
	}
	var w wireMark
	if err := wire.UnmarshalCanonical(it.Payload(), &w); err != nil {
		return nil, malformed("%s: %v", it.Kind(), err)
	}
	return &mark{it: it, epoch: w.Epoch}, nil
}

// message is a decoded room message (kind 37), still sealed.
type message struct {
	it        *item.Item
	epoch     uint64
	nonce     []byte
	ct        []byte
	ttl       uint64 // seconds; 0: does not burn
	afterRead bool
}

func decodeMessage(it *item.Item) (*message, error) {
	if it.Kind() != KindMessage {
		return nil, malformed("kind %s is not a room message", it.Kind())
	}
	var w wireMessage
	if err := wire.UnmarshalCanonical(it.Payload(), &w); err != nil {
		return nil, malformed("message: %v", err)
	}
	if len(w.Nonce) != 24 || len(w.Ciphertext) < 16 {
		return nil, malformed("message nonce or ciphertext too short")
	}
	if err := timerOf(&w); err != nil {
		return nil, err
	}
	return &message{it: it, epoch: w.Epoch, nonce: w.Nonce, ct: w.Ciphertext, ttl: w.TTL, afterRead: w.AfterRead}, nil
}

// decodeBody reads an opened message body.
func decodeBody(pt []byte) (string, error) {
	var b wireBody
	if err := wire.UnmarshalCanonical(pt, &b); err != nil {
		return "", malformed("message body: %v", err)
	}
	if !utf8.ValidString(b.Text) || len(b.Text) > MaxText {
		return "", malformed("message text is not UTF-8 or too long")
	}
	if b.TTL != 0 {
		return "", malformed("a timer inside a message body (§13.6: it belongs in the signed payload)")
	}
	return b.Text, nil
}
