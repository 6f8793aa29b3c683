package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/ghostwire/ghostwire/dm"
	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/room"
)

func roomCommand() *command {
	var follow, burnAfterRead bool
	var ttl, createTTL string
	return &command{
		name:    "room",
		summary: "group conversations with an owner who rekeys",
		usage: `A room is a group conversation. Its owner (whoever created it) invites and
removes members; every change of membership gives the room a new key, sealed to
each member, so a removed member reads what was posted while it was in and
nothing after. Messages are encrypted under the room's key and signed by their
author; any member passes them on to the others, so a message reaches members
who are never online at the same time as its author.

An invitation shows as pending until you accept it with 'room join ROOM';
'room join' alone lists the pending invitations. 'room leave' stops your node
taking part at once; the owner's node rekeys without you when it hears of it.
<room> is a room's name or its ID (or the first 8+ digits of it); <peer> is an
onion address or a name from 'peer add --name'; - reads the text from
standard input. --follow keeps listing as messages arrive (Ctrl-C stops).

Burning. A message sent with --ttl D (1m to 365d: 10m, 24h, 7d) is destroyed on
every member's node D after it was sent, also on a node that was off then (it
burns when it starts). One sent with --burn-after-read is destroyed on each
member's node once that member has read it ('room read' shows it once, in
full); the author's own copy stays until its timer runs out (365d, or the
room's timer), so the author's node can still pass it to members not yet
reached. The owner may give the room a timer ('room create NAME --ttl D',
'room set-timer ROOM D|off'): every message written from then on burns within
D at the latest; a message may ask for less, not more. 'room read' says which
timer applies to each message and who set it: the author ('message') or the
owner ('room'). Burning erases the message from the data directory
(docs/storage.md); it cannot reach a screen, a copy made before, or a member
running other software.

Example:
  ghostwire room create ops --ttl 7d
  ghostwire room invite ops bob
  ghostwire room send ops "meet at noon"
  ghostwire room send ops "the door code is 4711" --burn-after-read --ttl 10m
  ghostwire room read ops --follow`,
		verbs: []*verb{
			nodeVerb("create", "room create <name> [--ttl D] [--data DIR] [--json]", func(fs *flag.FlagSet) {
				fs.StringVar(&createTTL, "ttl", "", "give the room a timer `D`: every message burns within D (1m to 365d, e.g. 10m, 24h, 7d)")
			}, func(e *env, call *verbCall) error { return roomCreate(e, call, createTTL) }),
			nodeVerb("set-timer", "room set-timer <room> <D>|off [--data DIR] [--json]", nil, roomSetTimer),
			nodeVerb("invite", "room invite <room> <peer> [--data DIR] [--json]", nil, roomInvite),
			nodeVerb("join", "room join [<room>] [--data DIR] [--json]", nil, roomJoin),
			nodeVerb("leave", "room leave <room> [--data DIR] [--json]", nil, roomLeave),
			nodeVerb("remove", "room remove <room> <peer> [--data DIR] [--json]", nil, roomRemove),
			nodeVerb("list", "room list [--data DIR] [--json]", nil, roomList),
			nodeVerb("members", "room members <room> [--data DIR] [--json]", nil, roomMembers),
			nodeVerb("send", "room send <room> <text>|- [--burn-after-read] [--ttl D] [--data DIR] [--json]", func(fs *flag.FlagSet) {
				fs.BoolVar(&burnAfterRead, "burn-after-read", false, "destroy each member's copy once that member has read it")
				fs.StringVar(&ttl, "ttl", "", "destroy the message `D` after sending it, everywhere (1m to 365d, at most the room's timer)")
			}, func(e *env, call *verbCall) error { return roomSend(e, call, burnAfterRead, ttl) }),
			nodeVerb("read", "room read <room> [--follow] [--data DIR] [--json]", func(fs *flag.FlagSet) {
				fs.BoolVar(&follow, "follow", false, "keep listing new messages")
			}, func(e *env, call *verbCall) error { return roomRead(e, call, follow) }),
		},
	}
}

// roomArgs checks a verb's positional arguments against their names.
func roomArgs(call *verbCall, verb string, names ...string) error {
	if len(call.args) == len(names) {
		return nil
	}
	want := "<" + strings.Join(names, "> <") + ">"
	return fail(exitUsage, fmt.Errorf("room %s takes %s, got %d arguments", verb, want, len(call.args)),
		fmt.Sprintf("e.g. ghostwire room %s %s; 'ghostwire room list' shows your rooms", verb, want))
}

func roomCreate(e *env, call *verbCall, ttl string) error {
	if err := roomArgs(call, "create", "name"); err != nil {
		return err
	}
	if err := checkUTF8("the room name", call.args[0]); err != nil {
		return err
	}
	if err := checkTTLFlag(ttl); err != nil {
		return err
	}
	return roomDo(e, call, func(ctx context.Context) (*apitype.Room, error) { return call.api.CreateRoom(ctx, call.args[0], ttl) })
}

// roomSetTimer sets or clears a room's timer (the owner's rekey).
func roomSetTimer(e *env, call *verbCall) error {
	if err := roomArgs(call, "set-timer", "room", "D|off"); err != nil {
		return err
	}
	if d := call.args[1]; d != "off" {
		if err := checkTTLFlag(d); err != nil {
			return err
		}
	}
	return roomDo(e, call, func(ctx context.Context) (*apitype.Room, error) {
		return call.api.SetRoomTimer(ctx, call.args[0], call.args[1])
	})
}

// checkTTLFlag checks a timer the user typed before the node is asked, so
// a typo is a usage error: a number and a unit, 1m to 365d.
func checkTTLFlag(ttl string) error {
	if ttl == "" {
		return nil
	}
	d, err := dm.ParseTTL(ttl)
	if err == nil && (d < dm.MinTTL || d > dm.MaxTTL) {
		err = fmt.Errorf("--ttl %s is outside the range 1m to 365d", ttl)
	}
	if err != nil {
		return fail(exitUsage, err, "give --ttl as a number and a unit from 1m to 365d: --ttl 10m, --ttl 24h, --ttl 7d")
	}
	return nil
}

func roomInvite(e *env, call *verbCall) error {
	if err := roomArgs(call, "invite", "room", "peer"); err != nil {
		return err
	}
	return roomDo(e, call, func(ctx context.Context) (*apitype.Room, error) {
		return call.api.InviteToRoom(ctx, call.args[0], call.args[1])
	})
}

func roomRemove(e *env, call *verbCall) error {
	if err := roomArgs(call, "remove", "room", "peer"); err != nil {
		return err
	}
	return roomDo(e, call, func(ctx context.Context) (*apitype.Room, error) {
		return call.api.RemoveFromRoom(ctx, call.args[0], call.args[1])
	})
}

func roomLeave(e *env, call *verbCall) error {
	if err := roomArgs(call, "leave", "room"); err != nil {
		return err
	}
	return roomDo(e, call, func(ctx context.Context) (*apitype.Room, error) { return call.api.LeaveRoom(ctx, call.args[0]) })
}

// roomJoin accepts an invitation, or without a room lists the pending ones.
func roomJoin(e *env, call *verbCall) error {
	if len(call.args) == 1 {
		return roomDo(e, call, func(ctx context.Context) (*apitype.Room, error) { return call.api.JoinRoom(ctx, call.args[0]) })
	}
	if len(call.args) > 1 {
		return roomArgs(call, "join", "room")
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	rooms, err := call.api.Rooms(ctx)
	if err != nil {
		return err
	}
	pending := []apitype.Room{}
	for _, r := range rooms {
		if r.Status == apitype.RoomPending {
			pending = append(pending, r)
		}
	}
	if call.asJSON {
		return printJSON(e, pending)
	}
	if len(pending) == 0 {
		printf(e.stderr, "ghostwire: no pending invitations\n")
		return nil
	}
	for i := range pending {
		printRoom(e, &pending[i])
	}
	printf(e.stderr, "ghostwire: hint: accept one with: ghostwire room join %s\n", pending[0].Name)
	return nil
}

// roomDo runs one call that answers a room, and prints it.
func roomDo(e *env, call *verbCall, fn func(ctx context.Context) (*apitype.Room, error)) error {
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	r, err := fn(ctx)
	if err != nil {
		return err
	}
	if call.asJSON {
		return printJSON(e, r)
	}
	printRoom(e, r)
	return nil
}

func roomList(e *env, call *verbCall) error {
	if err := roomArgs(call, "list"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	rooms, err := call.api.Rooms(ctx)
	if err != nil {
		return err
	}
	if call.asJSON {
		return printJSON(e, rooms)
	}
	for i := range rooms {
		printRoom(e, &rooms[i])
	}
	return nil
}

func printRoom(e *env, r *apitype.Room) {
	changed := "-"
	if r.KeyChanged != nil {
		changed = r.KeyChanged.Local().Format("2006-01-02 15:04:05")
	}
	timer := ""
	if r.Timer != "" {
		timer = "  timer " + r.Timer
	}
	printf(e.stdout, "%s  %-20s %-8s %3d members  epoch %d (key changed %s)  owner %s%s\n",
		r.ID[:16], r.Name, r.Status, r.Members, r.Epoch, changed, shortID(r.Owner), timer)
}

func roomMembers(e *env, call *verbCall) error {
	if err := roomArgs(call, "members", "room"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	m, err := call.api.RoomMembers(ctx, call.args[0])
	if err != nil {
		return err
	}
	if call.asJSON {
		return printJSON(e, m)
	}
	printRoom(e, &m.Room)
	for _, p := range m.Members {
		var notes []string
		if p.Owner {
			notes = append(notes, "owner")
		}
		if p.Me {
			notes = append(notes, "you")
		}
		if !p.Joined {
			notes = append(notes, "invited")
		}
		if p.Leaving {
			notes = append(notes, "leaving (the owner has not rekeyed yet)")
		}
		name := p.Name
		if name == "" {
			name = shortID(p.Peer)
		}
		printf(e.stdout, "  %-16s %s  %s\n", name, p.Peer, strings.Join(notes, ", "))
	}
	for _, p := range m.Removed {
		printf(e.stdout, "  removed at the last rekey: %s\n", p)
	}
	return nil
}

func roomSend(e *env, call *verbCall, burnAfterRead bool, ttl string) error {
	if len(call.args) != 2 {
		return fail(exitUsage, fmt.Errorf("room send takes a room and the text, got %d arguments", len(call.args)),
			`quote the text: ghostwire room send ops "hello there", or pass - to read it from standard input`)
	}
	text := call.args[1]
	if text == "-" {
		b, err := io.ReadAll(io.LimitReader(e.stdin, room.MaxText+1))
		if err != nil {
			return err
		}
		text = strings.TrimRight(string(b), "\n")
	}
	if err := checkUTF8("the message", text); err != nil {
		return err
	}
	if err := checkTTLFlag(ttl); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	m, err := call.api.SendToRoom(ctx, call.args[0], text, burnAfterRead, ttl)
	if err != nil {
		return err
	}
	if call.asJSON {
		return printJSON(e, m)
	}
	printf(e.stdout, "%s epoch %d%s\n", m.ID, m.Epoch, roomBurnNote(m))
	return nil
}

func roomRead(e *env, call *verbCall, follow bool) error {
	if err := roomArgs(call, "read", "room"); err != nil {
		return err
	}
	show := func(m *apitype.RoomMessage) error {
		if !call.asJSON {
			printRoomMessage(e, m)
			return nil
		}
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, string(b)) // terminal:exact --json is exact, for scripts
		return nil
	}
	if follow {
		return call.api.FollowRoom(e.ctx, call.args[0], show)
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	msgs, err := call.api.RoomMessages(ctx, call.args[0])
	if err != nil {
		return err
	}
	if call.asJSON {
		return printJSON(e, msgs)
	}
	for i := range msgs {
		printRoomMessage(e, &msgs[i])
	}
	return nil
}

// printRoomMessage prints one line; the author's name and the text are a
// peer's, so they go through printf's neutralising.
func printRoomMessage(e *env, m *apitype.RoomMessage) {
	who := m.Name
	if who == "" {
		who = shortID(m.Author)
	}
	if m.Mine {
		who = "you"
	}
	text := m.Text
	if m.Sealed {
		text = fmt.Sprintf("[sealed under epoch %d: this node holds no key for it]", m.Epoch)
	}
	printf(e.stdout, "%s %-10s %s%s\n", m.Created.Local().Format("2006-01-02 15:04:05"), who, text, roomBurnNote(m))
}

// roomBurnNote says how a room message burns, which timer applies and who
// set it: "  [burns at 2026-12-03 16:10 (ttl 10m, the room's, set by
// abcd…wxyz)]".
func roomBurnNote(m *apitype.RoomMessage) string {
	b := m.Burn
	if b == nil {
		return ""
	}
	whose := "the message's own"
	if b.Source == apitype.TimerRoom {
		whose = "the room's"
	}
	by := shortID(b.SetBy)
	if b.SetBy == m.Author && m.Mine {
		by = "you"
	}
	at := b.Deadline.Local().Format("2006-01-02 15:04")
	if b.AfterRead {
		return fmt.Sprintf("  [burns after reading or at %s (ttl %s, %s, set by %s)]", at, b.TTL, whose, by)
	}
	return fmt.Sprintf("  [burns at %s (ttl %s, %s, set by %s)]", at, b.TTL, whose, by)
}
