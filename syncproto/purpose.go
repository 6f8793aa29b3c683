package syncproto

import (
	"fmt"
	"slices"
	"strings"
)

// Purpose names what a connection is for. The initiator states it in
// message 1, so it is part of the transcript both identities sign and
// every key is derived from: the two sides cannot end up disagreeing about
// it, and a connection made for one purpose can never be taken for
// another. docs/protocol.md §3.3.1 lists the values.
type Purpose uint

// Purposes, docs/protocol.md §3.3.1. Zero is never sent.
const (
	// PurposeSync is the sync session (§10) between peers that already
	// know each other.
	PurposeSync Purpose = 1
	// PurposePairing is the LAN mode's PIN pairing, which binds the short
	// code two people compare to this one connection (Conn.Exporter).
	PurposePairing Purpose = 2
)

// String returns the purpose's name as the spec spells it.
func (p Purpose) String() string {
	switch p {
	case PurposeSync:
		return "sync"
	case PurposePairing:
		return "pairing"
	}
	return fmt.Sprintf("purpose %d", uint(p))
}

// PurposeError means the initiator asked for a purpose the responder does
// not accept (Config.Accept). Server returns it wrapped in a
// HandshakeError at StageInitiatorHello, before it has sent a byte. The
// initiator is told nothing, as for a version mismatch: its Client fails
// at StageResponderHello because the connection closed.
type PurposeError struct {
	Got    Purpose   // what the initiator asked for
	Accept []Purpose // what this side accepts
}

// Error names both sides of the mismatch, so that a user who dialed for
// pairing a peer that is not pairing can tell.
func (e *PurposeError) Error() string {
	names := make([]string, len(e.Accept))
	for i, p := range e.Accept {
		names[i] = p.String()
	}
	return fmt.Sprintf("the initiator asked for a %s connection, but this side accepts only %s",
		e.Got, strings.Join(names, ", "))
}

// defaultAccept is what a responder accepts when Config.Accept is nil.
var defaultAccept = []Purpose{PurposeSync}

// purpose is what Client asks for.
func (c *Config) purpose() Purpose {
	if c.Purpose == 0 {
		return PurposeSync
	}
	return c.Purpose
}

// accept checks the purpose an initiator asked for against what Server
// accepts.
func (c *Config) accept(p Purpose) error {
	acc := c.Accept
	if acc == nil {
		acc = defaultAccept
	}
	if !slices.Contains(acc, p) {
		return &PurposeError{Got: p, Accept: slices.Clone(acc)}
	}
	return nil
}
