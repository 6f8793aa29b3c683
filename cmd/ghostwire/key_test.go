package main

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ghostwire/ghostwire/cloak"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/localapi"
	"github.com/ghostwire/ghostwire/node"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/vault"
)

// TestKeyVerbsUsage: the key verbs refuse a bad command line before asking
// the node anything, and need the running node otherwise.
func TestKeyVerbsUsage(t *testing.T) {
	dir := t.TempDir()
	gw(t, "", "key", "revoke", "3f9a02c17d2e", "--data", dir).expect(t, exitUsage, "", "needs --reason")
	gw(t, "", "key", "revoke", "--reason", "lost", "--data", dir).expect(t, exitUsage, "", "takes one subkey")
	gw(t, "", "key", "list", "extra", "--data", dir).expect(t, exitUsage, "", "takes no arguments")
	gw(t, "", "key", "list", "--reason", "x", "--data", dir).expect(t, exitUsage, "", "--reason is for key revoke")
	for _, args := range [][]string{
		{"key", "list"}, {"key", "rotate"}, {"key", "rotate", "--purpose", "signing"},
		{"key", "revoke", "3f9a02c17d2e", "--reason", "laptop stolen"},
	} {
		gw(t, "", append(args, "--data", dir)...).expect(t, exitNotRunning, "", "ghostwire: hint: start it with 'ghostwire run --data")
	}
	gw(t, "", "key", "--help").expect(t, 0, "Example:", "")
}

// stubTransport is a transport that reaches no one: the key tests need the
// node's local API, not its peers.
type stubTransport struct{}

var errNoTransport = errors.New("this test's node has no transport")

func (stubTransport) Mode() cloak.Mode { return cloak.ModeTor }
func (stubTransport) Listen(context.Context, *identity.PrivateKey) (cloak.Listener, error) {
	return nil, errNoTransport
}
func (stubTransport) Dial(context.Context, identity.ID) (net.Conn, error) { return nil, errNoTransport }
func (stubTransport) Status() cloak.Status                                { return cloak.Status{Mode: "test"} }
func (stubTransport) Close() error                                        { return nil }

// serveNode runs a node in this process on a data directory of its own,
// with a key vault and the local API on DIR/api.sock, so the built CLI can
// be run against it. It stops when the test ends.
func serveNode(t *testing.T) (dir string, id identity.ID) {
	t.Helper()
	dir = t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	secrets, err := identity.GenerateSecrets(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(dir, "store"), secrets.StoreKey[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := vault.Open(filepath.Join(dir, "keys.vault"), secrets.StoreKey[:], rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(node.Config{Secrets: secrets, Store: db, KeyVault: kv, Mode: cloak.ModeTor, Transport: stubTransport{}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := localapi.Listen(filepath.Join(dir, "api.sock"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- localapi.RunNode(ctx, n, ln, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node: %v", err)
		}
		kv.Close()
		db.Close()
	})
	return dir, n.ID()
}

// TestKeyRevokeIdentity: key revoke --identity through the built CLI
// against a running node. Without a terminal it asks for --yes; with it,
// it revokes, says what that means, and key list shows the identity
// revoked beside its current encryption subkey; a second revocation is
// refused with what to do instead.
func TestKeyRevokeIdentity(t *testing.T) {
	dir, id := serveNode(t)
	gw(t, "", "key", "revoke", "--identity", "--data", dir).expect(t, exitUsage, "", "needs --reason")
	gw(t, "", "key", "revoke", "3f9a02c17d2e", "--identity", "--reason", "x", "--data", dir).expect(t, exitUsage, "", "takes no subkey")
	gw(t, "", "key", "revoke", "3f9a02c17d2e", "--yes", "--reason", "x", "--data", dir).expect(t, exitUsage, "", "--yes is for key revoke --identity")
	gw(t, "yes\n", "key", "revoke", "--identity", "--reason", "identity key copied", "--data", dir).
		expect(t, exitUsage, "", "ghostwire: hint: it cannot be undone; if you mean it, pass --yes")
	if r := gw(t, "", "key", "list", "--data", dir); strings.Contains(r.stdout, "revoked") {
		t.Fatalf("the identity is revoked without a confirmation:\n%s", r.stdout)
	}

	gw(t, "", "key", "revoke", "--identity", "--reason", "identity key copied", "--yes", "--data", dir).
		expect(t, 0, "revoked identity "+id.String(), "this address is dead")
	r := gw(t, "", "key", "list", "--data", dir)
	r.expect(t, 0, "(identity key copied): peers refuse this identity", "")
	if !strings.Contains(r.stdout, "  encryption  ") || !strings.Contains(r.stdout, "  current") {
		t.Errorf("key list does not show the current encryption subkey:\n%s", r.stdout)
	}
	gw(t, "", "key", "revoke", "--identity", "--reason", "again", "--yes", "--data", dir).
		expect(t, exitUsage, "", "revoked itself already")
}
