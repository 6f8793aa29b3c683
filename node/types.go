package node

import (
	"github.com/ghostwire/ghostwire/collection"
	"github.com/ghostwire/ghostwire/dm"
	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/room"
)

// The values the node's methods take and return are the local API's
// (localapi/apitype), named here so the node's code reads as its own. The
// node knows nothing of how they travel.
type (
	Status         = apitype.Status
	Peer           = apitype.Peer
	ContactRequest = apitype.ContactRequest
	Message        = apitype.Message
	FullScope      = apitype.FullScope
	IOC            = apitype.IOC
	DropRequest    = apitype.DropRequest
	FetchResult    = apitype.FetchResult
	ImportRequest  = apitype.ImportRequest
	ImportIssue    = apitype.ImportIssue
	ImportResult   = apitype.ImportResult
	ImportProgress = apitype.ImportProgress
	IOCFilter      = collection.Filter
)

// Message states, as the API shows them.
const (
	StateQueued    = apitype.StateQueued
	StateDelivered = apitype.StateDelivered
	StateRead      = apitype.StateRead
	StateReceived  = apitype.StateReceived
)

// DM returns the direct-message service (package dm), which the local API
// calls for messages.
func (n *Node) DM() *dm.Service { return n.dm }

// Room returns the room service (package room), which the local API calls
// for rooms.
func (n *Node) Room() *room.Service { return n.room }

// Collections returns the indicator collections service (package
// collection), which the local API calls for IOCs.
func (n *Node) Collections() *collection.Service { return n.coll }
