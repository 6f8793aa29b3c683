package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/ghostwire/ghostwire/cloak"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/lan"
	"github.com/ghostwire/ghostwire/localapi"
	"github.com/ghostwire/ghostwire/node"
	"github.com/ghostwire/ghostwire/onion"
	"github.com/ghostwire/ghostwire/onion/testnet"
	"github.com/ghostwire/ghostwire/store"
)

func runNodeCommand() *command {
	return &command{
		name:    "run",
		summary: "run the node: tor, the onion service, peers, sync, the local API",
		usage: `Usage: ghostwire run [--data DIR] [--passphrase-file FILE] [--testnet DIR | --tor-control ADDR | --lan [--interface IF] [--listen ADDR:PORT]] [--log-level L]

Starts the node in the foreground: unlocks the identity, opens the store,
starts its own tor (or joins the private network in --testnet DIR, or attaches
to a running tor's control port), publishes the onion service, accepts peers,
dials known peers and syncs. Progress and logs go to stderr; the local API is
DIR/api.sock (mode 0600; see docs/api.md). SIGINT or SIGTERM stops it cleanly.
Nothing ever leaves except through tor: if tor is down the node waits and says so.
With --lan there is no tor at all: the node talks to known peers on the local
network only, found by private mDNS adverts on one interface (docs/lan.md).

Example:
  ghostwire testnet up --dir /tmp/gwnet
  ghostwire run --data ~/gw --testnet /tmp/gwnet`,
		run: runNode,
	}
}

func statusCommand() *command {
	return &command{
		name:    "status",
		summary: "show the running node's state: tor, reachability, peers, items",
		usage: `Usage: ghostwire status [--data DIR] [--json]

Asks the running node (through DIR/api.sock) for its state.

Example:
  ghostwire status --data ~/gw --json`,
		run: runStatus,
	}
}

func runNode(e *env, c *command, args []string) error {
	fs := newFlags(c)
	data := dataDirFlag(fs)
	passFile := fs.String("passphrase-file", "", "read the passphrase from the first line of `FILE` (- for standard input)")
	tn := fs.String("testnet", "", "join the private Tor network in `DIR` (see 'ghostwire testnet up')")
	ctl := fs.String("tor-control", "", "attach to a running tor's control port `ADDR` (loopback only)")
	lanMode := fs.Bool("lan", false, "LAN mode: no tor; direct TCP to known peers found by mDNS on the local network")
	iface := fs.String("interface", "", "with --lan: the network interface `IF` to use (default: the only one with a private address)")
	listen := fs.String("listen", "", "with --lan: accept peers on `ADDR:PORT` (default: the interface's address, any port)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := parse(e, c, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError("run takes no arguments, got %q", fs.Args())
	}
	if *tn != "" && *ctl != "" {
		return usageError("--testnet and --tor-control cannot be used together")
	}
	if *lanMode && (*tn != "" || *ctl != "") {
		return usageError("--lan runs without tor; it cannot be used with --testnet or --tor-control")
	}
	if !*lanMode && (*iface != "" || *listen != "") {
		return usageError("--interface and --listen are for LAN mode; add --lan")
	}
	var listenAddr netip.AddrPort
	if *listen != "" {
		var err error
		if listenAddr, err = netip.ParseAddrPort(*listen); err != nil {
			return usageError("--listen: want ADDR:PORT, such as 192.168.1.20:7700: %v", err)
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageError("--log-level: %v", err)
	}
	path, err := resolveDataDir(*data)
	if err != nil {
		return err
	}
	d := dataDir{path}
	secrets, err := d.unlock(e, *passFile)
	if err != nil {
		return err
	}
	defer secrets.Destroy()
	unlock, err := d.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(store.MemoryLimit)
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	keyring, err := d.openKeyring(secrets)
	if err != nil {
		return err
	}
	db, err := d.openStore(secrets)
	if err != nil {
		return err
	}
	// The store closes last, after every session has stopped.
	defer db.Close()

	var n *node.Node
	mode, reachable := cloak.ModeTor, fmt.Sprintf("ghostwire: reachable at %s\n", secrets.Key.ID())
	var tr cloak.Transport
	if *lanMode {
		lt, err := lan.New(lan.Config{Interface: *iface, Listen: listenAddr, Logger: log,
			Peers: func() []identity.ID { return knownPeers(n) }})
		if err != nil {
			return fail(exitUnavailable, err)
		}
		mode, tr = cloak.ModeLAN, lt
		reachable = fmt.Sprintf("ghostwire: LAN mode on %s; advertising to known peers\n", lt.Interface())
	} else {
		tor, err := startTor(e, log, path, *tn, *ctl)
		if err != nil {
			return err
		}
		tr = onion.NewTransport(tor)
	}
	n, err = node.New(node.Config{
		Secrets: secrets, Keyring: keyring, Store: db, Mode: mode, Transport: tr,
		Logger:      log,
		OnReachable: func() { fmt.Fprint(e.stderr, reachable) },
	})
	if err != nil {
		tr.Close()
		return fail(exitFailure, err)
	}
	sock := filepath.Join(path, "api.sock")
	api, err := localapi.Listen(sock)
	if err != nil {
		tr.Close()
		return fail(exitFailure, err)
	}
	fmt.Fprintf(e.stderr, "ghostwire: node %s starting; local API at %s\n", secrets.Key.ID(), sock)
	if err := localapi.RunNode(e.ctx, n, api, log); err != nil {
		return fail(exitFailure, err)
	}
	fmt.Fprintln(e.stderr, "ghostwire: stopped")
	return nil
}

// startTor starts (or attaches to) the tor Tor mode runs on.
func startTor(e *env, log *slog.Logger, path, tn, ctl string) (*onion.Tor, error) {
	torCfg := onion.Config{Logger: log, Progress: func(p onion.Progress) {
		line := fmt.Sprintf("ghostwire: tor: bootstrapped %d%%: %s", p.Percent, p.Summary)
		if p.Warning != "" {
			line += " (warning: " + p.Warning + ")"
		}
		fmt.Fprintln(e.stderr, line)
	}}
	switch {
	case ctl != "":
		torCfg.ControlAddr = ctl
	case tn != "":
		nw, err := testnet.Load(tn)
		if err != nil {
			return nil, fail(exitUnavailable, err, "start one with 'ghostwire testnet up --dir "+tn+"'")
		}
		torCfg.DataDir = filepath.Join(path, "tor")
		torCfg.Torrc = nw.JoinTorrc()
	default:
		torCfg.DataDir = filepath.Join(path, "tor")
		torCfg.Torrc = onion.RealNetworkTorrc
	}
	tor, err := onion.Start(torCfg)
	if err != nil {
		return nil, fail(exitUnavailable, err, "is tor installed? (Debian: apt-get install tor)")
	}
	return tor, nil
}

// knownPeers is what LAN mode advertises to: the node's contacts. n is
// nil until node.New returns, and the transport asks only after Listen.
func knownPeers(n *node.Node) []identity.ID {
	if n == nil {
		return nil
	}
	ps, _ := n.Peers()
	ids := make([]identity.ID, 0, len(ps))
	for _, p := range ps {
		if id, err := identity.ParseID(p.Onion); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

func runStatus(e *env, c *command, args []string) error {
	fs := newFlags(c)
	data := dataDirFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(e, c, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError("status takes no arguments")
	}
	path, err := resolveDataDir(*data)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	st, err := newAPIClient(path).Status(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e, st)
	}
	reach := "no"
	if st.Transport.Reachable {
		reach = "yes"
	}
	transport := fmt.Sprintf("tor         %d%% %s", st.Transport.Progress, st.Transport.Phase)
	if st.Transport.Mode == cloak.ModeLAN.String() {
		transport = "lan         " + st.Transport.Phase // the interface, address and peers seen
	}
	fmt.Fprintf(e.stdout, "onion       %s\n%s\nreachable   %s\npeers       %d known, %d connected\nitems       %d held, %d queued\n",
		st.Onion, transport, reach, st.Peers, st.Connected, st.Items, st.Queued)
	if st.LastSync != nil {
		fmt.Fprintf(e.stdout, "last sync   %s (%s ago)\n", st.LastSync.Format(time.RFC3339), time.Since(*st.LastSync).Round(time.Second))
	} else {
		fmt.Fprintln(e.stdout, "last sync   never")
	}
	for _, f := range st.Full {
		where := "a pair or restricted scope"
		if f.Collection != "" {
			where = fmt.Sprintf("collection %s (%s)", f.Collection, f.Class)
		}
		fmt.Fprintf(e.stdout, "full        %s: %d items, the limit; it refuses new ones and keeps syncing\n", where, f.Limit)
	}
	if st.Transport.Warning != "" {
		fmt.Fprintf(e.stderr, "ghostwire: warning: tor: %s\n", st.Transport.Warning)
	}
	return nil
}

func printJSON(e *env, v any) error {
	enc := jsonEncoder(e.stdout)
	return enc.Encode(v)
}

// shortID is how a line of output names an identity: its short form, or
// the text as the node gave it when that is not an onion address (never a
// slice that could run past a short string).
func shortID(s string) string {
	if id, err := identity.ParseID(s); err == nil {
		return id.Short()
	}
	return s
}
