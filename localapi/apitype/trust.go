package apitype

import "time"

// SightingRequest is POST /v1/iocs/{id}/sightings.
type SightingRequest struct {
	Verdict string `json:"verdict"` // "seen" or "false-positive"
}

// Sighting is a sighting as the API shows it (docs/protocol.md §5.10).
type Sighting struct {
	ID      string    `json:"id"`     // the sighting item
	Target  string    `json:"target"` // the IOC item sighted
	Source  string    `json:"source"` // its author
	Verdict string    `json:"verdict"`
	Created time.Time `json:"created"`
}

// RatingRequest is POST /v1/peers/{peer}/rating.
type RatingRequest struct {
	Verdict string `json:"verdict"` // "good" or "bad"
}

// Rating is a rating as the API shows it (docs/protocol.md §5.10).
type Rating struct {
	ID      string    `json:"id"`
	Subject string    `json:"subject"`
	Verdict string    `json:"verdict"`
	Created time.Time `json:"created"`
}

// TrustReport is GET /v1/trust[?peer=P]: the scores of every identity the
// node has opinions about (docs/reputation.md), or one identity's explained.
type TrustReport struct {
	// Identities is how many identities the computation saw; Iterations
	// and Delta, how it converged (the last L1 change).
	Identities int          `json:"identities"`
	Iterations int          `json:"iterations"`
	Delta      float64      `json:"delta"`
	Scores     []TrustScore `json:"scores"`
}

// TrustScore is one identity's trust.
type TrustScore struct {
	Peer string `json:"peer"`           // onion address
	Name string `json:"name,omitempty"` // the local name of a peer
	You  bool   `json:"you,omitempty"`
	// Score is relative to the most trusted identity (0 to 1): what
	// --min-trust compares. Share is the global trust itself, the
	// identity's share of the whole.
	Score float64 `json:"score"`
	Share float64 `json:"share"`
	// PreTrusted: the user trusts it directly (a contact, or us); Base is
	// what it gets for that.
	PreTrusted bool    `json:"pre_trusted,omitempty"`
	Base       float64 `json:"base,omitempty"`
	// Vouchers, only when one identity is explained: who holds an opinion
	// of it, largest contribution first.
	Vouchers []TrustVoucher `json:"vouchers,omitempty"`
}

// TrustVoucher is one identity's part in another's trust.
type TrustVoucher struct {
	Peer string `json:"peer"`
	Name string `json:"name,omitempty"`
	// Good and Bad are its opinion (sightings count 1, ratings 5);
	// Weight, the share of its own trust it passes on (0 when its opinion
	// is negative on balance); Contribution, what that adds to the share.
	Good         float64 `json:"good"`
	Bad          float64 `json:"bad"`
	Weight       float64 `json:"weight"`
	Contribution float64 `json:"contribution"`
}
