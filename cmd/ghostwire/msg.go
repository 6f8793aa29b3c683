package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/ghostwire/ghostwire/dm"
	"github.com/ghostwire/ghostwire/node"
)

func msgCommand() *command {
	var peer, ttl string
	var follow, burnAfterRead bool
	return &command{
		name:    "msg",
		summary: "send and list direct messages",
		usage: `Direct messages are end-to-end encrypted to the peer (and to you) inside
signed items, so they stay private in storage and through sync. A message to an
offline peer waits and is delivered when it is next reachable. States:
queued → delivered (the peer stored it) → read (the peer listed it).
'msg read bob' is 'msg list --peer bob': either one reads the conversation, and
reading is what sends the read receipt.
<peer> is an onion address or a name from 'peer add --name'; - reads the text
from standard input. --follow keeps listing as messages arrive (Ctrl-C stops).

A message sent with --burn-after-read is destroyed once the peer has read it,
on the peer's node and then on yours; with --ttl D (1m to 365d: 10m, 24h, 7d)
it is destroyed D after it was sent, read or not, on both nodes. Both together:
whichever comes first. The timer is signed with the message, so both sides show
it and who set it. Burning erases it from the data directory (docs/storage.md),
not from a screen or a copy made before.

Example:
  ghostwire msg send bob "meet at noon"
  ghostwire msg send bob "the code is 4711" --burn-after-read --ttl 10m
  ghostwire msg list --peer bob --follow`,
		verbs: []*verb{
			nodeVerb("send", "msg send <peer> <text>|- [--burn-after-read] [--ttl D] [--data DIR] [--json]", func(fs *flag.FlagSet) {
				fs.BoolVar(&burnAfterRead, "burn-after-read", false, "destroy the message once the peer has read it")
				fs.StringVar(&ttl, "ttl", "", "destroy the message `D` after sending it (1m to 365d, e.g. 10m, 24h, 7d)")
			}, func(e *env, call *verbCall) error { return msgSend(e, call, burnAfterRead, ttl) }),
			nodeVerb("list", "msg list [--peer P] [--follow] [--data DIR] [--json]", func(fs *flag.FlagSet) {
				fs.StringVar(&peer, "peer", "", "only messages with `P`")
				fs.BoolVar(&follow, "follow", false, "keep listing new messages and state changes")
			}, func(e *env, call *verbCall) error { return msgList(e, call, peer, follow) }),
			nodeVerb("read", "msg read <peer> [--follow] [--data DIR] [--json]", func(fs *flag.FlagSet) {
				fs.BoolVar(&follow, "follow", false, "keep reading new messages as they arrive")
			}, func(e *env, call *verbCall) error {
				if len(call.args) != 1 {
					return fail(exitUsage, fmt.Errorf("msg read takes one peer, got %d arguments", len(call.args)),
						"name the conversation: ghostwire msg read bob")
				}
				return msgList(e, &verbCall{asJSON: call.asJSON, api: call.api}, call.args[0], follow)
			}),
		},
	}
}

func msgSend(e *env, call *verbCall, burnAfterRead bool, ttl string) error {
	pos := call.args
	if len(pos) != 2 {
		return fail(exitUsage, fmt.Errorf("msg send takes a peer and the text, got %d arguments", len(pos)),
			`quote the text: ghostwire msg send bob "hello there", or pass - to read it from standard input`)
	}
	text := pos[1]
	if text == "-" {
		b, err := io.ReadAll(io.LimitReader(e.stdin, dm.MaxMessageText+1))
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
	m, err := call.api.SendBurning(ctx, pos[0], text, burnAfterRead, ttl)
	if err != nil {
		return err
	}
	if call.asJSON {
		return printJSON(e, m)
	}
	printf(e.stdout, "%s %s\n", m.ID, m.State)
	return nil
}

func msgList(e *env, call *verbCall, peer string, follow bool) error {
	if len(call.args) != 0 {
		return usageError("msg list takes no arguments (use --peer P)")
	}
	api := call.api
	if follow {
		return api.FollowMessages(e.ctx, peer, func(m *node.Message) error {
			if call.asJSON {
				b, err := json.Marshal(m)
				if err != nil {
					return err
				}
				fmt.Fprintln(e.stdout, string(b)) // terminal:exact --json is exact, for scripts
				return nil
			}
			printMessage(e, m)
			return nil
		})
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	ms, err := api.Messages(ctx, peer)
	if err != nil {
		return err
	}
	if call.asJSON {
		return printJSON(e, ms)
	}
	for i := range ms {
		printMessage(e, &ms[i])
	}
	return nil
}

func printMessage(e *env, m *node.Message) {
	who := m.PeerName
	if who == "" {
		who = shortID(m.Peer)
	}
	arrow := "→"
	if m.Direction == "in" {
		arrow = "←"
	}
	text := m.Text
	if m.Unreadable {
		text = "[unreadable: sealed to an encryption key this node destroyed after rotation]"
	}
	printf(e.stdout, "%s %s %-10s %-9s %s%s\n", m.Created.Local().Format("2006-01-02 15:04:05"), arrow, who, shownState(m), text, burnNote(m, who))
}

// burnNote says how a message burns and who set its timer (the author):
// "  [burns after reading or at 2026-12-03 16:10, set by you]".
func burnNote(m *node.Message, peerName string) string {
	b := m.Burn
	if b == nil {
		return ""
	}
	by := "you"
	if b.SetBy == m.Peer {
		by = peerName
	}
	at := b.Deadline.Local().Format("2006-01-02 15:04")
	if b.AfterRead {
		return fmt.Sprintf("  [burns after reading or at %s, set by %s]", at, by)
	}
	return fmt.Sprintf("  [burns at %s (ttl %s), set by %s]", at, b.TTL, by)
}
