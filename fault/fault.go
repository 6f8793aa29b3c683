// Package fault classifies the errors a user can act on. Domain packages
// (node and the item-kind services) return a *fault.Error saying what kind
// of failure it is, what went wrong and what to try; the local API maps the
// kind to an HTTP status in one place, and the CLI to an exit code. No
// domain package knows HTTP. Any other error is internal.
//
// It imports nothing of ours, so every package may use it.
package fault

import (
	"errors"
	"fmt"
)

// Kind is what sort of failure an error is.
type Kind uint8

const (
	// Internal: a failure of this node (the store, a bug); the user can
	// only retry or report it.
	Internal Kind = iota
	// Invalid: the request is wrong (a bad value, a missing field).
	Invalid
	// NotFound: what the request names is not held here.
	NotFound
	// Full: a limit of this node is reached (a scope's, docs/protocol.md
	// §10.4).
	Full
	// TooLarge: the request's body is over its limit.
	TooLarge
	// Unprocessable: the input was read but cannot be used as it is.
	Unprocessable
	// Unavailable: the node cannot do it now (it is stopping, tor is down).
	Unavailable
)

// Error is an error with a kind and a hint for the user.
type Error struct {
	Kind Kind
	Msg  string // what went wrong
	Hint string // what to try; may be empty
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

// KindOf returns err's kind: Internal unless it carries an *Error.
func KindOf(err error) Kind {
	if e := As(err); e != nil {
		return e.Kind
	}
	return Internal
}
