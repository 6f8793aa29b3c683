package node

import (
	"bytes"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/ghostwire/ghostwire/cloak"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/store"
)

// peerAwareTransport records what the node tells a transport that admits
// only its peers (onion's --only-peers).
type peerAwareTransport struct {
	unusedTransport
	mu    sync.Mutex
	calls [][]identity.ID
}

func (p *peerAwareTransport) SetPeers(ids []identity.ID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, slices.Clone(ids))
}

func (p *peerAwareTransport) last() []identity.ID {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.calls) == 0 {
		return nil
	}
	return p.calls[len(p.calls)-1]
}

// TestPeerAwareTransportFollowsPeers: the node names its peers to such a
// transport when it is made (so a restart publishes for the stored peers)
// and after every add and remove.
func TestPeerAwareTransportFollowsPeers(t *testing.T) {
	dir := t.TempDir()
	secrets, err := identity.GenerateSecrets(bytes.NewReader(bytes.Repeat([]byte{7}, 128)))
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(dir, "store"), secrets.StoreKey[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tr := &peerAwareTransport{}
	n, err := New(Config{Secrets: secrets, Store: db, Mode: cloak.ModeTor, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.calls) != 1 || len(tr.last()) != 0 {
		t.Fatalf("at start: %v, want one call with no peers", tr.calls)
	}
	a, b := hnodeID(t, 1), hnodeID(t, 2)
	if _, err := n.AddPeer(a, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.AddPeer(b, "b"); err != nil {
		t.Fatal(err)
	}
	if got := tr.last(); len(got) != 2 || !slices.Contains(got, a) || !slices.Contains(got, b) {
		t.Fatalf("after two adds: %v", got)
	}
	if err := n.RemovePeer(a); err != nil {
		t.Fatal(err)
	}
	if got := tr.last(); len(got) != 1 || got[0] != b {
		t.Fatalf("after removing a: %v, want only b", got)
	}

	// A node made again over the same store names the stored peers at once.
	tr2 := &peerAwareTransport{}
	if _, err := New(Config{Secrets: secrets, Store: db, Mode: cloak.ModeTor, Transport: tr2}); err != nil {
		t.Fatal(err)
	}
	if got := tr2.last(); len(got) != 1 || got[0] != b {
		t.Fatalf("a new node over the same store: %v, want b", got)
	}
}

func hnodeID(t *testing.T, seed byte) identity.ID {
	t.Helper()
	s, err := identity.GenerateSecrets(bytes.NewReader(bytes.Repeat([]byte{seed}, 128)))
	if err != nil {
		t.Fatal(err)
	}
	return s.Key.ID()
}
