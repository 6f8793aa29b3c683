// Package node is a running GhostWire peer: it owns the identity, the store,
// the transport (tor, through onion), the sessions with other peers, and
// every goroutine they need. Its methods are the domain the local API
// (localapi) serves: they take and return localapi/apitype values and fail
// with *Error, whose Kind the API maps to a status. node never imports
// net/http or localapi (rules_test.go).
//
// The one thing a reader must know: the node decides what each peer may see.
// Every item belongs to scopes (a space seen through a visibility class,
// scope.go); a session with a peer reconciles only the scopes that peer may
// see, and an item a peer sends is stored only if it belongs to the scope it
// arrived in. The sync engine (syncproto) moves bytes; this package decides.
//
// Lifecycle: New opens nothing; Run starts the transport, the listener and
// the dialer, and returns when its context ends, after the sessions
// have stopped and before the caller closes the store, which it owns.
package node
