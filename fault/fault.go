// Package fault classifies the errors a user can act on. Domain packages
// (node and the item-kind services) return a *fault.Error saying what kind
// of failure it is, what went wrong and what to try, in their own terms:
// a hint never names a CLI flag or command (the CLI has its own hints per
// kind). The local API maps each kind to an HTTP status in one table and
// sends the kind in its JSON (docs/api.md); the CLI maps kinds to exit
// codes and hints. No domain package knows HTTP. Any other error is the
// node's own failure.
//
// It imports nothing of ours, so every package may use it.
package fault

import (
	"errors"
	"fmt"
)

// Kind says what kind of failure an Error is. The values are stable
// strings (docs/api.md); a caller that meets a kind it does not know
// treats it by its HTTP status.
type Kind string

// The kinds of Error.
const (
	Invalid         Kind = "invalid"          // the request is malformed or not allowed
	NeedsRecipients Kind = "needs_recipients" // amber, amber+strict and red need recipients
	NotFound        Kind = "not_found"        // what was asked for is not here
	UnknownPeer     Kind = "unknown_peer"     // an address that was never added as a peer
	UnknownName     Kind = "unknown_name"     // no peer has that local name
	UnknownIOC      Kind = "unknown_ioc"      // no IOC held here matches the ID
	NotSynced       Kind = "not_synced"       // a fetch saw no sync complete in time
	TooLarge        Kind = "too_large"        // the input is larger than the node accepts
	ImportFailed    Kind = "import_failed"    // some objects failed, so nothing was stored
	Malformed       Kind = "malformed"        // the input is not in a format the node reads (not JSON, neither STIX nor MISP)
	Full            Kind = "full"             // a scope is at the node's limit (docs/protocol.md §10.4)
	Busy            Kind = "busy"             // the node cannot take the request now; retry later
	DiskFull        Kind = "disk_full"        // the node's disk is full: writes are refused, reads go on (docs/storage.md)
)

// Error is a failure the caller caused or can act on.
type Error struct {
	Kind Kind
	Msg  string // what went wrong
	Hint string // what to try, in the node's terms; may be empty
}

func (e *Error) Error() string { return e.Msg }

// New returns an error of kind k.
func New(k Kind, hint, format string, a ...any) error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, a...), Hint: hint}
}

// Invalidf is New(Invalid, …).
func Invalidf(hint, format string, a ...any) error { return New(Invalid, hint, format, a...) }

// NotFoundf is New(NotFound, …).
func NotFoundf(hint, format string, a ...any) error { return New(NotFound, hint, format, a...) }

// As returns err's *Error, or nil if it has none.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// KindOf is err's Kind, or "" when err carries no *Error.
func KindOf(err error) Kind {
	if e := As(err); e != nil {
		return e.Kind
	}
	return ""
}
