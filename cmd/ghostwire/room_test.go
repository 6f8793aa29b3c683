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

// TestRoomTimerVerbsWithoutNode: a timer the user mistyped is a usage
// error naming the range, before the node is asked; a well-formed timed
// call without a running node says how to start it; and the help says how
// burning works in a room.
func TestRoomTimerVerbsWithoutNode(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"room", "create", "ops", "--ttl", "7d"}, {"room", "set-timer", "ops", "24h"}, {"room", "set-timer", "ops", "off"},
		{"room", "send", "ops", "hi", "--ttl", "10m"}, {"room", "send", "ops", "hi", "--burn-after-read"},
	} {
		gw(t, "", append(args, "--data", dir)...).expect(t, exitNotRunning, "", "ghostwire: hint: start it with 'ghostwire run --data")
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"room", "send", "ops", "hi", "--ttl", "30s"}, "--ttl 30s is outside the range 1m to 365d"},
		{[]string{"room", "send", "ops", "hi", "--ttl", "soon"}, "hint: give --ttl as a number and a unit"},
		{[]string{"room", "create", "ops", "--ttl", "366d"}, "--ttl 366d is outside the range 1m to 365d"},
		{[]string{"room", "set-timer", "ops", "400d"}, "--ttl 400d is outside the range 1m to 365d"},
		{[]string{"room", "set-timer", "ops"}, "room set-timer takes <room> <D|off>, got 1 arguments"},
		{[]string{"room", "create", "ops", "--burn-after-read"}, "--burn-after-read is for room send"},
	} {
		gw(t, "", append(c.args, "--data", dir)...).expect(t, exitUsage, "", c.want)
	}
	gw(t, "", "room", "--help").expect(t, 0, "each\nmember's node once that member has read it", "")
	gw(t, "", "room", "--help").expect(t, 0, "ghostwire room set-timer <room> <D>|off", "")
}
