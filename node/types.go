package node

import "github.com/ghostwire/ghostwire/localapi/apitype"

// The values the node's methods take and return are the local API's
// (localapi/apitype), named here so the node's code reads as its own. The
// node knows nothing of how they travel.
type (
	TransportStatus = apitype.TransportStatus
	Status          = apitype.Status
	Peer            = apitype.Peer
	Message         = apitype.Message
	IOC             = apitype.IOC
	DropRequest     = apitype.DropRequest
	FetchResult     = apitype.FetchResult
	ImportRequest   = apitype.ImportRequest
	ImportIssue     = apitype.ImportIssue
	ImportResult    = apitype.ImportResult
	ImportProgress  = apitype.ImportProgress
)

// Message states, as the API shows them.
const (
	StateQueued    = apitype.StateQueued
	StateDelivered = apitype.StateDelivered
	StateRead      = apitype.StateRead
	StateReceived  = apitype.StateReceived
)
