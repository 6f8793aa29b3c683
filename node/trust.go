package node

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/ghostwire/ghostwire/contacts"
	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/localapi/apitype"
)

// The contacts book decides who gets a session (contacts.Book.Admit); this
// file is where the node enforces it and what it remembers of the answers
// (docs/trust.md). Admission happens in three places, so that a blocked or
// revoked peer never gets a session whichever side dials:
//   - the responder's Authorize (handshakeConfig), once the initiator has
//     proved its identity and before any record of the channel is read;
//   - dialPeer, before it dials (the dialer never dials such a peer);
//   - runSession, for a state changed while a dial was under way.

// Waiting reasons a queued message shows (apitype.Message.Waiting).
const (
	// WaitingAccept: the peer's onion answered and proved its identity,
	// then closed without a word: it has not added us (or removed or
	// blocked us, which it does not tell). docs/trust.md §2.
	WaitingAccept = apitype.WaitingAccept
)

// maxRefusals bounds the refusals status remembers (one per peer).
const maxRefusals = 64

// refusal is a blocked or revoked peer's latest refused handshake.
type refusal struct {
	state contacts.State
	count uint64
	last  time.Time
}

// authorize is the responder's admission (syncproto.Config.Authorize). A
// stranger is kept as a contact request; the session is refused in every
// case but an admitted contact, with the same bare close, so the initiator
// cannot tell a request from a block.
func (n *Node) authorize(peer identity.ID) error {
	err := n.contacts.Admit(peer)
	var re *contacts.RefusedError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, contacts.ErrNotContact):
		if nerr := n.contacts.Note(peer); nerr != nil {
			// DEBUG: a flood of strangers must not flood the log; status
			// counts the requests dropped.
			n.log.Debug("refused a stranger's handshake; no request kept", "peer", peer, "reason", nerr)
			return nerr
		}
		n.log.Info("contact request: a peer that is not a contact connected; accept or ignore it ('peer requests')", "peer", peer)
		n.notifyChanged()
	case errors.As(err, &re):
		n.noteRefusal(re)
		n.log.Info("refused a peer at the handshake", "peer", peer, "state", re.State.String())
	default:
		n.log.Debug("refused a peer at the handshake", "peer", peer, "reason", err)
	}
	return err
}

// noteRefusal remembers a refused handshake for status.
func (n *Node) noteRefusal(re *contacts.RefusedError) {
	n.st.mu.Lock()
	defer n.st.mu.Unlock()
	r := n.st.refused[re.Peer]
	if r == nil {
		if len(n.st.refused) >= maxRefusals {
			return
		}
		r = &refusal{}
		n.st.refused[re.Peer] = r
	}
	r.state, r.last = re.State, n.cfg.Now().UTC().Truncate(time.Second)
	r.count++
}

// setAnswered records how a dial to peer ended: heard (it spoke in the
// session) or silent after a handshake that proved it (it does not admit
// us). Only the latter makes queued messages say WaitingAccept.
func (n *Node) setAnswered(peer identity.ID, heard bool) {
	n.st.mu.Lock()
	defer n.st.mu.Unlock()
	if heard {
		delete(n.st.silent, peer)
	} else {
		n.st.silent[peer] = true
	}
}

// ExplainQueued fills Waiting on each outgoing queued message whose peer
// answered our last dial with a proved identity and then silence: we have
// no session because the peer has not accepted us, not because it is
// offline. It is what the sender can know honestly; the peer revealed no
// more than it does to anyone who knows its address.
func (n *Node) ExplainQueued(ms ...*Message) {
	n.st.mu.Lock()
	defer n.st.mu.Unlock()
	if len(n.st.silent) == 0 {
		return
	}
	for _, m := range ms {
		if m.Direction != "out" || m.State != StateQueued {
			continue
		}
		if id, err := identity.ParseID(m.Peer); err == nil && n.st.silent[id] {
			m.Waiting = WaitingAccept
		}
	}
}

// VerifyPeer marks a contact verified once the user confirmed the safety
// number. If safetyNumber is not empty it must be the pair's safety number
// (digits compared, spacing ignored): a wrong one is refused, since it
// means the user is not talking to the identity it is about to trust.
func (n *Node) VerifyPeer(id identity.ID, safetyNumber string) (*Peer, error) {
	if safetyNumber != "" && digitsOnly(safetyNumber) != digitsOnly(identity.SafetyNumber(n.id, id)) {
		return nil, fault.Invalidf("compare the number again with the peer, out of band; do not verify a peer whose number differs",
			"the safety number does not match %s", id)
	}
	// Verifying does not unblock: that is a separate, explicit choice.
	if st, ok := n.contacts.StateOf(id); ok && st == contacts.Blocked {
		return nil, fault.Invalidf("unblock the peer first", "peer %s is blocked", id.Short())
	}
	if err := n.contacts.SetState(id, contacts.Verified); err != nil {
		return nil, err
	}
	n.log.Info("peer verified", "peer", id)
	n.notifyChanged()
	return n.peer(id)
}

func digitsOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// BlockPeer blocks a contact: its session ends now, it is refused at every
// handshake and never dialled. Its stored messages stay.
func (n *Node) BlockPeer(id identity.ID) (*Peer, error) {
	if err := n.contacts.SetState(id, contacts.Blocked); err != nil {
		return nil, err
	}
	n.tellPeers()
	n.endSession(id)
	n.log.Info("peer blocked", "peer", id)
	n.notifyChanged()
	return n.peer(id)
}

// UnblockPeer makes a blocked contact unverified again: it is dialled and
// admitted as any peer the user added. A revoked one stays revoked.
func (n *Node) UnblockPeer(id identity.ID) (*Peer, error) {
	st, ok := n.contacts.StateOf(id)
	if ok && st != contacts.Blocked && st != contacts.Revoked {
		return nil, fault.Invalidf("only a blocked peer can be unblocked", "peer %s is not blocked (it is %s)", id.Short(), st)
	}
	if err := n.contacts.SetState(id, contacts.Unverified); err != nil {
		return nil, err
	}
	n.st.mu.Lock()
	delete(n.st.refused, id)
	n.st.mu.Unlock()
	n.tellPeers()
	n.log.Info("peer unblocked", "peer", id)
	n.urge(id)
	return n.peer(id)
}

// VerifiedContacts returns the identities the user verified: reputation's
// pre-trusted set.
func (n *Node) VerifiedContacts() []identity.ID { return n.contacts.Verified() }

// Requests lists the pending contact requests.
func (n *Node) Requests() ([]apitype.ContactRequest, error) {
	rs, err := n.contacts.Requests()
	out := make([]apitype.ContactRequest, 0, len(rs))
	for _, r := range rs {
		out = append(out, apitype.ContactRequest{Onion: r.ID.String(), SafetyNumber: r.SafetyNumber, First: r.First, Last: r.Last})
	}
	return out, err
}

// AcceptRequest makes a pending request's peer a contact, named name, and
// dials it: its queued messages to us flow once it connects.
func (n *Node) AcceptRequest(id identity.ID, name string) (*Peer, error) {
	if err := n.contacts.Accept(id, name); err != nil {
		return nil, err
	}
	n.log.Info("contact request accepted", "peer", id)
	return n.AddPeer(id, name)
}

// IgnoreRequest drops a pending request; the peer's later handshakes make
// no new one (adding it undoes that).
func (n *Node) IgnoreRequest(id identity.ID) error {
	if err := n.contacts.Ignore(id); err != nil {
		return err
	}
	n.log.Info("contact request ignored", "peer", id)
	n.notifyChanged()
	return nil
}

// contactsStatus is what status shows of contacts, requests and refusals.
func (n *Node) contactsStatus() apitype.ContactsStatus {
	var st apitype.ContactsStatus
	cs, _ := n.contacts.List()
	for _, c := range cs {
		switch c.State {
		case contacts.Verified:
			st.Verified++
		case contacts.Blocked:
			st.Blocked++
		case contacts.Revoked:
			st.Revoked++
		default:
			st.Unverified++
		}
	}
	rs := n.contacts.RequestStats()
	st.Requests, st.RequestsDropped, st.MaxRequests = rs.Pending, rs.Dropped, rs.Limits.Max
	n.st.mu.Lock()
	for id, r := range n.st.refused {
		st.Refused = append(st.Refused, apitype.Refusal{Peer: id.String(), State: r.state.String(), Count: r.count, Last: r.last})
	}
	n.st.mu.Unlock()
	slices.SortFunc(st.Refused, func(a, b apitype.Refusal) int { return strings.Compare(a.Peer, b.Peer) })
	return st
}

// Refused returns a *contacts.RefusedError if id is a blocked or revoked
// contact, else nil: nothing is sent to such a peer, so the API refuses a
// message to it rather than queue one for ever.
func (n *Node) Refused(id identity.ID) error {
	var re *contacts.RefusedError
	if err := n.contacts.Admit(id); errors.As(err, &re) {
		return fault.Invalidf("unblock the peer first", "%v", err)
	}
	return nil
}

// revokeContact marks a contact revoked because its identity published a
// revocation of itself (docs/protocol.md §5.12): it is refused at every
// handshake from now on, like a blocked one. Its session is cancelled, not
// waited for: the call comes from that very session, while it stores the
// revocation.
func (n *Node) revokeContact(id identity.ID) error {
	if _, ok := n.contacts.StateOf(id); !ok {
		return nil
	}
	if err := n.contacts.Revoke(id); err != nil {
		return err
	}
	n.tellPeers()
	n.st.mu.Lock()
	if ps := n.st.sessions[id]; ps != nil {
		ps.cancel()
	}
	n.st.mu.Unlock()
	n.notifyChanged()
	return nil
}
