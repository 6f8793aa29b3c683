// Package apitype holds the values the local API carries: what the node's
// domain methods take and return, and what the API's JSON bodies are. The
// node fills them, localapi serves them, and localapi's client and the CLI
// read them, so the three cannot drift apart. JSON field names are stable:
// fields may be added, never renamed or given another meaning (docs/api.md).
//
// apitype imports nothing of ours and nothing that speaks a protocol.
package apitype

import (
	"encoding/json"
	"time"
)

// TransportStatus is what Status shows of the transport.
type TransportStatus struct {
	Mode      string `json:"mode"`      // "tor"
	Phase     string `json:"phase"`     // bootstrap phase summary
	Progress  int    `json:"progress"`  // 0–100
	Ready     bool   `json:"ready"`     // can dial
	Reachable bool   `json:"reachable"` // our service is published
	Warning   string `json:"warning,omitempty"`
	// Bridges is how many bridges tor reaches the network through (0:
	// directly); OnlyPeers, that only the node's peers can reach its
	// onion service (v3 client authorisation).
	Bridges   int  `json:"bridges,omitempty"`
	OnlyPeers bool `json:"only_peers,omitempty"`
}

// Status is GET /v1/status.
type Status struct {
	Onion     string          `json:"onion"`
	Transport TransportStatus `json:"transport"`
	Peers     int             `json:"peers"`
	Connected int             `json:"connected"`
	Items     int             `json:"items"`
	Queued    int             `json:"queued"`
	LastSync  *time.Time      `json:"last_sync,omitempty"`
	// Full lists the scopes at the node's limit: they refuse new items and
	// keep syncing what they hold (docs/protocol.md §10.4).
	Full []FullScope `json:"full,omitempty"`
	// Listener is the state of the node's listener: whether peers'
	// connections are being taken, and its caps (docs/limits.md).
	Listener ListenerStatus `json:"listener"`
	// Store is the store's state: StoreOK, or StoreDiskFull while writes
	// are refused for lack of space (docs/storage.md).
	Store string `json:"store"`
	// Skipped counts the stored items listings have skipped since the node
	// started because the disk damaged them (docs/storage.md).
	Skipped int64 `json:"skipped,omitempty"`
	// Contacts counts contacts by state, pending requests, and the blocked
	// or revoked peers refused at the handshake (docs/trust.md).
	Contacts ContactsStatus `json:"contacts"`
	// Quota lists the authors and peers whose items were refused for their
	// quota since the node started (docs/limits.md).
	Quota []QuotaHit `json:"quota,omitempty"`
}

// ContactsStatus is what Status shows of contacts.
type ContactsStatus struct {
	Unverified int `json:"unverified"`
	Verified   int `json:"verified"`
	Blocked    int `json:"blocked"`
	Revoked    int `json:"revoked"`
	// Requests is how many contact requests are pending, MaxRequests the
	// cap; RequestsDropped counts those not kept since the node started
	// (over the cap or the rate).
	Requests        int    `json:"requests"`
	MaxRequests     int    `json:"max_requests"`
	RequestsDropped uint64 `json:"requests_dropped,omitempty"`
	// Refused lists the blocked or revoked peers whose handshakes were
	// refused since the node started.
	Refused []Refusal `json:"refused,omitempty"`
}

// Refusal is a blocked or revoked peer refused at the handshake.
type Refusal struct {
	Peer  string    `json:"peer"`
	State string    `json:"state"` // "blocked" or "revoked": why
	Count uint64    `json:"count"`
	Last  time.Time `json:"last"`
}

// ContactRequest is a pending contact request: a peer that is not a
// contact completed a handshake (GET /v1/requests).
type ContactRequest struct {
	Onion        string    `json:"onion"`
	SafetyNumber string    `json:"safety_number"`
	First        time.Time `json:"first"`
	Last         time.Time `json:"last"`
}

// QuotaHit is an author or peer whose items were refused for its quota.
type QuotaHit struct {
	Who      string `json:"who"` // "author" or "peer"
	ID       string `json:"id"`  // its onion address
	Verified bool   `json:"verified"`
	Items    int64  `json:"items"` // stored (author) or received (peer) so far
	Bytes    int64  `json:"bytes"`
	MaxItems int64  `json:"max_items"`
	MaxBytes int64  `json:"max_bytes"`
	Refused  uint64 `json:"refused"` // items refused since the node started
}

// ListenerStatus is what Status shows of the node's listener.
type ListenerStatus struct {
	// State is "starting", "waiting" (the transport cannot listen yet),
	// "listening", "backing off" (accept failed for lack of resources and
	// is retried) or "stopped".
	State string `json:"state"`
	// Reason says why it is waiting or backing off ("too many open files").
	Reason string `json:"reason,omitempty"`
	// Conns and Handshakes are the inbound connections open now and those
	// of them still handshaking; MaxConns and MaxHandshakes are their caps,
	// derived from FDLimit, the process's open-file limit.
	Conns         int `json:"conns"`
	Handshakes    int `json:"handshakes"`
	MaxConns      int `json:"max_conns"`
	MaxHandshakes int `json:"max_handshakes"`
	FDLimit       int `json:"fd_limit"`
	// Evicted counts handshakes ended to make room for newer ones; Refused,
	// connections closed at once because every slot held a session.
	Evicted uint64 `json:"evicted"`
	Refused uint64 `json:"refused"`
}

// Store states, as Status shows them.
const (
	StoreOK       = "ok"
	StoreDiskFull = "disk full" // writes are refused until space is freed; reads go on
)

// FullScope is a scope at the node's limit.
type FullScope struct {
	Collection string `json:"collection,omitempty"` // empty for a pair or restricted scope
	Class      string `json:"class"`
	Limit      int    `json:"limit"`
}

// Peer is a known peer, as the API shows it.
type Peer struct {
	Onion     string     `json:"onion"`
	Name      string     `json:"name,omitempty"`
	Added     time.Time  `json:"added"`
	Connected bool       `json:"connected"`
	LastSync  *time.Time `json:"last_sync,omitempty"`
	HasKey    bool       `json:"has_key"`
	// Paired is when the peer was paired by code (LAN mode); LAN, the
	// address given by hand to reach it in LAN mode.
	Paired *time.Time `json:"paired,omitempty"`
	LAN    string     `json:"lan,omitempty"`
	// State is "unverified", "verified", "blocked" or "revoked"
	// (docs/trust.md); VerifiedAt is when the user verified it.
	State      string     `json:"state"`
	VerifiedAt *time.Time `json:"verified_at,omitempty"`
	// SafetyNumber is the number to compare with the peer out of band
	// before verifying it.
	SafetyNumber string `json:"safety_number"`
}

// WaitingAccept is Message.Waiting when the peer proved its identity and
// then refused us a session: it has not accepted us (docs/trust.md §2).
const WaitingAccept = "waiting for them to accept"

// Message states as the API shows them.
const (
	StateQueued    = "queued"    // not yet acknowledged by the peer
	StateDelivered = "delivered" // stored by the peer
	StateRead      = "read"      // the peer listed it
	StateReceived  = "received"  // incoming
)

// Message is a direct message as the API shows it.
type Message struct {
	ID        string    `json:"id"`
	Peer      string    `json:"peer"`
	PeerName  string    `json:"peer_name,omitempty"`
	Direction string    `json:"direction"` // "in" or "out"
	Text      string    `json:"text"`
	Created   time.Time `json:"created"` // as its author dated it
	// Received is when an incoming message arrived here. Conversations are
	// listed in the order messages were sent (ours) and arrived (theirs),
	// not by Created: an author can date a message as it likes, and could
	// otherwise slip it in among earlier ones.
	Received *time.Time `json:"received,omitempty"`
	State    string     `json:"state"`
	// Waiting says why a queued message has not gone, when the node knows:
	// WaitingAccept. Empty means no more is known than "queued".
	Waiting string `json:"waiting,omitempty"`
	// Burn is the message's burn timer, absent for a message that does not
	// burn (docs/protocol.md §5.11).
	Burn *Burn `json:"burn,omitempty"`
	// Unreadable is true for a message sealed to an encryption subkey this
	// node has destroyed (its grace period ended, docs/trust.md §4): it
	// is listed, with an empty text, and can never be opened again here.
	Unreadable bool `json:"unreadable,omitempty"`
}

// Burn is how a message burns: after it is read, when its timer runs out,
// or whichever comes first.
type Burn struct {
	AfterRead bool      `json:"after_read"`
	TTL       string    `json:"ttl"`      // "10m", "24h", "7d"; 365d for after-read alone
	Deadline  time.Time `json:"deadline"` // created + ttl: burnt on every node by then
	SetBy     string    `json:"set_by"`   // the address of whoever set the timer: the author, or a room's owner
	// Source says whose timer it is, in a room: "message" (the author's
	// own) or "room" (the room's timer, set by its owner); absent for a
	// direct message, whose timer is always the author's.
	Source string `json:"source,omitempty"`
}

// Sources of a room message's timer (Burn.Source).
const (
	TimerMessage = "message"
	TimerRoom    = "room"
)

// IOC is one signed statement about an indicator, as the API shows it.
type IOC struct {
	ID          string     `json:"id"`         // item ID: this statement
	ContentID   string     `json:"content_id"` // the indicator: same type and value, same ID
	Collection  string     `json:"collection"`
	Author      string     `json:"author"`
	Type        string     `json:"type"`
	Value       string     `json:"value"`
	TLP         string     `json:"tlp"`
	Confidence  *int       `json:"confidence,omitempty"`
	Tags        []string   `json:"tags,omitempty"`
	Description string     `json:"description,omitempty"`
	ValidUntil  *time.Time `json:"valid_until,omitempty"`
	References  []string   `json:"references,omitempty"`
	Recipients  []string   `json:"recipients,omitempty"`
	Created     time.Time  `json:"created"`
	Expired     bool       `json:"expired,omitempty"`
	// SourceTrust is the author's trust score as this node computes it
	// (0 to 1, docs/reputation.md); 1 for our own. Absent where no score was
	// asked for.
	SourceTrust *float64 `json:"source_trust,omitempty"`
}

// DropRequest is POST /v1/iocs.
type DropRequest struct {
	Collection  string     `json:"collection"`
	Type        string     `json:"type"`
	Value       string     `json:"value"`
	TLP         string     `json:"tlp"`
	Confidence  *int       `json:"confidence"`
	Tags        []string   `json:"tags"`
	Description string     `json:"description"`
	ValidUntil  *time.Time `json:"valid_until"`
	References  []string   `json:"references"`
	To          []string   `json:"to"`
}

// FetchResult is POST /v1/iocs/{id}/fetch.
type FetchResult struct {
	IOCs   []*IOC   `json:"iocs"`
	Synced []string `json:"synced"` // the peers a fresh sync completed with
	Held   bool     `json:"held"`   // it was already here; no sync was needed
}

// ImportRequest is how POST /v1/iocs/import is parameterised (its query).
type ImportRequest struct {
	Collection string
	// TLP is given to objects that carry no TLP marking; empty refuses them.
	TLP string
	// To names the recipients of every AMBER, AMBER+STRICT and RED record.
	To []string
	// Partial stores what converted even when some objects failed;
	// otherwise any failure means nothing is stored.
	Partial bool
	// Source names the input (the file's base name) in the import's record.
	Source string
}

// ImportIssue is an object that was skipped, imported in part, or failed.
type ImportIssue struct {
	Severity string `json:"severity"`
	Where    string `json:"where"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Reason   string `json:"reason"`
}

// ImportResult is what an import read and stored.
type ImportResult struct {
	Format    string         `json:"format"`
	Objects   int            `json:"objects"`
	Records   int            `json:"records"` // distinct indicators
	Merged    int            `json:"merged"`  // objects merged into an earlier indicator
	Stored    int            `json:"stored"`  // items newly stored
	Committed bool           `json:"committed"`
	ByType    map[string]int `json:"by_type"`
	ByTLP     map[string]int `json:"by_tlp"`
	Failed    int            `json:"failed"`
	Issues    []ImportIssue  `json:"issues,omitempty"`
	Unlisted  int            `json:"unlisted_issues,omitempty"` // issues past ioc.MaxIssues, counted only
	// Import is the import's record (GET /v1/iocs/imports); Resumed counts
	// the records an earlier, interrupted import of the same input had
	// stored already, which this one skipped.
	Import  string `json:"import,omitempty"`
	Resumed int    `json:"resumed,omitempty"`
}

// ImportRecord is what the node records of an import that stores
// anything (GET /v1/iocs/imports, docs/ioc.md §7): each batch of records
// is committed together with the record's progress, so after a crash
// Stored is exactly what the import stored.
type ImportRecord struct {
	ID         string `json:"id"`
	Source     string `json:"source,omitempty"` // the file name the client gave
	SHA256     string `json:"sha256"`           // of the input's bytes
	Collection string `json:"collection"`
	// State is "running", "interrupted" (the node stopped during it;
	// importing the same input with the same options resumes it), "failed"
	// (Error says why; also resumable) or "done".
	State   string    `json:"state"`
	Records int       `json:"records"` // records the input gives
	Stored  int       `json:"stored"`  // records committed so far
	Batches int       `json:"batches"` // transactions committed so far
	Error   string    `json:"error,omitempty"`
	Started time.Time `json:"started"`
	Updated time.Time `json:"updated"`
}

// ImportProgress is one progress report of an import.
type ImportProgress struct {
	Phase   string  `json:"phase"` // "read" or "store"
	Objects int     `json:"objects"`
	Records int     `json:"records"`
	Stored  int     `json:"stored"`
	Bytes   int64   `json:"bytes"`
	Rate    float64 `json:"rate"` // objects (read) or records (store) per second
}

// Collection is GET /v1/collections: a collection this node holds, and who
// may write to it here (docs/protocol.md §10.4).
type Collection struct {
	Name    string  `json:"name"`
	Writers Writers `json:"writers"`
}

// Writers is a collection's policy for who may add indicators to it here:
// Mode "anyone" (the default), "peers" (our peers and us) or "listed"
// (Authors, onion addresses, and us). PUT /v1/collections/{name}/writers
// sets it.
type Writers struct {
	Mode    string   `json:"mode"`
	Authors []string `json:"authors,omitempty"`
}

// PairOffer is a pairing code the node shows (LAN mode,
// docs/protocol.md §12.5): the whole code to show, its public nameplate,
// and when it stops working.
type PairOffer struct {
	Code      string    `json:"code"`
	Nameplate string    `json:"nameplate"`
	Expires   time.Time `json:"expires"`
}

// PairResult is the device a pairing paired with, now a contact, and the
// safety number both devices show.
type PairResult struct {
	Peer         Peer   `json:"peer"`
	SafetyNumber string `json:"safety_number"`
}

// Room states as the API shows them (docs/api.md, rooms).
const (
	RoomPending = "pending" // invited; `room join` accepts
	RoomJoined  = "joined"  // a member
	RoomLeft    = "left"    // left; the owner's next rekey excludes us
	RoomRemoved = "removed" // the owner removed us; history stays readable
)

// Room is a room as GET /v1/rooms lists it.
type Room struct {
	ID      string `json:"id"` // the room's space, hex
	Name    string `json:"name"`
	Owner   string `json:"owner"`
	Status  string `json:"status"`
	Members int    `json:"members"`
	// Epoch counts the room's key changes; KeyChanged is when the current
	// key was made (absent while invited and the state has not come yet).
	Epoch      uint64     `json:"epoch"`
	KeyChanged *time.Time `json:"key_changed,omitempty"`
	InvitedBy  string     `json:"invited_by,omitempty"`
	// Timer is the room's timer ("10m", "24h", "7d"), the longest any
	// message written now lives, set by the owner; absent when none.
	Timer string `json:"timer,omitempty"`
}

// RoomMember is one member as GET /v1/rooms/{room}/members lists it.
type RoomMember struct {
	Peer    string `json:"peer"`
	Name    string `json:"name,omitempty"` // our local name for the peer
	Owner   bool   `json:"owner,omitempty"`
	Joined  bool   `json:"joined"`            // accepted the invitation
	Leaving bool   `json:"leaving,omitempty"` // asked to leave; the owner has not rekeyed yet
	Me      bool   `json:"me,omitempty"`
}

// RoomMembers is GET /v1/rooms/{room}/members.
type RoomMembers struct {
	Room    Room         `json:"room"`
	Members []RoomMember `json:"members"`
	Removed []string     `json:"removed,omitempty"` // removed at the last rekey
}

// RoomMessage is a room message as GET /v1/rooms/{room}/messages lists it.
type RoomMessage struct {
	ID      string    `json:"id"`
	Room    string    `json:"room"`
	Author  string    `json:"author"`
	Name    string    `json:"name,omitempty"` // our local name for the author
	Epoch   uint64    `json:"epoch"`
	Created time.Time `json:"created"`
	// Text is empty and Sealed true when this node holds no key for the
	// message's epoch (it was not a member then, or the key was destroyed
	// two weeks after a later epoch replaced it: docs/protocol.md §13.4).
	Text   string `json:"text"`
	Sealed bool   `json:"sealed,omitempty"`
	Mine   bool   `json:"mine,omitempty"`
	// Burn is the message's timer, which one applies and who set it;
	// absent when it does not burn.
	Burn *Burn `json:"burn,omitempty"`
}

// FeedObject is one object of a feed page (GET /v1/iocs/feed): an
// indicator's STIX 2.1 object as export writes it, revoked if its author
// retracted it, with what a TAXII server says of it.
type FeedObject struct {
	ID      string    `json:"id"`
	Type    string    `json:"type"`
	Version time.Time `json:"version"` // the object's modified
	Added   time.Time `json:"added"`   // when this node stored it
	TLP     string    `json:"tlp"`
	// Cursor resumes a listing just after this object.
	Cursor string `json:"cursor"`
	// Object is the STIX object's JSON.
	Object json.RawMessage `json:"object"`
}

// FeedPage is GET /v1/iocs/feed: objects of one collection in the order
// the node stored them. More says the listing goes on after Next (the
// last object's cursor, or where the scan stopped when it read its budget
// of entries without filling the page).
type FeedPage struct {
	Objects []FeedObject `json:"objects"`
	Next    string       `json:"next,omitempty"`
	More    bool         `json:"more"`
}

// FeedRequest is GET /v1/iocs/feed's query: one page of Collection after
// After (a cursor from an earlier page; empty: the start), at most Limit
// objects (0: the node's page size), of the TLP levels named (none named:
// none shown), and when IDs or Types are set only objects with one of them.
type FeedRequest struct {
	Collection string
	After      string
	// AddedAfter, when After is empty, starts after everything the node
	// stored at or before it.
	AddedAfter time.Time
	Limit      int
	TLPs       []string
	IDs, Types []string
}
