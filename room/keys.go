package room

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
)

// Labels, spelled as in docs/protocol.md §13.
const (
	spaceLabel   = "ghostwire space: room v1"
	commitLabel  = "ghostwire room key commitment v1"
	keysLabel    = "ghostwire room key wrap v1"
	messageLabel = "ghostwire room message key v1"

	// classMembers is the class of a room's scope: what its members see.
	classMembers = "room"
	// classInvites is the class of the invite scope two peers share:
	// invitations and removal notices between them (§13.1).
	classInvites = "room-invites"
)

// Specification constants, docs/protocol.md §13.5.
const (
	// NonceSize is the size of a room's nonce, which with the owner names
	// its space.
	NonceSize = 16
	// KeySize is the size of an epoch key.
	KeySize = chacha20poly1305.KeySize
	// MaxMembers bounds a room's members: a state item lists them all, and
	// a rekey seals the key once per member.
	MaxMembers = 1000
	// MaxName bounds a room's name in bytes of UTF-8.
	MaxName = 128
	// MaxText bounds a room message's text.
	MaxText = 32 << 10
	// MaxSharedRooms bounds the rooms two peers sync in one session: a
	// session carries at most syncproto.MaxScopes (256) scopes for every
	// service together, and a peer that offers more fails the session.
	MaxSharedRooms = 64
	// stanzaSize is the encoded size of one member's key wrap in a sealed
	// payload (§9.2): the recipient's 32-byte identity, the ML-KEM-768 +
	// X25519 encapsulation (1,120 bytes) and the wrapped 32-byte key with
	// its tag, with their CBOR heads.
	stanzaSize = 1208
	// partMembers is how many key wraps a keys item (kind 33) carries: 50
	// stanzas take 60,400 bytes, under item.MaxPayload with room to spare.
	partMembers = 50
	// stateFixed bounds what a state item holds besides its member lists,
	// its name and its key wraps: nonce, epoch, commitment, parts, the
	// sealed payload's ciphertext, commitment and heads.
	stateFixed = 512
)

// Space is the space of the room that owner made with nonce: no one else
// can sign a state for it, since the owner is part of its name.
func Space(owner identity.ID, nonce []byte) item.Space {
	h := sha256.New()
	h.Write([]byte(spaceLabel))
	h.Write(owner.Bytes())
	h.Write(nonce)
	return item.Space(h.Sum(nil))
}

// Scope is the scope of a room: its members reconcile it.
func Scope(sp item.Space) item.Scope { return item.ScopeOf(sp, classMembers) }

// InviteScope is the scope of invitations and removal notices between a and
// b, the same for both.
func InviteScope(a, b identity.ID) item.Scope {
	return item.ScopeOf(item.DirectSpace(a, b), classInvites)
}

// epochBytes is an epoch as it enters a derivation: 8 bytes, big endian.
func epochBytes(e uint64) []byte { return binary.BigEndian.AppendUint64(nil, e) }

// commitment binds an epoch's key to its room and epoch (§13.4): every part
// of a rekey carries it, and a member checks the key it unwrapped against
// the one in the owner-signed state before it uses it, so all members of an
// epoch hold the same key whichever part they read it from.
func commitment(sp item.Space, epoch uint64, key []byte) []byte {
	h := sha256.New()
	h.Write([]byte(commitLabel))
	h.Write(sp[:])
	h.Write(epochBytes(epoch))
	h.Write(key)
	return h.Sum(nil)
}

// keysAAD is the associated data of an epoch key's sealed parts.
func keysAAD(sp item.Space, epoch uint64, commit []byte) []byte {
	b := append([]byte(keysLabel), sp[:]...)
	b = append(b, epochBytes(epoch)...)
	return append(b, commit...)
}

// firstPart is how many members' key wraps fit in the state item itself,
// beside its member lists and name.
func firstPart(name string, members, removed int) int {
	room := item.MaxPayload - stateFixed - len(name) - 34*(members+removed)
	return max(0, min(recipient.MaxRecipients, room/stanzaSize, members))
}

// split cuts the members into the state's part and the keys items' parts.
func split(members []*recipient.PublicKey, first int) [][]*recipient.PublicKey {
	parts := [][]*recipient.PublicKey{members[:first]}
	for rest := members[first:]; len(rest) > 0; {
		n := min(partMembers, len(rest))
		parts, rest = append(parts, rest[:n]), rest[n:]
	}
	return parts
}

// sealKey seals an epoch's key to each group of members, one sealed payload
// per part (§13.4). An empty group (a state whose wraps all went to keys
// items) gives an empty part.
func sealKey(rand io.Reader, sp item.Space, epoch uint64, key []byte, parts [][]*recipient.PublicKey) ([][]byte, error) {
	commit := commitment(sp, epoch, key)
	out := make([][]byte, len(parts))
	for i, p := range parts {
		if len(p) == 0 {
			continue
		}
		sealed, err := recipient.Seal(rand, key, keysAAD(sp, epoch, commit), p)
		if err != nil {
			return nil, err
		}
		out[i] = sealed
	}
	return out, nil
}

// ErrNoKey: this node holds no key for the epoch: it was not a member of
// it, or the part that wraps the key for it has not arrived yet.
var ErrNoKey = errors.New("room: no key for this epoch")

// openKey unwraps an epoch's key from a sealed part with our recipient key
// and checks it against the owner-signed commitment.
func openKey(sealed []byte, sp item.Space, epoch uint64, commit []byte, rk *recipient.PrivateKey) ([]byte, error) {
	key, err := recipient.Open(sealed, keysAAD(sp, epoch, commit), rk)
	if errors.Is(err, recipient.ErrNotRecipient) {
		return nil, ErrNoKey
	}
	if err != nil {
		return nil, err
	}
	if len(key) != KeySize || subtle.ConstantTimeCompare(commitment(sp, epoch, key), commit) != 1 {
		return nil, fmt.Errorf("room: the epoch %d key is not the one its state commits to", epoch)
	}
	return key, nil
}

// messageKey derives the key every message of an epoch is sealed under
// (§13.4): HKDF-SHA256 with the room's space as salt, so two rooms or two
// epochs never share a message key even if an epoch key were reused.
func messageKey(epochKey []byte, sp item.Space, epoch uint64) []byte {
	k, err := hkdf.Key(sha256.New, epochKey, sp[:], messageLabel+string(epochBytes(epoch)), chacha20poly1305.KeySize)
	if err != nil {
		panic("bug: " + err.Error())
	}
	return k
}

// messageAAD binds a message's ciphertext to its room, author and epoch.
func messageAAD(sp item.Space, author identity.ID, epoch uint64) []byte {
	b := append(sp[:0:0], sp[:]...)
	b = append(b, author.Bytes()...)
	return append(b, epochBytes(epoch)...)
}

// sealBody encrypts a message body with XChaCha20-Poly1305 under the
// epoch's message key. Many members write under one key, so the nonce is
// random, and 24 bytes long so that random nonces never collide in
// practice.
func sealBody(rand io.Reader, epochKey []byte, sp item.Space, author identity.ID, epoch uint64, body []byte) (nonce, ct []byte, err error) {
	k := messageKey(epochKey, sp, epoch)
	defer clear(k)
	a, err := chacha20poly1305.NewX(k)
	if err != nil {
		return nil, nil, fmt.Errorf("bug: %w", err)
	}
	nonce = make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := io.ReadFull(rand, nonce); err != nil {
		return nil, nil, fmt.Errorf("room: reading randomness: %w", err)
	}
	return nonce, a.Seal(nil, nonce, body, messageAAD(sp, author, epoch)), nil
}

// openBody decrypts a message body.
func openBody(epochKey []byte, sp item.Space, author identity.ID, epoch uint64, nonce, ct []byte) ([]byte, error) {
	k := messageKey(epochKey, sp, epoch)
	defer clear(k)
	a, _ := chacha20poly1305.NewX(k)
	if len(nonce) != chacha20poly1305.NonceSizeX {
		return nil, fmt.Errorf("room: message nonce is %d bytes, want %d", len(nonce), chacha20poly1305.NonceSizeX)
	}
	pt, err := a.Open(nil, nonce, ct, messageAAD(sp, author, epoch))
	if err != nil {
		return nil, errors.New("room: the message does not open under its epoch's key")
	}
	return pt, nil
}
