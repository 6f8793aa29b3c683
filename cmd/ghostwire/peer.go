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
	var name, lanAddr, acceptName, safety string
	var good, bad bool
	return &command{
		name:    "peer",
		summary: "add, verify, block and list the peers this node talks to; answer contact requests",
		usage: `Peers are identified by their onion address. Add each other on both sides:
only known peers get a session. The node must be running ('ghostwire run').
Removing a peer ends its session; stored messages are kept. rate signs your
verdict on a source (any author, not only a peer); it travels to every peer and
feeds trust ('ghostwire trust show'). You cannot rate yourself.
In LAN mode, --lan ADDR:PORT says where to reach the peer when its advert is
not seen (a network that blocks multicast); 'ghostwire pair' needs no address.

A peer is unverified when added. Compare the safety number with the peer out
of band (in person, or on a call you trust), then 'peer verify' it: verified
peers get the larger quotas and are the sources reputation starts from.
'peer block' refuses a peer at every handshake, in both directions; its
stored messages stay. A peer that added you before you added it appears in
'peer requests' with its safety number: accept it, or ignore it (its
redials then make no new request). docs/trust.md says what each reveals.

Example:
  ghostwire peer add 25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion --name bob
  ghostwire peer add 25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion --lan 192.168.1.20:7700
  ghostwire peer verify bob      (shows the number and asks you to confirm)
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
			nodeVerb("verify", "peer verify <onion|name> [--safety-number N] [--data DIR] [--json]", func(fs *flag.FlagSet) {
				fs.StringVar(&safety, "safety-number", "", "the `number` the peer read you; without it the command shows the number and asks on the terminal")
			}, func(e *env, call *verbCall) error { return peerVerify(e, call, safety) }),
			nodeVerb("block", "peer block <onion|name> [--data DIR] [--json]", nil, peerBlock),
			nodeVerb("unblock", "peer unblock <onion|name> [--data DIR] [--json]", nil, peerUnblock),
			nodeVerb("requests", "peer requests [--data DIR] [--json]", nil, peerRequests),
			nodeVerb("accept", "peer accept <onion> [--name N] [--data DIR] [--json]", func(fs *flag.FlagSet) {
				fs.StringVar(&acceptName, "name", "", "a local `name` for the peer")
			}, func(e *env, call *verbCall) error { return peerAccept(e, call, acceptName) }),
			nodeVerb("ignore", "peer ignore <onion> [--data DIR]", nil, peerIgnore),
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
		printf(e.stdout, "%-12s %s  %-10s %s, %s\n", p.Name, p.Onion, p.State, state, sync)
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
