// Package service is the seam between the node and its item-kind services
// (dm, collection; room and trust to come): what the node asks of a service
// (Service) and the least every service may ask of the node (Host). A
// service's own Host embeds this one and adds what that kind alone needs.
//
// It imports only the vocabulary both sides share (identity, item,
// recipient, store) and never the node, a service, HTTP or a transport
// (rules_test.go).
package service

import (
	"io"
	"log/slog"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/store"
)

// Service is an item kind's part of the node: which scopes it shares with
// a peer, what may be stored in them, and what it does once items from a
// peer are stored. The node decides nothing about a kind itself; a new
// kind is one more Service in the node's list.
type Service interface {
	// Scopes lists the scopes shared with peer, in a fixed order.
	Scopes(peer identity.ID) []item.Scope
	// Check returns the test an item peer sent in s must pass to be
	// stored there, or nil if s is not the service's.
	Check(peer identity.ID, s item.Scope) func(*item.Item) bool
	// Accepted is told of items from peer once they are durable.
	Accepted(peer identity.ID, items []*item.Item) error
}

// Host is the node as every service sees it: who we are, our keys, the
// store, the clock and randomness, and the peers' standing.
type Host interface {
	ID() identity.ID
	Key() *identity.PrivateKey
	RecipientKey() *recipient.PrivateKey
	Store() *store.DB
	Now() time.Time
	Rand() io.Reader
	Log() *slog.Logger
	IsPeer(identity.ID) bool
	// PeerKey is the peer's certified recipient key, once a sync brought it.
	PeerKey(identity.ID) (*recipient.PublicKey, error)
}
