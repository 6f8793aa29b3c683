package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/node"
)

func init() {
	register(&command{
		name:    "peer",
		summary: "add, list and remove the peers this node talks to",
		usage: `Usage: ghostwire peer add <onion> [--name N] [--data DIR] [--json]
       ghostwire peer list [--data DIR] [--json]
       ghostwire peer remove <onion|name> [--data DIR]

Peers are identified by their onion address. Add each other on both sides:
only known peers get a session. The node must be running ('ghostwire run').
Removing a peer ends its session; stored messages are kept.

Example:
  ghostwire peer add 25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion --name bob`,
		run: runPeer,
	})
}

func jsonEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc
}

func runPeer(e *env, args []string) error {
	var name *string
	call, err := parseVerb(e, commands["peer"], args, []string{"add", "list", "remove"}, func(fs *flag.FlagSet) {
		name = fs.String("name", "", "a local `name` for the peer")
	}, map[string]string{"name": "add"})
	if err != nil {
		return err
	}
	pos, api, asJSON := call.args, call.api, &call.asJSON
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	switch call.verb {
	case "add":
		if len(pos) != 1 {
			return usageError("peer add takes one onion address")
		}
		if _, err := identity.ParseID(pos[0]); err != nil {
			return fail(exitUsage, err, "an address is 56 letters and digits 2-7, optionally followed by .onion")
		}
		var p node.Peer
		if err := api.do(ctx, "POST", "/v1/peers", map[string]string{"onion": pos[0], "name": *name}, &p); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e, p)
		}
		fmt.Fprintf(e.stdout, "added %s %s\n", p.Onion, p.Name)
	case "list":
		if len(pos) != 0 {
			return usageError("peer list takes no arguments")
		}
		var ps []node.Peer
		if err := api.do(ctx, "GET", "/v1/peers", nil, &ps); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e, ps)
		}
		for _, p := range ps {
			state := "offline"
			if p.Connected {
				state = "connected"
			}
			sync := "never synced"
			if p.LastSync != nil {
				sync = "synced " + p.LastSync.Format("2006-01-02 15:04:05Z")
			}
			fmt.Fprintf(e.stdout, "%-12s %s  %s, %s\n", p.Name, p.Onion, state, sync)
		}
	case "remove":
		if len(pos) != 1 {
			return usageError("peer remove takes one onion address or name")
		}
		if err := api.do(ctx, "DELETE", "/v1/peers/"+url.PathEscape(pos[0]), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "ghostwire: removed %s\n", pos[0])
	}
	return nil
}
