package main

import "testing"

// TestReputationVerbsUsage: the reputation verbs refuse a bad command line
// before asking the node anything, and need the running node otherwise.
func TestReputationVerbsUsage(t *testing.T) {
	dir := t.TempDir()
	gw(t, "", "ioc", "sighting", "3a25b885716bb7a0", "--data", dir).expect(t, exitUsage, "", "exactly one of --seen and --false-positive")
	gw(t, "", "ioc", "sighting", "3a25b885716bb7a0", "--seen", "--false-positive", "--data", dir).expect(t, exitUsage, "", "exactly one of --seen and --false-positive")
	gw(t, "", "ioc", "sighting", "--seen", "--data", dir).expect(t, exitUsage, "", "takes one IOC ID")
	gw(t, "", "peer", "rate", "bob", "--data", dir).expect(t, exitUsage, "", "exactly one of --good and --bad")
	gw(t, "", "peer", "rate", "--good", "--data", dir).expect(t, exitUsage, "", "takes one source")
	gw(t, "", "trust", "show", "bob", "alice", "--data", dir).expect(t, exitUsage, "", "at most one peer")
	gw(t, "", "ioc", "export", "--min-trust", "0.5", "--data", dir).expect(t, exitUsage, "", "--min-trust is for ioc list")
	for _, args := range [][]string{
		{"trust", "show"}, {"ioc", "list", "--min-trust", "0.5"}, {"peer", "rate", "bob", "--bad"},
		{"ioc", "sighting", "3a25b885716bb7a0", "--seen"},
	} {
		gw(t, "", append(args, "--data", dir)...).expect(t, exitNotRunning, "", "ghostwire: hint: start it with 'ghostwire run --data")
	}
	gw(t, "", "trust", "--help").expect(t, 0, "Example:", "")
}
