package node

import (
	"context"
	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"time"
)

// maxFetchWait bounds how long a fetch waits for its syncs.
const maxFetchWait = 2 * time.Minute

// FetchWait clamps a requested fetch wait to [1 s, maxFetchWait], once for
// the reply's deadline and the fetch alike (a negative one had set the
// deadline in the past).
func FetchWait(d time.Duration) time.Duration { return min(max(d, time.Second), maxFetchWait) }

// FetchIOC gets an IOC by content ID (or item ID) from peers: it restarts
// the session with every connected peer, which makes each reconcile afresh,
// and waits until those syncs complete (or wait passes) before looking
// again. It asks for nothing by ID: a peer sends only what the scopes it
// shares with us hold, so a fetch can never reveal an IOC outside its TLP,
// and a peer that may not share it answers exactly as one that lacks it
// (docs/ioc.md §8).
func (n *Node) FetchIOC(ctx context.Context, ref string, wait time.Duration) (*FetchResult, error) {
	if found, err := n.coll.Show(ref); err == nil {
		return &FetchResult{IOCs: found, Synced: []string{}, Held: true}, nil
	} else if fault.KindOf(err) != fault.UnknownIOC {
		return nil, err
	}
	wait = FetchWait(wait)
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	n.st.mu.Lock()
	var live []identity.ID
	for p := range n.st.sessions {
		live = append(live, p)
	}
	first := n.st.sessionSeq + 1 // the first session to start after this
	n.st.mu.Unlock()
	// The sessions running now reconciled before the fetch began: end
	// them, and count only syncs by sessions that start after it.
	for _, p := range live {
		n.endSession(p)
	}
	n.urge()
	want := len(live)
	if want == 0 {
		// Nobody connected: wait for every known peer (the dialer tries
		// them all now), or for the deadline.
		want = len(n.peerIDs())
	}
	res := &FetchResult{Synced: []string{}}
	for {
		ch := n.changedCh()
		res.Synced = res.Synced[:0]
		peers := n.peerIDs()
		n.st.mu.Lock()
		for _, p := range peers {
			if n.st.synced[p] >= first {
				res.Synced = append(res.Synced, p.String())
			}
		}
		n.st.mu.Unlock()
		found, err := n.coll.Show(ref)
		if err == nil {
			res.IOCs = found
			return res, nil
		}
		if len(res.Synced) >= want {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			if len(res.Synced) == 0 {
				return res, fault.New(fault.NotSynced, "no sync completed in time; check the node's status and try again", "no peer synced within %s; %s not found", wait, ref)
			}
			return res, fault.NotFoundf("no peer you share its TLP class with holds it", "%s not found after syncing with %d peers", ref, len(res.Synced))
		}
	}
	return res, fault.NotFoundf("no peer you share its TLP class with holds it", "%s not found after syncing with %d peers", ref, len(res.Synced))
}
