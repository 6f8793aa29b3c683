package node

import (
	"context"
	"time"
)

// burnIdle is how long burnLoop sleeps with no timer pending: a message
// that arrives with a timer wakes it through the change feed.
const burnIdle = time.Hour

// burnLoop burns messages as their timers run out (dm.Service.BurnDue),
// from the node's clock, until ctx ends. It wakes at the next deadline and
// on every stored change (a new burnable message may bring an earlier one).
func (n *Node) burnLoop(ctx context.Context) {
	for {
		// The feed is taken before the timers are read, so a message
		// stored in between still wakes the loop. The first round reads
		// them afresh too: messages may have been sent since New.
		changed := n.changedCh()
		next := n.dm.BurnDue()
		wait := burnIdle
		if !next.IsZero() {
			// Due already means a burn failed (BurnDue logged why): retry
			// at a pace, not in a spin.
			if wait = next.Sub(n.cfg.Now()); wait <= 0 {
				wait = time.Second
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-changed:
			t.Stop()
		}
	}
}
