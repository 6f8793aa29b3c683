package node

import (
	"errors"
	"fmt"
)

// Kind says what kind of failure an Error is. Front ends branch on it: the
// local API maps each kind to an HTTP status in one table and sends the
// kind in its JSON, and the CLI maps kinds to exit codes and to hints that
// name its own flags. The values are stable strings (docs/api.md).
type Kind string

// The kinds of Error. A caller that meets a kind it does not know treats
// it by its HTTP status.
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
)

// Error is a failure the caller caused or can act on: its kind, what went
// wrong, and a hint in the node's own terms (never a CLI flag; the CLI has
// its own hints per kind). Any other error a method returns is the node's
// own failure.
type Error struct {
	Kind Kind
	Msg  string
	Hint string
}

func (e *Error) Error() string { return e.Msg }

// KindOf is err's Kind, or "" when err is not an *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

func errorf(kind Kind, hint, format string, a ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, a...), Hint: hint}
}

func badRequest(hint, format string, a ...any) error { return errorf(Invalid, hint, format, a...) }

func notFound(hint, format string, a ...any) error { return errorf(NotFound, hint, format, a...) }
