package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/vault"
)

// TestBurnFlags: a --ttl outside 1m..365d, or not a duration, is a usage
// error with the range in its hint, before the node is asked anything
// (no node runs here); "30s" is refused as shorter than a minute.
func TestBurnFlags(t *testing.T) {
	dir := t.TempDir()
	for _, ttl := range []string{"30s", "59s", "366d", "8761h", "ten", "-5m", "0"} {
		gw(t, "", "msg", "send", "bob", "hi", "--ttl", ttl, "--data", dir).
			expect(t, exitUsage, "", "hint: give --ttl as a number and a unit from 1m to 365d")
	}
	// In range, the request goes on to the node, which is not running.
	for _, ttl := range []string{"1m", "10m", "24h", "7d", "365d"} {
		gw(t, "", "msg", "send", "bob", "hi", "--ttl", ttl, "--burn-after-read", "--data", dir).
			expect(t, exitNotRunning, "", "ghostwire: hint: start it with 'ghostwire run --data")
	}
	gw(t, "", "msg", "list", "--ttl", "10m", "--data", dir).expect(t, exitUsage, "", "--ttl does not apply to msg list")
	gw(t, "", "msg", "--help").expect(t, 0, "--burn-after-read", "")
	gw(t, "", "msg", "read", "--data", dir).expect(t, exitUsage, "", "hint: name the conversation: ghostwire msg read bob")
	gw(t, "", "msg", "read", "bob", "--data", dir).expect(t, exitNotRunning, "", "ghostwire: hint: start it with 'ghostwire run --data")
}

// TestDamagedVault: run refuses a vault whose header is damaged, or that
// another data key made, with what to do, before the node starts; moving
// the vault aside lets the node start with a new one (it then waits for
// the closed control port given, and is stopped).
func TestDamagedVault(t *testing.T) {
	dir := newNode(t, "hunter2 hunter2")
	run := func(ctx context.Context) result {
		return gwContext(t, ctx, "hunter2 hunter2\n", "run", "--data", dir, "--passphrase-file", "-", "--tor-control", "127.0.0.1:1")
	}
	vaultFile := filepath.Join(dir, "burn.vault")
	foreign, err := vault.Open(vaultFile, bytes.Repeat([]byte{9}, 32), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	foreign.Close()
	run(context.Background()).expect(t, exitCorrupt, "", "belongs to another identity")
	os.WriteFile(vaultFile, []byte("not a vault at all, just some bytes; long enough to hold a header of 64 bytes"), 0o600)
	r := run(context.Background())
	r.expect(t, exitCorrupt, "", "not a vault file")
	if !strings.Contains(r.stderr, "move "+vaultFile+" aside") {
		t.Fatalf("no hint to move the vault aside:\n%s", r.stderr)
	}
	os.Rename(vaultFile, vaultFile+".damaged")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if r := run(ctx); !strings.Contains(r.stderr, "starting; local API") {
		t.Fatalf("with the vault moved aside, the node did not start:\n%s", r.stderr)
	}
	if _, err := os.Stat(vaultFile); err != nil {
		t.Fatalf("run did not make a new vault: %v", err)
	}
}
