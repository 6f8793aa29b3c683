package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ghostwire/ghostwire/localapi/apitype"
)

// pairWaitLimit bounds how long `ghostwire pair` waits for its answers: a
// code lives 2 minutes, and a join takes a few seconds more.
const pairWaitLimit = 3 * time.Minute

func pairCommand() *command {
	return &command{
		name:    "pair",
		summary: "pair with a device on the same LAN by a 6-digit code (LAN mode)",
		usage: `Usage: ghostwire pair [--as NAME] [--data DIR] [--json]
       ghostwire pair <code> [--as NAME] [--name N] [--data DIR] [--json]

Pairs two devices on one local network, both running 'ghostwire run --lan'.
On one, 'ghostwire pair' shows a code such as 47-382915 and waits (at most
2 minutes). On the other, type it: 'ghostwire pair 47-382915'. The first two
digits only say which attempt to join and are sent on the network; the six
after the dash never leave the two devices. Each code allows 3 tries; a
wrong one fails on both devices, and after 3 the code is dead.

Both devices then hold each other as contacts and sync at once. Both print
the same safety number: compare it on the two screens to be sure no one
stood between them.

--as NAME is what the other device will call you; --name N (joining side)
is what you call it, else the name it gave.

Example:
  ghostwire pair --as alice                 # shows 47-382915
  ghostwire pair 47-382915 --as bob         # on the other device`,
		run: runPair,
	}
}

func runPair(e *env, c *command, args []string) error {
	fs := newFlags(c)
	data := dataDirFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON (one object per line: the code, then the result)")
	as := fs.String("as", "", "the `NAME` the other device will call you")
	name := fs.String("name", "", "joining: a local `name` for the other device (default: the name it gave)")
	var pos []string
	for rest := args; ; {
		if err := parse(e, c, fs, rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(pos) > 1 {
		return usageError("pair takes at most one code")
	}
	if len(pos) == 0 && *name != "" {
		return usageError("--name is for the joining side (pair <code>); the showing side keeps the name the other device gives")
	}
	for what, s := range map[string]string{"--as": *as, "--name": *name} {
		if err := checkUTF8(what, s); err != nil {
			return err
		}
	}
	api, err := dataAPIClient(*data)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(e.ctx, pairWaitLimit)
	defer cancel()
	var res *apitype.PairResult
	if len(pos) == 1 {
		printf(e.stderr, "ghostwire: looking for the code on the network…\n")
		if res, err = api.JoinPairing(ctx, pos[0], *as, *name); err != nil {
			return err
		}
	} else {
		o, err := api.OfferPairing(ctx, *as)
		if err != nil {
			return err
		}
		if *asJSON {
			if err := printJSON(e, o); err != nil {
				return err
			}
		} else {
			printf(e.stdout, "%s\n", o.Code)
			printf(e.stderr, "ghostwire: type this code on the other device: ghostwire pair %s\nghostwire: it works until %s (3 tries)\n", o.Code, o.Expires.Local().Format("15:04:05"))
		}
		if res, err = api.WaitPairing(ctx); err != nil {
			return err
		}
	}
	if *asJSON {
		return printJSON(e, res)
	}
	who := res.Peer.Name
	if who == "" {
		who = "(no name)"
	}
	printf(e.stdout, "paired      %s %s\nsafety      %s\n", who, res.Peer.Onion, res.SafetyNumber)
	fmt.Fprintln(e.stderr, "ghostwire: check that the other device shows the same safety number")
	return nil
}
