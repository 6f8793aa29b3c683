package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"

	"github.com/ghostwire/ghostwire/identity"
)

func peerCommand() *command {
	var name, lanAddr string
	var good, bad bool
	return &command{
		name:    "peer",
		summary: "add, list and remove the peers this node talks to",
		usage: `Peers are identified by their onion address. Add each other on both sides:
only known peers get a session. The node must be running ('ghostwire run').
Removing a peer ends its session; stored messages are kept. rate signs your
verdict on a source (any author, not only a peer); it travels to every peer and
feeds trust ('ghostwire trust show'). You cannot rate yourself.
In LAN mode, --lan ADDR:PORT says where to reach the peer when its advert is
not seen (a network that blocks multicast); 'ghostwire pair' needs no address.

Example:
  ghostwire peer add 25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion --name bob
  ghostwire peer add 25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion --lan 192.168.1.20:7700
  ghostwire peer rate bob --good`,
		verbs: []*verb{
			nodeVerb("add", "peer add <onion> [--name N] [--lan ADDR:PORT] [--data DIR] [--json]", func(fs *flag.FlagSet) {
				fs.StringVar(&name, "name", "", "a local `name` for the peer")
				fs.StringVar(&lanAddr, "lan", "", "LAN mode: where the peer listens, `ADDR:PORT`, for networks that block multicast")
			}, func(e *env, call *verbCall) error { return peerAdd(e, call, name, lanAddr) }),
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

func peerAdd(e *env, call *verbCall, name, lanAddr string) error {
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
	if lanAddr != "" {
		if _, err := netip.ParseAddrPort(lanAddr); err != nil {
			return fail(exitUsage, fmt.Errorf("--lan: %v", err), "give the peer's address and port on the LAN, such as 192.168.1.20:7700 (see its 'ghostwire status')")
		}
	}
	p, err := api.AddPeerAt(ctx, pos[0], name, lanAddr)
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
