package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/ghostwire/ghostwire/dm"
)

func init() {
	register(&command{
		name:    "msg",
		summary: "send and list direct messages",
		usage: `Usage: ghostwire msg send <peer> <text>|- [--data DIR] [--json]
       ghostwire msg list [--peer P] [--follow] [--data DIR] [--json]

Direct messages are end-to-end encrypted to the peer (and to you) inside
signed items, so they stay private in storage and through sync. A message to an
offline peer waits and is delivered when it is next reachable. States:
queued → delivered (the peer stored it) → read (the peer listed it).
<peer> is an onion address or a name from 'peer add --name'; - reads the text
from standard input. --follow keeps listing as messages arrive (Ctrl-C stops).

Example:
  ghostwire msg send bob "meet at noon"
  ghostwire msg list --peer bob --follow`,
		run: runMsg,
	})
}

func runMsg(e *env, args []string) error {
	var peer *string
	var follow *bool
	call, err := parseVerb(e, commands["msg"], args, []string{"send", "list"}, func(fs *flag.FlagSet) {
		peer = fs.String("peer", "", "only messages with `P`")
		follow = fs.Bool("follow", false, "keep listing new messages and state changes")
	}, map[string]string{"peer": "list", "follow": "list"})
	if err != nil {
		return err
	}
	pos, api, asJSON := call.args, call.api, &call.asJSON
	switch call.verb {
	case "send":
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
		ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
		defer cancel()
		var m dm.Message
		if err := api.do(ctx, "POST", "/v1/messages", map[string]string{"peer": pos[0], "text": text}, &m); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e, m)
		}
		fmt.Fprintf(e.stdout, "%s %s\n", m.ID, m.State)
	case "list":
		if len(pos) != 0 {
			return usageError("msg list takes no arguments (use --peer P)")
		}
		if *follow {
			return api.stream(e.ctx, "/v1/messages"+query("peer", *peer, "follow", "1"), func(raw json.RawMessage) error {
				if *asJSON {
					fmt.Fprintln(e.stdout, string(raw))
					return nil
				}
				var m dm.Message
				if err := json.Unmarshal(raw, &m); err != nil {
					return err
				}
				printMessage(e, &m)
				return nil
			})
		}
		ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
		defer cancel()
		var ms []dm.Message
		if err := api.do(ctx, "GET", "/v1/messages"+query("peer", *peer), nil, &ms); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e, ms)
		}
		for i := range ms {
			printMessage(e, &ms[i])
		}
	}
	return nil
}

func printMessage(e *env, m *dm.Message) {
	who := m.PeerName
	if who == "" {
		who = shortID(m.Peer)
	}
	arrow := "→"
	if m.Direction == "in" {
		arrow = "←"
	}
	fmt.Fprintf(e.stdout, "%s %s %-10s %-9s %s\n", m.Created.Local().Format("2006-01-02 15:04:05"), arrow, who, m.State, m.Text)
}
