package dm

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/ghostwire/ghostwire/localapi/apitype"
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/wire"
)

// MaxMessageText bounds a message's text; it leaves room in an item for
// the sealing overhead of two recipients.
const MaxMessageText = 32 << 10

const (
	bucketOutbox   = "outbox"   // created (8) ‖ random (8) → outboxEntry: waiting for the peer's key
	bucketReadSent = "readsent" // item ID → empty: we sent a receipt for this incoming message
	bucketReceived = "received" // item ID → arrival time (Unix ms, 8): an incoming message, when it arrived
)

type messageBody struct {
	Text string `cbor:"1,keyasint"`
}

// burnPayload is a burnable message's payload, docs/protocol.md §5.11.
type burnPayload struct {
	TTL       uint64 `cbor:"1,keyasint"`           // seconds, MinTTL..MaxTTL
	AfterRead bool   `cbor:"2,keyasint,omitempty"` // absent: false
	Sealed    []byte `cbor:"3,keyasint"`           // as kind 3's payload
}

type receiptBody struct {
	Read [][]byte `cbor:"1,keyasint"`
}

type outboxEntry struct {
	Peer []byte `cbor:"1,keyasint"`
	Text string `cbor:"2,keyasint"`
}

// Message is a direct message as the API shows it.
type Message = apitype.Message

// Message states as the API shows them.
const (
	StateQueued    = apitype.StateQueued    // not yet acknowledged by the peer
	StateDelivered = apitype.StateDelivered // stored by the peer
	StateRead      = apitype.StateRead      // the peer listed it
	StateReceived  = apitype.StateReceived  // incoming
)

// order is when a message takes its place in a conversation.
func order(m *Message) time.Time {
	if m.Received != nil {
		return *m.Received
	}
	return m.Created
}

func messageAAD(sp item.Space, author identity.ID) []byte {
	return append(append([]byte{}, sp[:]...), author.Bytes()...)
}

// Send stores a message to peer. If the peer's recipient key is
// known the message is sealed and stored as an item at once; otherwise it
// waits in the outbox (encrypted at rest by the store) until the first sync
// with the peer brings the key. Either way it is never lost, and the peer
// is dialled.
func (s *Service) Send(peer identity.ID, text string) (*Message, error) {
	return s.SendTimed(peer, text, Timer{})
}

// SendTimed is Send with a burn timer (docs/protocol.md §5.11); the zero
// Timer sends an ordinary message. A burnable message is never queued: it
// needs the peer's key at once, since the outbox would keep its text where
// no key can erase it.
func (s *Service) SendTimed(peer identity.ID, text string, timer Timer) (*Message, error) {
	if timer.Burns() {
		var err error
		if timer, err = timer.check(); err != nil {
			return nil, err
		}
		if s.seal == nil {
			return nil, fault.Invalidf("run the node from a data directory (ghostwire run), which keeps a vault for burnable messages",
				"this node has no vault, so it cannot send a message that burns")
		}
	}
	if !utf8.ValidString(text) || strings.TrimSpace(text) == "" {
		return nil, fault.Invalidf("send some text", "message text is empty or not UTF-8")
	}
	if len(text) > MaxMessageText {
		return nil, fault.Invalidf("split it into several messages", "message is %d bytes, the limit is %d", len(text), MaxMessageText)
	}
	if !s.h.IsPeer(peer) {
		return nil, fault.New(fault.UnknownPeer, "add it as a peer first", "unknown peer %s", peer)
	}
	now := s.h.Now()
	pk, err := s.h.PeerKey(peer)
	if err != nil && timer.Burns() {
		return nil, fault.Invalidf("let the node sync with the peer once (it brings the peer's key), then send again",
			"a message that burns cannot wait for the peer's key: it would sit in the outbox, where burning cannot reach it")
	}
	if err == nil {
		it, err := s.sealMessage(peer, pk, text, now, timer, nil)
		if err != nil {
			return nil, err
		}
		s.h.Sent(peer, it)
		m, err := s.messageFrom(it, peer, nil, nil, nil)
		if m != nil {
			m.PeerName = s.h.PeerName(peer)
		}
		return m, err
	}
	key := make([]byte, 16)
	binary.BigEndian.PutUint64(key, uint64(now.UnixNano()))
	if _, err := io.ReadFull(s.h.Rand(), key[8:]); err != nil {
		// A short key could collide with and overwrite another queued message.
		return nil, fmt.Errorf("dm: reading randomness: %w", err)
	}
	b, err := wire.Marshal(outboxEntry{Peer: peer.Bytes(), Text: text})
	if err != nil {
		return nil, err
	}
	if err := s.h.Store().Update(func(tx *store.Tx) error { return tx.Put(bucketOutbox, key, b) }); err != nil {
		return nil, err
	}
	// The key may have arrived, and the outbox been flushed, between our
	// look and the Put: flush again, or this message would wait for a key
	// that has already come.
	if _, err := s.h.PeerKey(peer); err == nil {
		s.flushOutbox(peer)
	}
	s.h.Urge(peer)
	s.h.Changed()
	return &Message{ID: "outbox-" + hex.EncodeToString(key), Peer: peer.String(), Direction: "out", Text: text,
		Created: now.UTC().Truncate(time.Millisecond), State: StateQueued}, nil
}

// sealMessage seals text to peer and stores it, as a burnable message if
// timer burns; with, if not nil, commits in the same transaction
// (store.Entry.With).
func (s *Service) sealMessage(peer identity.ID, pk *recipient.PublicKey, text string, at time.Time, timer Timer, with func(*store.Tx) error) (*item.Item, error) {
	body, err := wire.Marshal(messageBody{Text: text})
	if err != nil {
		return nil, err
	}
	sp := item.DirectSpace(s.h.ID(), peer)
	sealed, err := recipient.Seal(s.h.Rand(), body, messageAAD(sp, s.h.ID()), []*recipient.PublicKey{pk, s.h.RecipientKey().Public()})
	if err != nil {
		return nil, err
	}
	kind, payload := item.KindMessage, sealed
	if timer.Burns() {
		kind = item.KindBurnMessage
		if payload, err = encodeBurn(timer, sealed); err != nil {
			return nil, err
		}
	}
	it, err := item.New(s.h.Key(), kind, sp, at, payload)
	if err != nil {
		return nil, err
	}
	if _, err := s.h.Store().PutItems([]store.Entry{{Item: it, Scopes: []item.Scope{item.PairScope(s.h.ID(), peer)}, With: with}}); err != nil {
		return nil, err
	}
	return it, nil
}

// flushOutbox seals every queued message to peer now that its key is known.
// Each message becomes an item and leaves the outbox in one transaction, so
// a crash can neither lose it nor send it twice.
func (s *Service) flushOutbox(peer identity.ID) {
	pk, err := s.h.PeerKey(peer)
	if err != nil {
		return
	}
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	type entry struct {
		key []byte
		e   outboxEntry
	}
	var pending []entry
	s.h.Store().View(func(tx *store.Tx) error {
		return tx.Scan(bucketOutbox, nil, func(k, v []byte) error {
			var e outboxEntry
			if wire.Unmarshal(v, &e) == nil && string(e.Peer) == string(peer.Bytes()) {
				pending = append(pending, entry{append([]byte{}, k...), e})
			}
			return nil
		})
	})
	var made []*item.Item
	for _, p := range pending {
		at := time.Unix(0, int64(binary.BigEndian.Uint64(p.key[:8])))
		it, err := s.sealMessage(peer, pk, p.e.Text, at, Timer{}, func(tx *store.Tx) error { return tx.Delete(bucketOutbox, p.key) })
		if err != nil {
			s.h.Log().Warn("sealing a queued message failed", "peer", peer, "err", err)
			continue
		}
		made = append(made, it)
	}
	if len(made) > 0 {
		s.h.Log().Info("queued messages sealed", "peer", peer, "count", len(made))
		s.h.Sent(peer, made...)
	}
}

// List lists direct messages, optionally with one peer, in the order ours
// were sent and theirs arrived. Listing marks incoming messages as read:
// the node then sends a receipt. c, if not nil, keeps the bodies opened
// across calls (a --follow stream lists again on every change).
func (s *Service) List(only *identity.ID, c *Cache) ([]*Message, error) {
	var opened map[item.ID]messageBody
	if c != nil {
		opened = c.bodies
	}
	return s.messages(only, opened)
}

// Cache keeps message bodies already opened, for List.
type Cache struct{ bodies map[item.ID]messageBody }

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{bodies: map[item.ID]messageBody{}} }

// messages is List. opened, if not nil, keeps the bodies of the
// messages already decrypted, by item ID, across calls: a --follow stream
// lists again on every change, and opening each message (an ML-KEM
// decapsulation and an X25519) again every time cost 0.1 ms per message of
// history per change. Bodies of messages no longer listed (deleted) leave
// it.
func (s *Service) messages(only *identity.ID, opened map[item.ID]messageBody) ([]*Message, error) {
	peers := s.h.Peers()
	if only != nil {
		peers = []identity.ID{*only}
	}
	var out []*Message
	var seen map[item.ID]bool
	if opened != nil {
		seen = map[item.ID]bool{}
	}
	for _, p := range peers {
		c, err := s.conversation(p, opened, seen)
		if err != nil {
			return nil, err
		}
		out = append(out, c.msgs...)
		if len(c.unread) > 0 {
			if err := s.sendReceipt(p, c.unread); err != nil {
				s.h.Log().Warn("sending a read receipt failed", "peer", p, "err", err)
				c.shown = nil // shown, not burnt: the sender must learn it was read first
			}
		}
		// After-read messages burn once their receipt is stored (it then
		// reaches the sender, whose copy burns on it); those read before a
		// stop are burnt now and not shown again.
		s.burn(append(c.read, c.shown...), later(s.h.Now(), c.keep), "read")
	}
	for id := range opened {
		if !seen[id] {
			delete(opened, id)
		}
	}
	out = append(out, s.outboxMessages(only)...)
	sort.SliceStable(out, func(i, j int) bool { return order(out[i]).Before(order(out[j])) })
	return out, nil
}

// addRead notes in read the messages a receipt item reports read.
func addRead(it *item.Item, read map[item.ID]bool) {
	var r receiptBody
	if wire.UnmarshalCanonical(it.Payload(), &r) == nil {
		for _, id := range r.Read {
			if len(id) == item.IDSize {
				read[item.ID(id)] = true
			}
		}
	}
}

// listing is one conversation as conversation reads it.
type listing struct {
	msgs   []*Message
	unread []item.ID // incoming messages listed for the first time: a receipt goes out
	// shown are the after-read messages among unread, to burn once the
	// receipt is stored; read are after-read messages already read (ours
	// by the peer, theirs by us) but not yet burnt: a stop came between.
	shown, read []item.ID
	keep        time.Time // the latest of their deadlines plus burnMemory
}

// conversation decodes the direct space with peer, taking bodies from
// opened and adding the ones it opens (if opened is not nil), and notes
// every message in seen.
func (s *Service) conversation(peer identity.ID, opened map[item.ID]messageBody, seen map[item.ID]bool) (*listing, error) {
	sp := item.DirectSpace(s.h.ID(), peer)
	read := map[item.ID]bool{}
	var items []*item.Item
	err := s.h.Store().SpaceItems(sp, func(it *item.Item) error {
		switch it.Kind() {
		case item.KindReceipt:
			if it.Author() != peer {
				return nil
			}
			addRead(it, read)
		case item.KindMessage, item.KindBurnMessage:
			items = append(items, it)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	c := &listing{}
	name := s.h.PeerName(peer) // once, not per message
	for _, it := range items {
		if seen != nil {
			seen[it.ID()] = true
		}
		n := len(c.unread)
		m, err := s.messageFrom(it, peer, read, &c.unread, opened)
		if err != nil {
			s.h.Log().Warn("a stored message does not open", "peer", peer, "err", err)
			continue
		}
		if m.Burn != nil && m.Burn.AfterRead {
			c.keep = later(c.keep, m.Burn.Deadline.Add(burnMemory))
			if m.State == StateRead {
				c.read = append(c.read, it.ID())
				continue
			}
			if len(c.unread) > n {
				c.shown = append(c.shown, it.ID())
			}
		}
		m.PeerName = name
		c.msgs = append(c.msgs, m)
	}
	return c, nil
}

func (s *Service) messageFrom(it *item.Item, peer identity.ID, read map[item.ID]bool, unread *[]item.ID, opened map[item.ID]messageBody) (*Message, error) {
	id := it.ID()
	sealed := it.Payload()
	var burn *apitype.Burn
	if it.Kind() == item.KindBurnMessage {
		t, b, err := decodeBurn(sealed)
		if err != nil {
			return nil, err
		}
		sealed, burn = b, burnView(it, t)
	}
	body, ok := opened[id]
	if !ok {
		pt, err := recipient.Open(sealed, messageAAD(it.Space(), it.Author()), s.h.RecipientKey())
		if errors.Is(err, recipient.ErrMalformed) && burn == nil {
			// Sealed to an encryption subkey of ours whose grace ended:
			// the key is destroyed, so nothing here opens it any more
			// (docs/trust.md §4). It stays listed, without its text, so
			// the conversation does not silently lose a message.
			return s.unreadable(it, peer), nil
		}
		if err != nil {
			return nil, err
		}
		if err := wire.UnmarshalCanonical(pt, &body); err != nil {
			return nil, err
		}
		if opened != nil {
			opened[id] = body
		}
	}
	m := &Message{ID: id.String(), Peer: peer.String(), Text: body.Text, Created: it.Created(), Burn: burn}
	if it.Author() == s.h.ID() {
		m.Direction, m.State = "out", StateQueued
		if read[id] {
			m.State = StateRead
		} else if s.delivered(id) {
			m.State = StateDelivered
		}
	} else {
		m.Direction, m.State = "in", StateReceived
		if t, ok := s.receivedAt(id); ok {
			m.Received = &t
		}
		if s.readSent(id) {
			m.State = StateRead
		} else if unread != nil {
			*unread = append(*unread, id)
		}
	}
	return m, nil
}

// unreadable lists a message that no key of ours opens any more.
func (s *Service) unreadable(it *item.Item, peer identity.ID) *Message {
	m := &Message{ID: it.ID().String(), Peer: peer.String(), Created: it.Created(), Unreadable: true}
	if it.Author() == s.h.ID() {
		m.Direction, m.State = "out", StateDelivered
		if !s.delivered(it.ID()) {
			m.State = StateQueued
		}
		return m
	}
	m.Direction, m.State = "in", StateReceived
	if t, ok := s.receivedAt(it.ID()); ok {
		m.Received = &t
	}
	return m
}

func (s *Service) outboxMessages(only *identity.ID) []*Message {
	var out []*Message
	s.h.Store().View(func(tx *store.Tx) error {
		return tx.Scan(bucketOutbox, nil, func(k, v []byte) error {
			var e outboxEntry
			if wire.Unmarshal(v, &e) != nil {
				return nil
			}
			p, err := identity.NewID(e.Peer)
			if err != nil || (only != nil && p != *only) {
				return nil
			}
			out = append(out, &Message{ID: "outbox-" + hex.EncodeToString(k), Peer: p.String(), Direction: "out",
				Text: e.Text, Created: time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))).UTC().Truncate(time.Millisecond), State: StateQueued})
			return nil
		})
	})
	return out
}

func (s *Service) sendReceipt(peer identity.ID, ids []item.ID) error {
	body := receiptBody{}
	for _, id := range ids {
		body.Read = append(body.Read, append([]byte{}, id[:]...))
	}
	b, err := wire.Marshal(body)
	if err != nil {
		return err
	}
	it, err := item.New(s.h.Key(), item.KindReceipt, item.DirectSpace(s.h.ID(), peer), s.h.Now(), b)
	if err != nil {
		return err
	}
	if _, err := s.h.Store().PutItems([]store.Entry{{Item: it, Scopes: []item.Scope{item.PairScope(s.h.ID(), peer)}}}); err != nil {
		return err
	}
	err = s.h.Store().Update(func(tx *store.Tx) error {
		for _, id := range ids {
			if err := tx.Put(bucketReadSent, id[:], nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.h.Sent(peer, it)
	return nil
}

// receivedAt returns when an incoming message arrived (messages stored
// before arrival times were kept have none).
func (s *Service) receivedAt(id item.ID) (time.Time, bool) {
	var v []byte
	s.h.Store().View(func(tx *store.Tx) error {
		b, err := tx.Get(bucketReceived, id[:])
		v = b
		return err
	})
	if len(v) != 8 {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(binary.BigEndian.Uint64(v))).UTC(), true
}

// noteArrivals records when peers' messages among items arrived.
func (s *Service) noteArrivals(items []*item.Item) error {
	now := binary.BigEndian.AppendUint64(nil, uint64(s.h.Now().UnixMilli()))
	return s.h.Store().Update(func(tx *store.Tx) error {
		for _, it := range items {
			if it.Kind() != item.KindMessage || it.Author() == s.h.ID() {
				continue
			}
			id := it.ID()
			if _, err := tx.Get(bucketReceived, id[:]); errors.Is(err, store.ErrNotFound) {
				if err := tx.Put(bucketReceived, id[:], now); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
func (s *Service) readSent(id item.ID) bool { return s.has(bucketReadSent, id[:]) }

func (s *Service) has(bucket string, k []byte) bool {
	err := s.h.Store().View(func(tx *store.Tx) error {
		_, err := tx.Get(bucket, k)
		return err
	})
	return err == nil
}

// Len is how many bodies the cache holds.
func (c *Cache) Len() int { return len(c.bodies) }
