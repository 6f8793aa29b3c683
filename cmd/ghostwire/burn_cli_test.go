package main

import "testing"

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
