package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"

	"github.com/ghostwire/ghostwire/identity"
)

func peerCommand() *command {
	var name string
	var good, bad bool
	return &command{
		name:    "peer",
		summary: "add, list and remove the peers this node talks to",
		usage: `Peers are identified by their onion address. Add each other on both sides:
only known peers get a session. The node must be running ('ghostwire run').
Removing a peer ends its session; stored messages are kept. rate signs your
verdict on a source (any author, not only a peer); it travels to every peer and
feeds trust ('ghostwire trust show'). You cannot rate yourself.

Example:
  ghostwire peer add 25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion --name bob
  ghostwire peer rate bob --good`,
		verbs: []*verb{
			nodeVerb("add", "peer add <onion> [--name N] [--data DIR] [--json]", func(fs *flag.FlagSet) {
				fs.StringVar(&name, "name", "", "a local `name` for the peer")
			}, func(e *env, call *verbCall) error { return peerAdd(e, call, name) }),
			nodeVerb("list", "peer list [--data DIR] [--json]", nil, peerList),
			nodeVerb("remove", "peer remove <onion|name> [--data DIR]", nil, peerRemove),
			nodeVerb("rate", "peer rate <onion|name> --good|--bad [--data DIR] [--json]", rateFlags(&good, &bad),
				func(e *env, call *verbCall) error { return peerRate(e, call, good, bad) }),
		},
	}
}

func jsonEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc
}

func peerAdd(e *env, call *verbCall, name string) error {
	pos, api := call.args, call.api
	if len(pos) != 1 {
		return usageError("peer add takes one onion address")
	}
	if _, err := identity.ParseID(pos[0]); err != nil {
		return fail(exitUsage, err, "an address is 56 letters and digits 2-7, optionally followed by .onion")
	}
	if err := checkUTF8("the name", name); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	p, err := api.AddPeer(ctx, pos[0], name)
	if err != nil {
		return err
	}
	if call.asJSON {
		return printJSON(e, p)
	}
	printf(e.stdout, "added %s %s\n", p.Onion, p.Name)
	return nil
}

func peerList(e *env, call *verbCall) error {
	if len(call.args) != 0 {
		return usageError("peer list takes no arguments")
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	ps, err := call.api.Peers(ctx)
	if err != nil {
		return err
	}
	if call.asJSON {
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
		printf(e.stdout, "%-12s %s  %s, %s\n", p.Name, p.Onion, state, sync)
	}
	return nil
}

func peerRemove(e *env, call *verbCall) error {
	pos := call.args
	if len(pos) != 1 {
		return usageError("peer remove takes one onion address or name")
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	if err := call.api.RemovePeer(ctx, pos[0]); err != nil {
		return err
	}
	printf(e.stderr, "ghostwire: removed %s\n", pos[0])
	return nil
}
