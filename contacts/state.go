package contacts

import (
	"errors"
	"fmt"
	"time"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/wire"
)

// State is what the user has established about a contact (docs/trust.md).
// The zero value is Unverified, so records written before states existed
// read as what they were: peers added by address.
type State uint8

// Contact states. Their numbers are stored; never renumber them.
const (
	// Unverified: added by address, safety number not compared. It syncs,
	// under the quotas for sources the user has not verified.
	Unverified State = 0
	// Verified: the user compared the safety number out of band and
	// confirmed it. Its identity is in Verified, the pre-trusted set.
	Verified State = 1
	// Blocked: the user refused it. It is refused at every handshake, in
	// both directions, and never dialled.
	Blocked State = 2
	// Revoked: its identity published a revocation of itself. It is refused
	// like Blocked, and the user cannot unblock it: a revoked key is gone
	// for good, whoever holds it now.
	Revoked State = 3
)

// String is the state's name as the CLI and the API show it.
func (s State) String() string {
	switch s {
	case Unverified:
		return "unverified"
	case Verified:
		return "verified"
	case Blocked:
		return "blocked"
	case Revoked:
		return "revoked"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Refuses reports whether a contact in this state gets no session.
func (s State) Refuses() bool { return s == Blocked || s == Revoked }

// RefusedError means a contact's state refuses it a session: the node
// returns it (wrapped in the handshake's error) when a blocked or revoked
// peer connects, and instead of dialling one. It tells the user which peer
// and why; the peer itself is told nothing (the connection just closes).
type RefusedError struct {
	Peer  identity.ID
	State State
}

// Error names the peer by its short form and the state that refuses it.
func (e *RefusedError) Error() string {
	return fmt.Sprintf("contacts: peer %s is %s: no session", e.Peer.Short(), e.State)
}

// ErrNotContact means a peer that is not a contact tried to connect. The
// node keeps it as a contact request (if the quota allows) and refuses the
// session: nothing but the request is stored until the user accepts it.
var ErrNotContact = errors.New("contacts: not a contact (kept as a contact request)")

// Admit decides whether peer gets a session: nil for an unverified or
// verified contact, a *RefusedError for a blocked or revoked one, and
// ErrNotContact (or ErrIgnored) for anyone else. It stores nothing; the
// caller records a request for ErrNotContact (Requests.Note).
func (b *Book) Admit(peer identity.ID) error {
	c, err := b.Get(peer)
	if err != nil {
		if b.ignored(peer) {
			return ErrIgnored
		}
		return ErrNotContact
	}
	if c.State.Refuses() {
		return &RefusedError{Peer: peer, State: c.State}
	}
	return nil
}

// SetState moves a contact to state. Verifying records when; a revoked
// contact stays revoked whatever is asked (only a revocation puts it there,
// and nothing takes it out).
func (b *Book) SetState(id identity.ID, state State) error {
	if state > Revoked {
		return fmt.Errorf("bug: contacts: unknown state %d", state)
	}
	b.addMu.Lock()
	defer b.addMu.Unlock()
	err := b.db.Update(func(tx *store.Tx) error {
		raw, err := tx.Get(bucketPeer, id.Bytes())
		if err != nil {
			return err
		}
		var rec record
		if err := wire.Unmarshal(raw, &rec); err != nil {
			return err
		}
		if State(rec.State) == Revoked && state != Revoked {
			return fault.Invalidf("remove it, or add the identity it moved to", "peer %s revoked its own identity; it cannot be unblocked or verified", id.Short())
		}
		rec.State = uint8(state)
		if state == Verified {
			rec.Verified = b.now().Unix()
		} else {
			rec.Verified = 0
		}
		v, err := wire.Marshal(rec)
		if err != nil {
			return err
		}
		return tx.Put(bucketPeer, id.Bytes(), v)
	})
	if errors.Is(err, store.ErrNotFound) {
		return unknown(id)
	}
	return err
}

// Revoke marks a contact revoked. It is for the revocation item's handler
// (a later piece of the trust issue): a user blocks, an identity revokes
// itself.
func (b *Book) Revoke(id identity.ID) error { return b.SetState(id, Revoked) }

// Verified returns the identities of the contacts the user has verified, in
// order: the pre-trusted set that reputation (EigenTrust) starts from, and
// the sources whose quotas are the larger ones.
func (b *Book) Verified() []identity.ID {
	var out []identity.ID
	cs, _ := b.List()
	for _, c := range cs {
		if c.State == Verified {
			out = append(out, c.ID)
		}
	}
	return out
}

// StateOf is id's contact state; ok is false if it is not a contact.
func (b *Book) StateOf(id identity.ID) (state State, ok bool) {
	c, err := b.Get(id)
	if err != nil {
		return Unverified, false
	}
	return c.State, true
}

// verifiedAt is when a record was verified, zero if it is not.
func verifiedAt(rec record) time.Time {
	if rec.Verified == 0 {
		return time.Time{}
	}
	return time.Unix(rec.Verified, 0).UTC()
}
