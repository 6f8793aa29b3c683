package main

import "testing"

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
