package node

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/cloak"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/store"
)

// pipeTransport claims a mode and dials over an in-memory pipe: a
// transport that reaches its peer some way other than tor, which the real
// onion transport cannot be made to do.
type pipeTransport struct {
	unusedTransport
	mode cloak.Mode
	far  chan net.Conn // the peer's end of each dial
}

func (t pipeTransport) Mode() cloak.Mode { return t.mode }
func (t pipeTransport) Dial(context.Context, identity.ID) (net.Conn, error) {
	near, far := net.Pipe()
	t.far <- far
	return near, nil
}

// TestNodeRunsOnlyItsModesTransport: the node reaches the network only
// through cloak's guard, so a transport of another mode, a missing mode,
// or a connection that did not go through tor never carries a byte.
func TestNodeRunsOnlyItsModesTransport(t *testing.T) {
	secrets, err := identity.GenerateSecrets(bytes.NewReader(bytes.Repeat([]byte{9}, 128)))
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "store"), secrets.StoreKey[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cfg := func(mode cloak.Mode, tr cloak.Transport) Config {
		return Config{Secrets: secrets, Store: db, Mode: mode, Transport: tr}
	}

	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"a lan transport in tor mode", cfg(cloak.ModeTor, pipeTransport{mode: cloak.ModeLAN})},
		{"a tor transport in lan mode", cfg(cloak.ModeLAN, unusedTransport{})},
		{"no mode", cfg(0, unusedTransport{})},
	} {
		if n, err := New(c.cfg); n != nil || !errors.Is(err, cloak.ErrForbidden) {
			t.Errorf("%s: New = %v, %v; want a refusal wrapping cloak.ErrForbidden", c.name, n, err)
		}
	}

	tr := pipeTransport{mode: cloak.ModeTor, far: make(chan net.Conn, 1)}
	n, err := New(cfg(cloak.ModeTor, tr))
	if err != nil {
		t.Fatal(err)
	}
	peer, err := identity.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{10}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.dialPeer(ctx, peer.ID()); !errors.Is(err, cloak.ErrForbidden) {
		t.Fatalf("dialing over a pipe in tor mode: %v; want a refusal wrapping cloak.ErrForbidden", err)
	}
	far := <-tr.far
	far.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := io.ReadAll(far); len(got) != 0 || err != nil {
		t.Fatalf("the refused connection carried %d bytes (%v); want none and a close", len(got), err)
	}
}
