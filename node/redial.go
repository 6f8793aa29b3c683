package node

import (
	"time"

	"github.com/ghostwire/ghostwire/identity"
)

// redial is one peer's dial schedule, owned by dialLoop. Failures back off
// exponentially (minBackoff to maxBackoff), so an unreachable peer costs
// little; a session that ended is dialled again after the redial interval.
// Background work (poke) dials only peers that are not backing off, but a
// user's action for a peer (urge: a message to it, an IOC to share, a
// fetch) gets it dialled within minBackoff of its last attempt, however far
// failures have backed it off: a user who presses send should not wait a
// minute because the peer was offline a while ago.
type redial struct {
	next    time.Time     // not before this
	last    time.Time     // when the last dial started
	backoff time.Duration // wait after the next failure
	urged   bool          // a user's action came after the last dial started
}

func newRedial() *redial { return &redial{backoff: minBackoff} }

func (r *redial) due(now time.Time) bool { return !now.Before(r.next) }

// started records a dial starting now: it serves any urge made before.
func (r *redial) started(now time.Time) {
	r.last, r.urged = now, false
}

// failed schedules the next attempt after a failed dial.
func (r *redial) failed(now time.Time) {
	r.next = now.Add(r.backoff)
	r.backoff = min(2*r.backoff, maxBackoff)
	if r.urged { // urged while this dial was under way
		r.next = minTime(r.next, now.Add(minBackoff))
	}
}

// ended schedules the next session after one that ran and ended; a user's
// action while it ran (an IOC fetch ends sessions to sync afresh) is served
// by a dial minBackoff later.
func (r *redial) ended(now time.Time, interval time.Duration) {
	r.backoff, r.next = minBackoff, now.Add(interval)
	if r.urged {
		r.next = now.Add(minBackoff)
	}
}

// poke: there is new work for every peer; one that is not backing off is
// dialled at once.
func (r *redial) poke() {
	if r.backoff == minBackoff {
		r.next = time.Time{}
	}
}

// urge: a user's action wants this peer now.
func (r *redial) urge() {
	r.urged = true
	r.next = minTime(r.next, r.last.Add(minBackoff))
}

// woken applies a wake to every peer's schedule: the peers a user's action
// named (all of them if all) are urged, the others poked.
func woken(peers map[identity.ID]*redial, urgent map[identity.ID]bool, all bool) {
	for p, st := range peers {
		if all || urgent[p] {
			st.urge()
		} else {
			st.poke()
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// urge wakes the dialer for a user's action: the given peers, or every
// known peer if none is given, are dialled within minBackoff of their last
// attempt (redial.urge).
func (n *Node) urge(peers ...identity.ID) {
	n.st.mu.Lock()
	if len(peers) == 0 {
		n.st.urgentAll = true
	}
	for _, p := range peers {
		n.st.urgent[p] = true
	}
	n.st.mu.Unlock()
	n.poke()
}

// takeUrgent returns and clears what urge recorded.
func (n *Node) takeUrgent() (peers map[identity.ID]bool, all bool) {
	n.st.mu.Lock()
	defer n.st.mu.Unlock()
	peers, all = n.st.urgent, n.st.urgentAll
	n.st.urgent, n.st.urgentAll = map[identity.ID]bool{}, false
	return peers, all
}
