// Package node is a running GhostWire peer: it owns the identity, the store,
// the sessions with other peers and the dialer, and every goroutine they
// need, and wires the item-kind services (dm, collection) to them.
//
// The one thing a reader must know: the node decides what each peer may see,
// through its services. Every item belongs to scopes (a space seen through a
// visibility class, docs/protocol.md §10.1); each service says which of its
// scopes a peer shares (Scopes) and what may be stored in each (Check); a
// session with a peer reconciles only the scopes that peer may see, and an
// item a peer sends is stored only if it belongs to the scope it arrived in.
// The sync engine (syncproto) moves bytes; the node and its services decide.
//
// It reaches the network only through the cloak.Transport it is given, and
// only through a cloak.Guard for its Mode that it puts in front of it, so it
// knows no transport's specifics: it never imports onion or lan. Its methods
// are the domain the local API (localapi) serves: they take and return
// localapi/apitype values and fail with *fault.Error, whose kind the API
// maps to a status. It never imports net/http or localapi (rules_test.go).
//
// Lifecycle: New opens nothing; Run starts the transport, the listener and
// the dialer, and returns when its context ends, after the sessions have
// stopped and before the caller closes the store, which it owns.
package node
