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
	var peer string
	var follow bool
	return &command{
		name:    "msg",
		summary: "send and list direct messages",
		usage: `Direct messages are end-to-end encrypted to the peer (and to you) inside
signed items, so they stay private in storage and through sync. A message to an
offline peer waits and is delivered when it is next reachable. States:
queued → delivered (the peer stored it) → read (the peer listed it).
<peer> is an onion address or a name from 'peer add --name'; - reads the text
from standard input. --follow keeps listing as messages arrive (Ctrl-C stops).

Example:
  ghostwire msg send bob "meet at noon"
  ghostwire msg list --peer bob --follow`,
		verbs: []*verb{
			nodeVerb("send", "msg send <peer> <text>|- [--data DIR] [--json]", nil, msgSend),
			nodeVerb("list", "msg list [--peer P] [--follow] [--data DIR] [--json]", func(fs *flag.FlagSet) {
				fs.StringVar(&peer, "peer", "", "only messages with `P`")
				fs.BoolVar(&follow, "follow", false, "keep listing new messages and state changes")
			}, func(e *env, call *verbCall) error { return msgList(e, call, peer, follow) }),
		},
	}
}

func msgSend(e *env, call *verbCall) error {
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
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	m, err := call.api.SendMessage(ctx, pos[0], text)
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
	printf(e.stdout, "%s %s %-10s %-9s %s\n", m.Created.Local().Format("2006-01-02 15:04:05"), arrow, who, shownState(m), m.Text)
}
