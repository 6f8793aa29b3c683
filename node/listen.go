package node

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/ghostwire/ghostwire/cloak"
	"github.com/ghostwire/ghostwire/gate"
	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/syncproto"
)

// The listener's states, as status shows them (docs/limits.md).
const (
	listenStarting = "starting"    // Run has not listened yet
	listenWaiting  = "waiting"     // the transport cannot listen yet (tor not ready)
	listenOK       = "listening"   // accepting
	listenBackoff  = "backing off" // accept failed for lack of resources; retrying
	listenStopped  = "stopped"     // Run has returned
)

// setListenState records the listener's state and, for a failure, the
// reason status shows (the errno's text where there is one: "too many open
// files").
func (n *Node) setListenState(state string, err error) {
	reason := ""
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			reason = errno.Error()
		} else {
			reason = err.Error()
		}
	}
	n.ls.mu.Lock()
	n.ls.state, n.ls.reason = state, reason
	n.ls.mu.Unlock()
}

// listenerStatus is what status shows of the listener.
func (n *Node) listenerStatus() apitype.ListenerStatus {
	n.ls.mu.Lock()
	st := apitype.ListenerStatus{State: n.ls.state, Reason: n.ls.reason, FDLimit: n.ls.fds}
	g := n.ls.gate
	n.ls.mu.Unlock()
	if st.State == "" {
		st.State = listenStarting
	}
	if g != nil {
		c, lim := g.Counts(), g.Limits()
		st.Conns, st.Handshakes, st.MaxConns, st.MaxHandshakes = c.Conns, c.Handshakes, lim.Conns, lim.Handshakes
		st.Evicted, st.Refused = c.Evicted, c.Refused
	}
	return st
}

// startGate raises the descriptor limit and derives the listener's caps
// from it (docs/limits.md). Run calls it before it listens.
func (n *Node) startGate() *gate.Gate {
	fds, err := gate.RaiseFDLimit()
	if err != nil {
		n.log.Warn("cannot raise the open-file limit; the listener's caps follow the current one", "err", err, "limit", fds)
	}
	g := gate.New(gate.LimitsFor(fds))
	lim := g.Limits()
	n.log.Info("listener limits", "fd_limit", fds, "max_conns", lim.Conns, "max_handshakes", lim.Handshakes)
	n.ls.mu.Lock()
	n.ls.gate, n.ls.fds = g, fds
	n.ls.mu.Unlock()
	return g
}

// listenLoop publishes the service and accepts peers, re-listening (with
// backoff, bounded) when the transport drops, for as long as ctx lives.
// The connections it accepts are not its own: they run under n.inbound,
// so that a new listener never waits for live sessions to end.
func (n *Node) listenLoop(ctx context.Context, g *gate.Gate) {
	defer n.setListenState(listenStopped, nil)
	backoff := time.Second
	for ctx.Err() == nil {
		ln, err := n.cfg.Transport.Listen(ctx, n.key)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			n.setListenState(listenWaiting, err)
			n.log.Warn("cannot listen yet; waiting for the transport", "mode", n.cfg.Mode, "err", err, "retry_in", backoff)
			if !sleepCtx(ctx, backoff) {
				return
			}
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		backoff = time.Second
		n.setListenState(listenOK, nil)
		n.watchReachable(ctx, ln)
		n.acceptLoop(ctx, ln, g)
		ln.Close()
	}
}

// acceptLoop accepts until the listener fails for good or ctx ends. A
// temporary error (out of descriptors or buffers, an aborted connection)
// is retried after a delay that doubles from 5 ms to 1 s, as net/http's
// server does; it is logged once per burst and status says "backing off"
// meanwhile. Ending the listener for it would let anyone who can open
// connections take the node off the network.
func (n *Node) acceptLoop(ctx context.Context, ln net.Listener, g *gate.Gate) {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var bo gate.Backoff
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !gate.Temporary(err) {
				n.log.Warn("accept stopped; listening again", "err", err)
				return
			}
			wait, first := bo.Failed()
			if first {
				n.setListenState(listenBackoff, err)
				n.log.Warn("accept failed; backing off and retrying", "err", err, "counts", g.Counts())
			}
			if !sleepCtx(ctx, wait) {
				return
			}
			continue
		}
		if bo.Succeeded() {
			n.setListenState(listenOK, nil)
			n.log.Info("accepting again")
		}
		n.admit(ctx, c, g)
	}
}

// admit runs an accepted connection under the gate: the handshake holds a
// slot it may be evicted from, the session that follows never is.
func (n *Node) admit(ctx context.Context, c net.Conn, g *gate.Gate) {
	hctx, cancel := context.WithTimeout(ctx, dialTimeout)
	t := g.Enter(ctx, cancel)
	if t == nil {
		cancel()
		c.Close()
		n.log.Debug("refused a connection: every slot holds a session", "counts", g.Counts())
		return
	}
	n.inbound.Add(1)
	go func() {
		defer n.inbound.Done()
		defer t.Leave()
		n.serveConn(ctx, hctx, cancel, c, t)
	}()
}

// errReplayedHello is the log's reason for a first message seen before.
var errReplayedHello = errors.New("node: a replayed first message (refused before any key exchange)")

// errEvicted is the log's reason for a handshake the gate ended for room.
var errEvicted = errors.New("node: evicted for a newer connection (the listener is at its caps)")

// serveConn runs an inbound connection: handshake (under hctx, which the
// gate cancels to evict it), then the session (under ctx).
func (n *Node) serveConn(ctx, hctx context.Context, cancel context.CancelFunc, c net.Conn, t *gate.Ticket) {
	cfg := n.handshakeConfig()
	// While a pairing code is shown, a stranger may complete a handshake
	// of purpose pairing; every other purpose is authorised after it, as
	// before (the handshake cannot tell Authorize the purpose).
	authorize := cfg.Authorize
	pairing := n.pairingOpen() != nil
	if pairing {
		cfg.Accept = []syncproto.Purpose{syncproto.PurposeSync, syncproto.PurposePairing}
		cfg.Authorize = nil
	}
	cfg.Hello = func(m1 []byte) error {
		if n.replays.Seen(m1) {
			return errReplayedHello
		}
		if !t.Heard(hctx) {
			return errEvicted
		}
		return nil
	}
	conn, err := syncproto.Server(hctx, c, cfg)
	cancel()
	if err != nil {
		n.log.Debug("inbound handshake failed", "err", err)
		return
	}
	if !t.Promote() {
		conn.Close()
		n.log.Debug("inbound handshake evicted for a newer one", "peer", conn.Peer())
		return
	}
	if conn.Purpose() == syncproto.PurposePairing {
		n.servePairing(ctx, conn, c.RemoteAddr())
		return
	}
	if pairing && authorize != nil {
		if err := authorize(conn.Peer()); err != nil {
			conn.Close()
			n.log.Debug("inbound handshake refused", "peer", conn.Peer(), "err", err)
			return
		}
	}
	n.runSession(ctx, conn, false)
}

// watchReachable reports, once, when the listener's service is reachable.
func (n *Node) watchReachable(ctx context.Context, ln cloak.Listener) {
	if n.cfg.OnReachable == nil {
		return
	}
	n.reachOnce.Do(func() {
		n.bg.Add(1)
		go func() {
			defer n.bg.Done()
			if ln.WaitReachable(ctx) == nil {
				n.log.Info("service reachable", "mode", n.cfg.Mode, "id", n.id)
				n.cfg.OnReachable()
			}
		}()
	})
}
