package node

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/wire"
)

// Item kinds of direct messaging (docs/protocol.md §5.6).
const (
	KindMessage item.Kind = 3 // payload: a sealed messageBody (§9.2)
	KindReceipt item.Kind = 4 // payload: receiptBody, the IDs the author has read
)

// MaxMessageText bounds a message's text; it leaves room in an item for
// the sealing overhead of two recipients.
const MaxMessageText = 32 << 10

const (
	bucketOutbox    = "outbox"    // created (8) ‖ random (8) → outboxEntry: waiting for the peer's key
	bucketDelivered = "delivered" // item ID → delivery time (8): the peer acknowledged it
	bucketReadSent  = "readsent"  // item ID → empty: we sent a receipt for this incoming message
)

type messageBody struct {
	Text string `cbor:"1,keyasint"`
}

type receiptBody struct {
	Read [][]byte `cbor:"1,keyasint"`
}

type outboxEntry struct {
	Peer []byte `cbor:"1,keyasint"`
	Text string `cbor:"2,keyasint"`
}

func messageAAD(sp item.Space, author identity.ID) []byte {
	return append(append([]byte{}, sp[:]...), author.Bytes()...)
}

// SendMessage stores a message to peer. If the peer's recipient key is
// known the message is sealed and stored as an item at once; otherwise it
// waits in the outbox (encrypted at rest by the store) until the first sync
// with the peer brings the key. Either way it is never lost, and the peer
// is dialled.
func (n *Node) SendMessage(peer identity.ID, text string) (*Message, error) {
	if !utf8.ValidString(text) || strings.TrimSpace(text) == "" {
		return nil, badRequest("send some text", "message text is empty or not UTF-8")
	}
	if len(text) > MaxMessageText {
		return nil, badRequest("split it into several messages", "message is %d bytes, the limit is %d", len(text), MaxMessageText)
	}
	if !n.isPeer(peer) {
		return nil, errorf(UnknownPeer, "add it as a peer first", "unknown peer %s", peer)
	}
	now := n.cfg.Now()
	if pk, err := n.peerKey(peer); err == nil {
		it, err := n.sealMessage(peer, pk, text, now)
		if err != nil {
			return nil, err
		}
		n.afterLocalItems(peer, it)
		m, err := n.messageFrom(it, peer, nil, nil, nil)
		if m != nil {
			m.PeerName = n.peerName(peer)
		}
		return m, err
	}
	key := make([]byte, 16)
	binary.BigEndian.PutUint64(key, uint64(now.UnixNano()))
	if _, err := io.ReadFull(n.cfg.Rand, key[8:]); err != nil {
		// A short key could collide with and overwrite another queued message.
		return nil, fmt.Errorf("node: reading randomness: %w", err)
	}
	b, err := wire.Marshal(outboxEntry{Peer: peer.Bytes(), Text: text})
	if err != nil {
		return nil, err
	}
	if err := n.db.Update(func(tx *store.Tx) error { return tx.Put(bucketOutbox, key, b) }); err != nil {
		return nil, err
	}
	n.urge(peer)
	n.notifyChanged()
	return &Message{ID: "outbox-" + hex.EncodeToString(key), Peer: peer.String(), Direction: "out", Text: text,
		Created: now.UTC().Truncate(time.Millisecond), State: StateQueued}, nil
}

func (n *Node) sealMessage(peer identity.ID, pk *recipient.PublicKey, text string, at time.Time) (*item.Item, error) {
	body, err := wire.Marshal(messageBody{Text: text})
	if err != nil {
		return nil, err
	}
	sp := directSpace(n.id, peer)
	sealed, err := recipient.Seal(n.cfg.Rand, body, messageAAD(sp, n.id), []*recipient.PublicKey{pk, n.rkey.Public()})
	if err != nil {
		return nil, err
	}
	it, err := item.New(n.key, KindMessage, sp, at, sealed)
	if err != nil {
		return nil, err
	}
	if _, err := n.db.PutItems([]store.Entry{{Item: it, Scopes: []item.Scope{pairScope(n.id, peer)}}}); err != nil {
		return nil, err
	}
	return it, nil
}

// flushOutbox seals every queued message to peer now that its key is known.
// Each message becomes an item and leaves the outbox in one transaction
// order: item stored first, then the outbox entry removed, so a crash in
// between can at worst send a message twice, never lose it.
func (n *Node) flushOutbox(peer identity.ID) {
	pk, err := n.peerKey(peer)
	if err != nil {
		return
	}
	type entry struct {
		key []byte
		e   outboxEntry
	}
	var pending []entry
	n.db.View(func(tx *store.Tx) error {
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
		it, err := n.sealMessage(peer, pk, p.e.Text, at)
		if err != nil {
			n.log.Warn("sealing a queued message failed", "peer", peer, "err", err)
			continue
		}
		if err := n.db.Update(func(tx *store.Tx) error { return tx.Delete(bucketOutbox, p.key) }); err != nil {
			n.log.Warn("clearing the outbox failed", "err", err)
		}
		made = append(made, it)
	}
	if len(made) > 0 {
		n.log.Info("queued messages sealed", "peer", peer, "count", len(made))
		n.afterLocalItems(peer, made...)
	}
}

// Messages lists direct messages, oldest first, optionally with one peer.
// Listing marks incoming messages as read: the node then sends a receipt.
func (n *Node) Messages(only *identity.ID) ([]*Message, error) { return n.messages(only, nil) }

// FollowMessages calls fn with every message (only those with one peer if
// only is set), then with each one that arrives or changes state, until ctx
// ends (it then returns nil) or fn or a listing fails. It keeps what it has
// opened, so a long follow does not decrypt each message again on every
// change.
func (n *Node) FollowMessages(ctx context.Context, only *identity.ID, fn func(*Message) error) error {
	seen := map[string]string{}
	opened := map[item.ID]messageBody{}
	for {
		ch := n.changedCh()
		msgs, err := n.messages(only, opened)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if seen[m.ID] == m.State {
				continue
			}
			seen[m.ID] = m.State
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

// messages is Messages. opened, if not nil, keeps the bodies of the
// messages already decrypted, by item ID, across calls: a --follow stream
// lists again on every change, and opening each message (an ML-KEM
// decapsulation and an X25519) again every time cost 0.1 ms per message of
// history per change. Bodies of messages no longer listed (deleted) leave
// it.
func (n *Node) messages(only *identity.ID, opened map[item.ID]messageBody) ([]*Message, error) {
	peers := n.peerIDs()
	if only != nil {
		peers = []identity.ID{*only}
	}
	var out []*Message
	var seen map[item.ID]bool
	if opened != nil {
		seen = map[item.ID]bool{}
	}
	for _, p := range peers {
		msgs, unread, err := n.conversation(p, opened, seen)
		if err != nil {
			return nil, err
		}
		out = append(out, msgs...)
		if len(unread) > 0 {
			if err := n.sendReceipt(p, unread); err != nil {
				n.log.Warn("sending a read receipt failed", "peer", p, "err", err)
			}
		}
	}
	for id := range opened {
		if !seen[id] {
			delete(opened, id)
		}
	}
	out = append(out, n.outboxMessages(only)...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// conversation decodes the direct space with peer, taking bodies from
// opened and adding the ones it opens (if opened is not nil), and notes
// every message in seen.
func (n *Node) conversation(peer identity.ID, opened map[item.ID]messageBody, seen map[item.ID]bool) (msgs []*Message, unread []item.ID, err error) {
	sp := directSpace(n.id, peer)
	read := map[item.ID]bool{}
	var items []*item.Item
	err = n.db.SpaceItems(sp, func(it *item.Item) error {
		switch it.Kind() {
		case KindReceipt:
			if it.Author() != peer {
				return nil
			}
			var r receiptBody
			if wire.UnmarshalCanonical(it.Payload(), &r) == nil {
				for _, id := range r.Read {
					if len(id) == item.IDSize {
						read[item.ID(id)] = true
					}
				}
			}
		case KindMessage:
			items = append(items, it)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	name := n.peerName(peer) // once, not per message
	for _, it := range items {
		if seen != nil {
			seen[it.ID()] = true
		}
		m, err := n.messageFrom(it, peer, read, &unread, opened)
		if err != nil {
			n.log.Warn("a stored message does not open", "peer", peer, "err", err)
			continue
		}
		m.PeerName = name
		msgs = append(msgs, m)
	}
	return msgs, unread, nil
}

// peerName is the peer's local name, or "" if it has none (or is gone).
func (n *Node) peerName(peer identity.ID) string {
	if p, err := n.peer(peer); err == nil {
		return p.Name
	}
	return ""
}

func (n *Node) messageFrom(it *item.Item, peer identity.ID, read map[item.ID]bool, unread *[]item.ID, opened map[item.ID]messageBody) (*Message, error) {
	id := it.ID()
	body, ok := opened[id]
	if !ok {
		pt, err := recipient.Open(it.Payload(), messageAAD(it.Space(), it.Author()), n.rkey)
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
	m := &Message{ID: id.String(), Peer: peer.String(), Text: body.Text, Created: it.Created()}
	if it.Author() == n.id {
		m.Direction, m.State = "out", StateQueued
		if read[id] {
			m.State = StateRead
		} else if n.delivered(id) {
			m.State = StateDelivered
		}
	} else {
		m.Direction, m.State = "in", StateReceived
		if n.readSent(id) {
			m.State = StateRead
		} else if unread != nil {
			*unread = append(*unread, id)
		}
	}
	return m, nil
}

func (n *Node) outboxMessages(only *identity.ID) []*Message {
	var out []*Message
	n.db.View(func(tx *store.Tx) error {
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

func (n *Node) sendReceipt(peer identity.ID, ids []item.ID) error {
	body := receiptBody{}
	for _, id := range ids {
		body.Read = append(body.Read, append([]byte{}, id[:]...))
	}
	b, err := wire.Marshal(body)
	if err != nil {
		return err
	}
	it, err := item.New(n.key, KindReceipt, directSpace(n.id, peer), n.cfg.Now(), b)
	if err != nil {
		return err
	}
	if _, err := n.db.PutItems([]store.Entry{{Item: it, Scopes: []item.Scope{pairScope(n.id, peer)}}}); err != nil {
		return err
	}
	err = n.db.Update(func(tx *store.Tx) error {
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
	n.afterLocalItems(peer, it)
	return nil
}

func (n *Node) delivered(id item.ID) bool { return n.has(bucketDelivered, id[:]) }
func (n *Node) readSent(id item.ID) bool  { return n.has(bucketReadSent, id[:]) }

func (n *Node) has(bucket string, k []byte) bool {
	err := n.db.View(func(tx *store.Tx) error {
		_, err := tx.Get(bucket, k)
		return err
	})
	return err == nil
}

// markDelivered records that peer acknowledged ids (stored durably there).
func (n *Node) markDelivered(ids []item.ID) error {
	now := make([]byte, 8)
	binary.BigEndian.PutUint64(now, uint64(n.cfg.Now().Unix()))
	wrote := false
	err := n.db.Update(func(tx *store.Tx) error {
		for _, id := range ids {
			if _, err := tx.Get(bucketDelivered, id[:]); errors.Is(err, store.ErrNotFound) {
				if err := tx.Put(bucketDelivered, id[:], now); err != nil {
					return err
				}
				wrote = true
			}
		}
		return nil
	})
	if err == nil && wrote {
		n.notifyChanged()
	}
	return err
}
