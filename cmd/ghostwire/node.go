package main

import (
	"context"
	"errors"
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
	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/node"
	"github.com/ghostwire/ghostwire/onion"
	"github.com/ghostwire/ghostwire/onion/testnet"
	"github.com/ghostwire/ghostwire/store"
)

func runNodeCommand() *command {
	return &command{
		name:    "run",
		summary: "run the node: tor, the onion service, peers, sync, the local API",
		usage: `Usage: ghostwire run [--data DIR] [--passphrase-file FILE] [--testnet DIR | --tor-control ADDR [--tor-cookie FILE] [--tor-password-file FILE] | --lan [--interface IF] [--listen ADDR:PORT]] [--bridge LINE]... [--bridges-file FILE] [--only-peers] [--log-level L]

Starts the node in the foreground: unlocks the identity, opens the store,
starts its own tor (or joins the private network in --testnet DIR, or attaches
to a running tor's control port), publishes the onion service, accepts peers,
dials known peers and syncs. Progress and logs go to stderr; the local API is
DIR/api.sock (mode 0600; see docs/api.md). SIGINT or SIGTERM stops it cleanly.
Nothing ever leaves except through tor: if tor is down the node waits and says so.
With --tor-control the node authenticates only with SAFECOOKIE, reading a
cookie whose place and owner it has checked, or with a control password from
--tor-password-file; it refuses a tor that would merge peers' circuits.
With --bridge or --bridges-file the managed tor reaches the network only
through those bridges (obfs4 through obfs4proxy), and is kept off the network
until they are set, so it never contacts a public directory first. With
--only-peers the onion service is published with tor's client authorisation
for the current peers: nobody else can even fetch its descriptor.
See docs/tor.md for what tor's control and SOCKS ports reveal.
With --lan there is no tor at all: the node talks to known peers on the local
network only, found by private mDNS adverts on one interface (docs/lan.md).

Example:
  ghostwire testnet up --dir /tmp/gwnet
  ghostwire run --data ~/gw --testnet /tmp/gwnet
  ghostwire run --data ~/gw --tor-control unix:/run/tor/control
  ghostwire run --data ~/gw --bridges-file ~/bridges.txt --only-peers`,
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
	ctl := fs.String("tor-control", "", "attach to a running tor's control port `ADDR`: unix:/run/tor/control or 127.0.0.1:9051")
	cookie := fs.String("tor-cookie", "", "with --tor-control: the control cookie `FILE` tor must use (default: beside a unix: socket, or in /run/tor or /var/lib/tor)")
	ctlPassFile := fs.String("tor-password-file", "", "with --tor-control: read tor's control password from the first line of `FILE`")
	lanMode := fs.Bool("lan", false, "LAN mode: no tor; direct TCP to known peers found by mDNS on the local network")
	iface := fs.String("interface", "", "with --lan: the network interface `IF` to use (default: the only one with a private address)")
	listen := fs.String("listen", "", "with --lan: accept peers on `ADDR:PORT` (default: the interface's address, any port)")
	var bridgeLines []string
	fs.Func("bridge", "reach tor only through this bridge `LINE` (\"obfs4 IP:PORT FINGERPRINT cert=… iat-mode=0\"); repeatable", func(s string) error {
		bridgeLines = append(bridgeLines, s)
		return nil
	})
	bridgesFile := fs.String("bridges-file", "", "read bridge lines from `FILE`, one a line (# comments)")
	onlyPeers := fs.Bool("only-peers", false, "publish the onion service for the current peers only (tor v3 client authorisation)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := parse(e, c, fs, args); err != nil {
		return err
	}
	bridges, err := readBridges(bridgeLines, *bridgesFile)
	if err != nil {
		return err
	}
	if *ctl != "" && len(bridges) > 0 {
		return usageError("--bridge and --bridges-file need the node's own tor; with --tor-control, set the bridges in the system tor's torrc")
	}
	if *lanMode && (len(bridges) > 0 || *onlyPeers) {
		return usageError("--bridge, --bridges-file and --only-peers are for Tor mode; LAN mode runs without tor")
	}
	if fs.NArg() != 0 {
		return usageError("run takes no arguments, got %q", fs.Args())
	}
	if *tn != "" && *ctl != "" {
		return usageError("--testnet and --tor-control cannot be used together")
	}
	if *ctl == "" && (*cookie != "" || *ctlPassFile != "") {
		return usageError("--tor-cookie and --tor-password-file go with --tor-control")
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
	d, secrets, release, err := takeDataDir(e, *data, *passFile)
	if err != nil {
		return err
	}
	defer release()
	path := d.path
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(store.MemoryLimit)
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	keyring, err := d.openKeyring(secrets)
	if err != nil {
		return err
	}
	db, err := d.openStore(secrets, log)
	if err != nil {
		return err
	}
	// The store closes last, after every session has stopped.
	defer db.Close()
	v, err := d.openVault(secrets)
	if err != nil {
		return err
	}
	defer v.Close()
	kv, err := d.openKeyVault(secrets)
	if err != nil {
		return err
	}
	defer kv.Close()

	var n *node.Node
	mode, reachable := cloak.ModeTor, fmt.Sprintf("reachable at %s", secrets.Key.ID())
	var tr cloak.Transport
	if *lanMode {
		lt, err := lan.New(lan.Config{Interface: *iface, Listen: listenAddr, Logger: log,
			Peers: func() []identity.ID { return knownPeers(n) }})
		if err != nil {
			return fail(exitUnavailable, err)
		}
		mode, tr = cloak.ModeLAN, lt
		reachable = fmt.Sprintf("LAN mode on %s; advertising to known peers", lt.Interface())
	} else {
		tor, err := startTor(e, log, path, torFlags{tn: *tn, ctl: *ctl, cookie: *cookie, ctlPassFile: *ctlPassFile, bridges: bridges, onlyPeers: *onlyPeers})
		if err != nil {
			return err
		}
		tr = onion.NewTransport(tor)
	}
	n, err = node.New(node.Config{
		Secrets: secrets, Keyring: keyring, Store: db, Vault: v, KeyVault: kv, Mode: mode, Transport: tr,
		Logger:      log,
		SpoolDir:    path,
		OnReachable: func() { printf(e.stderr, "ghostwire: %s\n", reachable) },
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
	printf(e.stderr, "ghostwire: node %s starting; local API at %s\n", secrets.Key.ID(), sock)
	if err := localapi.RunNode(e.ctx, n, api, log); err != nil {
		return fail(exitFailure, err)
	}
	fmt.Fprintln(e.stderr, "ghostwire: stopped")
	return nil
}

// torFlags are run's flags for Tor mode.
type torFlags struct {
	tn, ctl, cookie, ctlPassFile string
	bridges                      []onion.Bridge
	onlyPeers                    bool
}

// startTor starts (or attaches to) the tor Tor mode runs on.
func startTor(e *env, log *slog.Logger, path string, f torFlags) (*onion.Tor, error) {
	tn, ctl, cookie, ctlPassFile := f.tn, f.ctl, f.cookie, f.ctlPassFile
	torCfg := onion.Config{Logger: log, Bridges: f.bridges, OnlyPeers: f.onlyPeers, Progress: func(p onion.Progress) {
		line := fmt.Sprintf("ghostwire: tor: bootstrapped %d%%: %s", p.Percent, p.Summary)
		if p.Warning != "" {
			line += " (warning: " + p.Warning + ")"
		}
		printf(e.stderr, "%s\n", line)
	}}
	switch {
	case ctl != "":
		torCfg.ControlAddr, torCfg.ControlCookie = ctl, cookie
		if ctlPassFile != "" {
			// Read as a passphrase is: first line, bounded, never a flag.
			pw, err := readPassphrase(e, ctlPassFile, false)
			if err != nil {
				return nil, err
			}
			torCfg.ControlPassword = string(pw)
			clear(pw)
		}
	case tn != "":
		nw, err := testnet.Load(tn)
		if errors.Is(err, testnet.ErrUntrustedDir) {
			return nil, fail(exitPermission, err, "use a network directory only you can write, e.g. the default of 'ghostwire testnet up'")
		}
		if err != nil {
			return nil, fail(exitUnavailable, err, "start one with 'ghostwire testnet up --dir "+tn+"'")
		}
		torCfg.DataDir = filepath.Join(path, "tor")
		// The real network's client options first (SafeSocks, AvoidDiskWrites,
		// no DNS or transparent ports…), so that every test and the demo run
		// the configuration users run; the private network's lines follow.
		torCfg.Torrc = onion.RealNetworkTorrc + nw.JoinTorrc()
	default:
		torCfg.DataDir = filepath.Join(path, "tor")
		torCfg.Torrc = onion.RealNetworkTorrc
	}
	// The onion target (and a managed tor's control and SOCKS sockets) live
	// here, in a directory only this user may enter.
	torCfg.SocketDir = filepath.Join(path, "sock")
	tor, err := onion.Start(torCfg)
	if err != nil {
		return nil, fail(exitUnavailable, err, "is tor installed? (Debian: apt-get install tor; with bridges also obfs4proxy)")
	}
	if ctl != "" {
		ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
		err := tor.CheckControl(ctx)
		cancel()
		switch {
		case errors.Is(err, onion.ErrUntrustedTor):
			tor.Close()
			return nil, fail(exitUnavailable, err, "is your tor running and holding "+ctl+"? name its cookie with --tor-cookie, or give a control password with --tor-password-file")
		case errors.Is(err, onion.ErrMergedCircuits):
			tor.Close()
			return nil, fail(exitUnavailable, err, "GhostWire gives every peer its own circuit; see torrc.example")
		case err != nil:
			printf(e.stderr, "ghostwire: tor at %s not usable yet (%v); waiting for it\n", ctl, err)
		}
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
	api, err := dataAPIClient(*data)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	st, err := api.Status(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e, st)
	}
	reach := "no"
	switch l := st.Listener; {
	case l.State == "backing off":
		// Published but not taking connections: not reachable in fact.
		reach = "no (listener backing off: " + l.Reason + ")"
	case st.Transport.Reachable:
		reach = "yes"
	}
	transport := fmt.Sprintf("tor         %d%% %s", st.Transport.Progress, st.Transport.Phase)
	if st.Transport.Bridges > 0 {
		transport += fmt.Sprintf(", via bridges (%d)", st.Transport.Bridges)
	}
	if st.Transport.Mode == cloak.ModeLAN.String() {
		transport = "lan         " + st.Transport.Phase // the interface, address and peers seen
	}
	printf(e.stdout, "onion       %s\n%s\nreachable   %s\npeers       %d known, %d connected\nitems       %d held, %d queued\n",
		st.Onion, transport, reach, st.Peers, st.Connected, st.Items, st.Queued)
	if st.Transport.OnlyPeers {
		fmt.Fprintln(e.stdout, "presence    only peers can reach this node")
	}
	if st.LastSync != nil {
		printf(e.stdout, "last sync   %s (%s ago)\n", st.LastSync.Format(time.RFC3339), time.Since(*st.LastSync).Round(time.Second))
	} else {
		fmt.Fprintln(e.stdout, "last sync   never")
	}
	printContactsStatus(e, st)
	for _, f := range st.Full {
		where := "a pair or restricted scope"
		if f.Collection != "" {
			where = fmt.Sprintf("collection %s (%s)", f.Collection, f.Class)
		}
		printf(e.stdout, "full        %s: %d items, the limit; it refuses new ones and keeps syncing\n", where, f.Limit)
	}
	switch {
	case st.Store == apitype.StoreDiskFull:
		fmt.Fprintln(e.stdout, "store       disk full: new items are refused until space is freed; reads go on")
	case st.Skipped > 0:
		printf(e.stdout, "store       %d unreadable items skipped (a damaged disk); stop the node and run 'ghostwire check'\n", st.Skipped)
	default:
		fmt.Fprintln(e.stdout, "store       ok")
	}
	if st.Transport.Warning != "" {
		printf(e.stderr, "ghostwire: warning: tor: %s\n", st.Transport.Warning)
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

// readBridges parses --bridge lines and the --bridges-file; a line that does
// not parse is a usage error that quotes it.
func readBridges(lines []string, file string) ([]onion.Bridge, error) {
	var out []onion.Bridge
	for _, l := range lines {
		b, err := onion.ParseBridge(l)
		if err != nil {
			return nil, usageError("--bridge %q: %v", l, err)
		}
		out = append(out, b)
	}
	if file == "" {
		return out, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, usageError("--bridges-file: %v", err)
	}
	defer f.Close()
	more, err := onion.ParseBridges(f)
	if err != nil {
		return nil, usageError("--bridges-file %s: %v", file, err)
	}
	if len(more) == 0 {
		return nil, usageError("--bridges-file %s holds no bridge line", file)
	}
	return append(out, more...), nil
}
