// Package syncproto is how two GhostWire peers talk: length-prefixed
// frames, a mutually authenticated handshake and the encrypted channel that
// carries everything after it. It takes a net.Conn and knows nothing of Tor
// or LAN; an onion stream and a LAN socket get the same bytes.
//
// A dialer calls Client with the identity it meant to reach (the onion
// address it dialed); a listener calls Server. Both return a *Conn whose
// Peer is the identity proved in the handshake, and whose ReadFrame and
// WriteFrame carry whole messages of up to MaxPayload bytes:
//
//	c, err := syncproto.Client(ctx, tcpConn, &syncproto.Config{Key: me}, them)
//	if err != nil { ... } // *HandshakeError; tcpConn is closed
//	defer c.Close()       // sends the authenticated close
//	err = c.WriteFrame(msg)
//
// The one thing a reader must know: every failure is final and tells the
// peer nothing. A handshake that fails closes the connection; a channel
// frame that is forged, replayed, reordered or dropped closes it too, and
// only the local log says why. A connection that ends without the peer's
// authenticated close reads as ErrTruncated, never as a clean io.EOF.
//
// # The handshake
//
// SIGMA-I with a hybrid X25519 + ML-KEM-768 key exchange, in four messages
// and one and a half round trips: the initiator sends its ephemeral shares;
// the responder answers with its shares and, sealed under the first derived
// key, its identity and signature over the transcript; the initiator sends
// its own identity and signature, sealed, and may send application data in
// the same flight. Neither identity crosses the wire in clear. The first
// message names the connection's purpose (Config.Purpose: sync, pairing),
// which the responder accepts or refuses (Config.Accept) and both
// signatures cover, so Conn.Purpose is the same on both ends; Conn.Exporter
// derives secrets bound to the one connection for the layer above (a
// pairing code, a secret of the pair). Every byte, label, limit and the
// reasons for them are in docs/protocol.md §2–§4.
//
// # Concurrency
//
// One goroutine may read while another writes; Close may be called at any
// time from any goroutine. Client and Server start no goroutines.
package syncproto
