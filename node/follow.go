package node

import (
	"context"

	"github.com/ghostwire/ghostwire/dm"
	"github.com/ghostwire/ghostwire/identity"
)

// FollowMessages calls fn with every message (only those with one peer if
// only is set), then with each one that arrives or changes state, until ctx
// ends (it then returns nil) or fn or a listing fails. It keeps what it has
// opened, so a long follow does not decrypt each message again on every
// change.
func (n *Node) FollowMessages(ctx context.Context, only *identity.ID, fn func(*Message) error) error {
	seen := map[string]string{}
	opened := dm.NewCache()
	for {
		ch := n.changedCh()
		msgs, err := n.dm.List(only, opened)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if seen[m.ID] == m.State {
				continue
			}
			seen[m.ID] = m.State
			if err := fn(m); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ch:
		}
	}
}
