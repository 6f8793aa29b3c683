package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/ghostwire/ghostwire/onion/testnet"
)

func testnetCommand() *command {
	var o testnetOpts
	return &command{
		name:    "testnet",
		summary: "run a private Tor network on 127.0.0.1 for tests and demos",
		usage: `up starts 4 directory authorities (and N client tors) on 127.0.0.1 with keys made
by tor-gencert, waits until the network is usable, and prints where it is; it
keeps running after the command exits. Nodes join it with 'ghostwire run
--testnet D'. down stops every tor it started (by PID) and removes D. A failed
start stops what it started. bench starts a fresh network, measures onion
publication and connections, prints the figures and removes it.
The default D is testnet/ in the default data directory (see --data), never a
shared /tmp path: a directory or file another user can write is refused.
Nothing listens beyond 127.0.0.1.

Example:
  ghostwire testnet up --dir /tmp/gwnet && ghostwire testnet status --dir /tmp/gwnet`,
		verbs: []*verb{
			o.verb("up", "testnet up [--dir D] [--clients N] [--bridge] [--json]", "dir", "clients", "bridge", "json"),
			o.verb("status", "testnet status [--dir D] [--json]", "dir", "json"),
			o.verb("down", "testnet down [--dir D]", "dir"),
			o.verb("bench", "testnet bench [--json]", "json"),
		},
	}
}

// testnetOpts holds the flags of every testnet verb, each defined once.
type testnetOpts struct {
	dir     string
	clients int
	bridge  bool
	asJSON  bool
}

func (o *testnetOpts) verb(name, synopsis string, flags ...string) *verb {
	return &verb{name: name, synopsis: synopsis,
		flags: func(fs *flag.FlagSet) {
			for _, f := range flags {
				switch f {
				case "dir":
					fs.StringVar(&o.dir, f, defaultTestnetDir(), "the network's `directory`")
				case "clients":
					fs.IntVar(&o.clients, f, 0, "client tors to start besides the authorities")
				case "bridge":
					fs.BoolVar(&o.bridge, f, false, "add an obfs4 bridge relay (needs obfs4proxy); 'testnet status' prints its bridge line for 'run --bridge'")
				case "json":
					fs.BoolVar(&o.asJSON, f, false, "print JSON")
				default:
					panic("bug: no testnet flag --" + f)
				}
			}
		},
		run: func(e *env, args []string) error { return runTestnet(e, name, args, o) },
	}
}

// defaultTestnetDir is under the user's own data directory, not /tmp: a
// node joining the network reads its files into its tor's configuration, so
// nobody else may be able to create or change them first.
func defaultTestnetDir() string {
	data, err := resolveDataDir("")
	if err != nil {
		return ""
	}
	return filepath.Join(data, "testnet")
}

func runTestnet(e *env, v string, args []string, o *testnetOpts) error {
	if len(args) != 0 {
		return usageError("testnet %s takes no arguments", v)
	}
	dir, clients, asJSON := &o.dir, &o.clients, &o.asJSON
	if v != "bench" && *dir == "" {
		return usageError("no home directory for the default network directory; pass --dir D")
	}
	progress := func(s string) { printf(e.stderr, "ghostwire: testnet: %s\n", s) }
	switch v {
	case "up":
		if *clients < 0 || *clients > 8 {
			return usageError("--clients must be 0 to 8")
		}
		if _, err := testnet.Load(*dir); errors.Is(err, testnet.ErrUntrustedDir) {
			return fail(exitPermission, err)
		} else if err == nil {
			return fail(exitExists, fmt.Errorf("a network already runs in %s", *dir),
				"use it, or stop it first with 'ghostwire testnet down --dir "+*dir+"'")
		}
		start := time.Now()
		nw, err := testnet.Start(e.ctx, testnet.Config{Dir: *dir, Clients: *clients, Bridge: o.bridge, Progress: progress})
		if err != nil {
			return fail(exitUnavailable, err, "is tor installed? (Debian: apt-get install tor); the log files are kept only on success")
		}
		if *asJSON {
			return printJSON(e, nw)
		}
		printf(e.stderr, "ghostwire: testnet: usable after %s\n", time.Since(start).Round(100*time.Millisecond))
		printf(e.stdout, "%s\n", nw.Dir)
	case "status":
		nw, err := testnet.Load(*dir)
		if err != nil {
			return fail(exitUnavailable, err, "start one with 'ghostwire testnet up --dir "+*dir+"'")
		}
		ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		defer cancel()
		st := nw.Status(ctx)
		if *asJSON {
			return printJSON(e, st)
		}
		for _, s := range st {
			state := "stopped"
			if s.Running {
				state = fmt.Sprintf("running, bootstrapped %d%%", s.Bootstrap)
			}
			printf(e.stdout, "%-10s %-9s pid %-7d control %s  %s\n", s.Name, s.Role, s.PID, s.ControlAddr(), state)
			if s.BridgeLine != "" {
				printf(e.stdout, "%-10s bridge line: %s\n", "", s.BridgeLine)
			}
		}
	case "down":
		nw, err := testnet.Load(*dir)
		if err != nil {
			return fail(exitUnavailable, err, "nothing to stop in "+*dir)
		}
		if err := nw.Stop(); err != nil {
			return fail(exitFailure, err)
		}
		printf(e.stderr, "ghostwire: testnet: stopped and removed %s\n", *dir)
	case "bench":
		res, err := testnet.Bench(e.ctx, testnet.Config{Progress: progress})
		if err != nil {
			return fail(exitUnavailable, err)
		}
		if *asJSON {
			return printJSON(e, res)
		}
		printf(e.stdout, "%-38s %10s   %s\n", "measure", "this run", "tor-testnet.md median")
		row := func(name string, d time.Duration, ref string) {
			printf(e.stdout, "%-38s %10s   %s\n", name, d.Round(time.Millisecond), ref)
		}
		row("network start → clients usable", res.Start.Total, "11–13 s")
		row("ADD_ONION → descriptor uploaded", res.Upload, "1.08 s")
		row("ADD_ONION → first connect", res.FirstConnect, "1.54 s")
		row("connect, reused circuit", res.ReusedConnect, "79 ms")
		row("connect, new circuit", res.NewConnect, "277 ms")
		row("round trip on an open stream", res.RoundTrip, "21 ms")
	}
	return nil
}
