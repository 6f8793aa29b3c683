package node

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/ghostwire/ghostwire/contacts"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/syncproto"
)

// Dialing policy.
const (
	minBackoff = 2 * time.Second
	maxBackoff = time.Minute
	// dialTimeout bounds one dial and handshake over Tor (a new circuit to
	// a fresh onion can take several seconds).
	dialTimeout = 60 * time.Second
)

// peerSession is the one live session with a peer.
type peerSession struct {
	peer   identity.ID
	seq    uint64 // n.st.sessionSeq when it started
	sess   *syncproto.Session
	cancel context.CancelFunc
	done   chan struct{}
}

func (n *Node) handshakeConfig() *syncproto.Config {
	return &syncproto.Config{
		Key:    n.key,
		Rand:   n.cfg.Rand,
		Spares: n.spares,
		Logger: n.log,
		// Only peers the user added, and did not block, get a session:
		// anyone can reach an onion address, but strangers get nothing
		// past the handshake (they are kept as contact requests).
		Authorize: n.authorize,
	}
}

// errSilentClose means a peer we dialled closed the session without
// sending a single frame. The handshake's initiator speaks last, so this is
// how a dialer learns the peer refused it (it does not know us, or removed
// us): the dialer backs off as for a failed dial instead of redialling at
// once, which made a storm of handshakes against a peer that removed us.
var errSilentClose = errors.New("node: the peer closed the session without a word (it may not know us)")

// dialPeer connects to peer through the transport and runs the session
// until it ends (the dialer's goroutine owns it). It returns errSilentClose
// if the peer never spoke.
func (n *Node) dialPeer(ctx context.Context, peer identity.ID) error {
	// A blocked or revoked peer is never dialled: not a byte goes to it.
	var re *contacts.RefusedError
	if err := n.contacts.Admit(peer); errors.As(err, &re) {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c, err := n.cfg.Transport.Dial(dctx, peer)
	if err != nil {
		return err
	}
	conn, err := syncproto.Client(dctx, c, n.handshakeConfig(), peer)
	if err != nil {
		return err
	}
	if !n.runSession(ctx, conn, true) {
		n.setAnswered(peer, false)
		return errSilentClose
	}
	return nil
}

// established reports whether the peer has spoken in this session: only
// then is it counted as connected (see errSilentClose). It takes the
// session's lock: never call it with n.mu held.
func (ps *peerSession) established() bool { return ps.sess.Stats().BytesReceived > 0 }

// runSession registers the session (one per peer: a second one, from both
// peers dialling at once, is closed) and runs it until it ends. It reports
// false only if the session ran and the peer sent nothing.
func (n *Node) runSession(ctx context.Context, conn *syncproto.Conn, initiator bool) (heard bool) {
	peer := conn.Peer()
	sctx, cancel := context.WithCancel(ctx)
	ps := &peerSession{peer: peer, sess: syncproto.NewSession(conn, syncStore{n}, initiator), cancel: cancel, done: make(chan struct{})}
	n.st.mu.Lock()
	if _, busy := n.st.sessions[peer]; busy || n.st.stopping {
		n.st.mu.Unlock()
		cancel()
		conn.Close()
		return true
	}
	n.st.sessionSeq++
	ps.seq = n.st.sessionSeq
	n.st.sessions[peer] = ps
	n.sessWG.Add(1)
	n.st.mu.Unlock()
	defer n.sessWG.Done()
	// A dial under way when the user removed the peer lands here after
	// the removal. RemovePeer forgets the peer before it ends sessions, so
	// either it sees this session and ends it, or this check sees it gone.
	if !n.isPeer(peer) {
		cancel()
		conn.Close()
		n.st.mu.Lock()
		if n.st.sessions[peer] == ps {
			delete(n.st.sessions, peer)
		}
		n.st.mu.Unlock()
		close(ps.done)
		return true
	}
	n.log.Info("session started", "peer", peer, "initiator", initiator)
	err := ps.sess.Run(sctx)
	cancel()
	n.st.mu.Lock()
	if n.st.sessions[peer] == ps {
		delete(n.st.sessions, peer)
	}
	n.st.mu.Unlock()
	close(ps.done)
	st := ps.sess.Stats()
	if st.BytesReceived > 0 {
		n.setAnswered(peer, true)
	}
	n.log.Info("session ended", "peer", peer, "err", err, "sent", st.BytesSent, "received", st.BytesReceived)
	n.notifyChanged()
	n.poke()
	return st.BytesReceived > 0
}

// endSession stops the session with peer, if any, and waits for it.
func (n *Node) endSession(peer identity.ID) {
	n.st.mu.Lock()
	ps := n.st.sessions[peer]
	n.st.mu.Unlock()
	if ps != nil {
		ps.cancel()
		<-ps.done
	}
}

// closeSessions ends every session and waits for them (Run's shutdown).
func (n *Node) closeSessions() {
	n.st.mu.Lock()
	n.st.stopping = true
	for _, ps := range n.st.sessions {
		ps.cancel()
	}
	n.st.mu.Unlock()
	n.sessWG.Wait()
}

// afterLocalItems hands new local items to the live session with peer, or
// wakes the dialer to make one.
func (n *Node) afterLocalItems(peer identity.ID, items ...*item.Item) {
	n.notifyChanged()
	n.st.mu.Lock()
	ps := n.st.sessions[peer]
	n.st.mu.Unlock()
	if ps == nil {
		n.urge(peer)
		return
	}
	n.pushItems(ps, item.PairScope(n.id, peer), items)
}

// dialLoop keeps a session with every known peer: it dials peers without
// one, at once when woken, and retries failures with exponential backoff.
// A dial's goroutine runs the session it opens, so a peer stays in flight
// until that session ends. A peer whose session ended is dialled again
// after RedialInterval, or at once when there is something new for it; one
// that closed a session without a word (errSilentClose) is backed off. A
// user's action for a peer dials it within minBackoff even while failures
// back it off (redial.go).
func (n *Node) dialLoop(ctx context.Context) {
	peers := map[identity.ID]*redial{}
	var wg sync.WaitGroup
	defer wg.Wait()
	results := make(chan struct {
		peer identity.ID
		err  error
	}, 16)
	inflight := map[identity.ID]bool{}
	for {
		now := time.Now()
		wake := now.Add(30 * time.Second)
		n.future.retry(n, n.cfg.Now())
		if t := n.future.next(); !t.IsZero() {
			wake = minTime(wake, now.Add(t.Sub(n.cfg.Now())))
		}
		current := n.peerIDs()
		for p := range peers { // forget removed peers (a re-added one starts afresh)
			if !inflight[p] && !slices.Contains(current, p) {
				delete(peers, p)
			}
		}
		for _, p := range current {
			st := peers[p]
			if st == nil {
				st = newRedial()
				peers[p] = st
			}
			n.st.mu.Lock()
			_, live := n.st.sessions[p]
			n.st.mu.Unlock()
			if live || inflight[p] {
				continue
			}
			if !st.due(now) {
				wake = minTime(wake, st.next)
				continue
			}
			if !n.cfg.Transport.Status().Ready {
				// Waiting for tor; it says so in status. Look again in a
				// second: nothing wakes us when tor becomes ready, and
				// waiting the full 30 s delayed every start's first sync.
				wake = minTime(wake, now.Add(time.Second))
				continue
			}
			inflight[p] = true
			st.started(now)
			wg.Add(1)
			go func(p identity.ID) {
				defer wg.Done()
				err := n.dialPeer(ctx, p)
				select {
				case results <- struct {
					peer identity.ID
					err  error
				}{p, err}:
				case <-ctx.Done():
				}
			}(p)
		}
		t := time.NewTimer(time.Until(wake))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-n.wake:
			// New work: idle peers are dialled at once, and peers a
			// user's action named even if they are backing off.
			urgent, all := n.takeUrgent()
			woken(peers, urgent, all)
		case r := <-results:
			delete(inflight, r.peer)
			st := peers[r.peer]
			if r.err != nil {
				st.failed(time.Now())
				n.log.Info("peer unreachable; will retry", "peer", r.peer, "err", logSafe(r.err), "retry_in", time.Until(st.next).Round(time.Second))
			} else {
				st.ended(time.Now(), n.cfg.RedialInterval)
			}
		case <-t.C:
		}
		t.Stop()
	}
}

// logSafe keeps full onion addresses out of logs: a wrong-peer error names
// both identities in full for the user, so the log gets the short forms.
func logSafe(err error) string {
	var wp *syncproto.WrongPeerError
	if errors.As(err, &wp) {
		return "the onion answered with another identity (" + wp.Got.Short() + ", expected " + wp.Want.Short() + ")"
	}
	return err.Error()
}
