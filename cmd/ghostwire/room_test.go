package main

import "testing"

// TestRoomVerbsWithoutNode: misuse of the room verbs is a usage error with
// a hint before the node is asked anything; a well-formed call without a
// running node says how to start it.
func TestRoomVerbsWithoutNode(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"room", "list"}, {"room", "create", "ops"}, {"room", "join"}, {"room", "read", "ops"},
		{"room", "send", "ops", "hi"}, {"room", "members", "ops"},
	} {
		gw(t, "", append(args, "--data", dir)...).expect(t, exitNotRunning, "", "ghostwire: hint: start it with 'ghostwire run --data")
	}
	gw(t, "", "room").expect(t, exitUsage, "", "room needs a verb")
	gw(t, "", "room", "send", "ops", "--data", dir).expect(t, exitUsage, "", "quote the text")
	gw(t, "", "room", "invite", "ops", "--data", dir).expect(t, exitUsage, "", "room invite takes <room> <peer>, got 1 arguments")
	gw(t, "", "room", "create", "--data", dir).expect(t, exitUsage, "", "hint: e.g. ghostwire room create <name>")
	gw(t, "", "room", "send", "ops", "hi", "--follow", "--data", dir).expect(t, exitUsage, "", "--follow is for room read")
	gw(t, "", "room", "--help").expect(t, 0, "ghostwire room read ops --follow", "")
}
