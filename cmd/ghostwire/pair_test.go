package main

import "testing"

// TestPairUsage: pair's and peer add --lan's misuse is refused before the
// node is asked anything, each with a hint; without a node, pair says how
// to start one.
func TestPairUsage(t *testing.T) {
	dir := t.TempDir()
	const onion = "25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion"
	gw(t, "", "pair", "--help").expect(t, 0, "Example:", "")
	gw(t, "", "pair", "--data", dir).expect(t, exitNotRunning, "", "ghostwire: hint: start it with 'ghostwire run --data")
	gw(t, "", "pair", "47-382915", "--data", dir).expect(t, exitNotRunning, "", "ghostwire: hint: start it with 'ghostwire run --data")
	gw(t, "", "pair", "47-382915", "12-345678", "--data", dir).expect(t, exitUsage, "", "pair takes at most one code")
	gw(t, "", "pair", "--name", "bob", "--data", dir).expect(t, exitUsage, "", "--name is for the joining side")
	gw(t, "", "pair", "--as", "a\xffb", "--data", dir).expect(t, exitUsage, "", "--as")
	gw(t, "", "peer", "add", onion, "--lan", "192.168.1.20", "--data", dir).expect(t, exitUsage, "", "ghostwire: hint: give the peer's address and port on the LAN")
	gw(t, "", "peer", "list", "--lan", "192.168.1.20:7700", "--data", dir).expect(t, exitUsage, "", "--lan is for peer add")
}
