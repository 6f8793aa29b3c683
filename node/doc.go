// Package node is a running GhostWire peer: it owns the identity, the store,
// the sessions with other peers and the local API, and every goroutine they
// need. It reaches the network only through the cloak.Transport it is
// given, and only through a cloak.Guard for its Mode that it puts in front
// of it, so it knows no transport's specifics: it never imports onion or
// lan (rules_test.go enforces it), and a new transport plugs in at
// cmd/ghostwire without a change here.
//
// The one thing a reader must know: the node decides what each peer may see.
// Every item belongs to scopes (a space seen through a visibility class,
// scope.go); a session with a peer reconciles only the scopes that peer may
// see, and an item a peer sends is stored only if it belongs to the scope it
// arrived in. The sync engine (syncproto) moves bytes; this package decides.
//
// Lifecycle: New opens nothing; Run starts the transport, the listener, the
// dialer and the API, and returns when its context ends, after the sessions
// have stopped and before the caller closes the store, which it owns.
package node
