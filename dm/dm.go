// Package dm is direct messages: the item kinds message and read receipt
// (docs/protocol.md §5.6), the pair scope two peers share (§10.1), the
// outbox of messages waiting for a peer's key, and conversations as the
// API lists them.
//
// It is an item-kind service: the node calls it through the three methods
// every service has (Scopes, Check, Accepted) and gives it what it needs
// of the node through Host. It never imports node, net/http or a
// transport; the store it reaches only through Host.
package dm

import (
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/service"
	"github.com/ghostwire/ghostwire/vault"
	"github.com/ghostwire/ghostwire/wire"
)

// Host is what the service needs of the node.
type Host interface {
	service.Host
	// Peers lists the known peers.
	Peers() []identity.ID
	// PeerName is the peer's local name, or "".
	PeerName(identity.ID) string
	// Sent hands our new items of the pair scope with peer to its live
	// session, or has the dialer reach it.
	Sent(peer identity.ID, items ...*item.Item)
	// Urge has the dialer reach peer soon.
	Urge(peer identity.ID)
	// Changed wakes whoever follows the conversations.
	Changed()
	// Changes is closed at the next stored change (any service's).
	Changes() <-chan struct{}
	// Vault holds the keys of burnable messages (seal.go); nil means this
	// node can neither send nor keep them, and refuses them.
	Vault() *vault.Vault
}

// Service is the direct-message service of one node.
type Service struct {
	h     Host
	feeds feeds // the --follow streams' shared change feeds (follow.go)
	// flushMu lets one flushOutbox at a time seal the queued messages, so
	// that two (a key arriving while a message is queued) do not seal the
	// same message twice.
	flushMu sync.Mutex
	// seal keeps burnable messages at rest under their vault keys
	// (seal.go); nil without a vault.
	seal *sealer
	// forgotAt is when BurnDue last forgot old burnt IDs (Unix seconds).
	forgotAt atomic.Int64
}

// New returns the service. With a vault it registers the sealer of
// burnable messages with the store (store.AddSealer), so call it before
// the store is used concurrently.
func New(h Host) *Service {
	s := &Service{h: h}
	if v := h.Vault(); v != nil {
		s.seal = newSealer(v, h.Rand())
		h.Store().AddSealer(item.KindBurnMessage, s.seal)
	}
	return s
}

// SealKind has items of kind k kept like burnable messages: sealed under
// their own vault key, burnt at the deadline fn gives (the burn loop, and
// on start), and erased by Burn. fn reads the item alone (it runs inside a
// store transaction) and says whether the item burns at all; one that
// does not is stored as every other item. Without a vault it does
// nothing: the kind's service refuses items that burn then. Call it
// before the store is used concurrently. Rooms use it (docs/protocol.md
// §13.6): one vault and one burn loop serve every kind that burns.
func (s *Service) SealKind(k item.Kind, fn func(*item.Item) (until time.Time, burns bool)) {
	if s.seal == nil {
		return
	}
	s.seal.others[k] = fn
	s.h.Store().AddSealer(k, s.seal)
}

// Burn destroys items sealed here (any kind SealKind registered) now:
// their vault keys, then what the store kept of them; their IDs are
// remembered until keep, so sync neither offers them nor takes them back.
func (s *Service) Burn(ids []item.ID, keep time.Time, why string) { s.burn(ids, keep, why) }

// SetErasureForTest, with off, stores burnable messages as their own bytes
// and burns them by deleting them from the store alone, without a vault
// key to destroy: the forensic test's control, which must find what
// burning leaves behind then. Tests only; call it before anything is
// stored.
func (s *Service) SetErasureForTest(off bool) {
	if s.seal != nil {
		s.seal.clear = off
	}
}

// Scopes lists the scopes this service shares with peer: their pair scope.
func (s *Service) Scopes(peer identity.ID) []item.Scope {
	return []item.Scope{item.PairScope(s.h.ID(), peer)}
}

// Check returns the test an item peer sent in scope sc must pass to be
// stored there, or nil if sc is not this service's. The pair scope holds
// the pair's messages, receipts and deletions of those, and the pair's
// recipient-key certificates: the peer's, and ours (a node restored from
// its key file onto an empty store gets its old certificate back).
func (s *Service) Check(peer identity.ID, sc item.Scope) func(*item.Item) bool {
	me := s.h.ID()
	if sc != item.PairScope(me, peer) {
		return nil
	}
	direct := item.DirectSpace(me, peer)
	return func(it *item.Item) bool {
		ours := it.Author() == peer || it.Author() == me
		switch it.Kind() {
		case item.KindRecipientKey:
			return ours && it.Space() == recipient.Space
		case item.KindMessage:
			return ours && it.Space() == direct && s.readable(it.Payload(), it)
		case item.KindBurnMessage:
			return ours && it.Space() == direct && s.burnable(it)
		case item.KindReceipt, item.KindTombstone:
			return ours && it.Space() == direct
		}
		return false
	}
}

// readable reports whether a message's body, once opened, is one this node
// can show: a canonical message body whose text is valid UTF-8 (the
// decoder refuses anything else). A message whose body is not is refused
// before it is stored, so no listing has to guess at its text: the peer
// sent bytes that are not text. A message that does not open with our
// recipient key is let through as before: it may be sealed to a key of ours
// this service does not hold, and listings already skip it.
func (s *Service) readable(sealed []byte, it *item.Item) bool {
	pt, err := recipient.Open(sealed, messageAAD(it.Space(), it.Author()), s.h.RecipientKey())
	if err != nil {
		return true
	}
	var body messageBody
	return wire.UnmarshalCanonical(pt, &body) == nil && utf8.ValidString(body.Text)
}

// burnable reports whether a burnable message may be stored: this node
// can keep it erasably (it has a vault), its payload is canonical with a
// timer in range (a forged or altered timer fails the item's signature
// before this), its timer has not run out, and its body is readable.
func (s *Service) burnable(it *item.Item) bool {
	if s.seal == nil {
		return false
	}
	t, sealed, err := decodeBurn(it.Payload())
	if err != nil || !deadline(it, t).After(s.h.Now()) {
		return false
	}
	return s.readable(sealed, it)
}

// Accepted is told of items from peer once stored (and the node has taken
// note of a recipient-key certificate among them): it records when the
// peer's messages arrived (conversations list in arrival order), and seals
// the messages waiting for the peer once its key has come.
func (s *Service) Accepted(peer identity.ID, items []*item.Item) error {
	if err := s.noteArrivals(items); err != nil {
		return err
	}
	for _, it := range items {
		if it.Kind() == item.KindRecipientKey && it.Author() == peer {
			s.flushOutbox(peer)
			break
		}
	}
	for _, it := range items {
		if it.Kind() == item.KindReceipt && it.Author() == peer {
			s.burnRead(peer)
			break
		}
	}
	return nil
}

// Resume seals the messages left in the outbox for every peer whose key is
// already known. A node stopped (or killed) after a sync brought a peer's
// key and before it sealed what waited for that key would otherwise keep
// those messages queued for ever: the key, already stored, never arrives
// again. The node calls it when it starts.
func (s *Service) Resume() {
	for _, p := range s.h.Peers() {
		s.flushOutbox(p)
	}
}

// Queued counts every outgoing message still waiting, whatever for: those
// in the outbox waiting for a peer's key, and those sent as items that the
// peer has neither acknowledged nor reported read (the peer offline, its
// tor or ours down or hung). It is what List shows as queued; counting
// only the outbox made status say "0 queued" while messages waited.
func (s *Service) Queued() int {
	n := len(s.outboxMessages(nil))
	for _, p := range s.h.Peers() {
		read := map[item.ID]bool{}
		var mine []item.ID
		s.h.Store().SpaceItems(item.DirectSpace(s.h.ID(), p), func(it *item.Item) error {
			switch {
			case it.Kind() == item.KindReceipt && it.Author() == p:
				addRead(it, read)
			case (it.Kind() == item.KindMessage || it.Kind() == item.KindBurnMessage) && it.Author() == s.h.ID():
				mine = append(mine, it.ID())
			}
			return nil
		})
		for _, id := range mine {
			if !read[id] && !s.delivered(id) {
				n++
			}
		}
	}
	return n
}
