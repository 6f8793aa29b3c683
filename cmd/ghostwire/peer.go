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

// verb splits `<noun> <verb> args…` and checks the verb.
func verb(c *command, args []string, verbs ...string) (string, []string, error) {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		return "", args, nil
	}
	for _, v := range verbs {
		if args[0] == v {
			return v, args[1:], nil
		}
	}
	return "", nil, fail(exitUsage, fmt.Errorf("unknown %s verb %q", c.name, args[0]),
		fmt.Sprintf("the verbs are: %v; see 'ghostwire %s --help'", verbs, c.name))
}

func runPeer(e *env, args []string) error {
	c := commands["peer"]
	v, rest, err := verb(c, args, "add", "list", "remove")
	if err != nil {
		return err
	}
	fs := newFlags(e, c)
	data := dataDirFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	name := fs.String("name", "", "a local `name` for the peer (add)")
	if v == "" {
		if len(rest) == 0 {
			printUsage(e.stderr, c, fs)
			return usageError("peer needs a verb: add, list or remove")
		}
		return parse(e, c, fs, rest)
	}
	pos, err := parseInterleaved(e, c, fs, rest)
	if err != nil {
		return err
	}
	path, err := resolveDataDir(*data)
	if err != nil {
		return err
	}
	api := newAPIClient(path)
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	switch v {
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

// parseInterleaved parses flags that may come before or after positional
// arguments, as `peer add ADDR --name bob` reads naturally.
func parseInterleaved(e *env, c *command, fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parse(e, c, fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
