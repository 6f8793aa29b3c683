package testnet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config says what network Start builds. The zero value is a usable
// configuration: a fresh temporary directory, 4 authorities, 2 clients.
type Config struct {
	// Dir is the network's directory. It must not exist or be empty; Stop
	// removes it. Empty means a new directory under os.TempDir().
	Dir string
	// Authorities is the number of directory authorities; 0 means
	// DefaultAuthorities. Fewer than 4 routers cannot serve onion services.
	Authorities int
	// Clients is the number of plain client tors (SOCKS and control port
	// each). 0 means none; a node can still join with its own tor.
	Clients int
	// Bridge adds a bridge relay with an obfs4 listener: not in the
	// consensus (PublishServerDescriptor 0), reached only by a client given
	// its Node.BridgeLine. It needs obfs4proxy.
	Bridge bool
	// Obfs4proxyPath is the obfs4 server the bridge runs; empty means
	// obfs4proxy on PATH, then /usr/bin.
	Obfs4proxyPath string
	// TorPath and GencertPath locate the binaries; empty means the
	// executable named tor / tor-gencert on PATH, then /usr/sbin, /usr/bin.
	TorPath, GencertPath string
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// Progress, if set, is called with a short line at each start phase
	// (for a CLI's stderr). It is called from Start's goroutine only.
	Progress func(string)
	// Timeout bounds the whole start; 0 means 120 s (240 s with RealTiming).
	Timeout time.Duration
	// RealTiming runs the clients, and every node's tor that joins through
	// JoinTorrc, without TestingTorNetwork, so they keep the Tor network's
	// timing: a 24 h onion-service time period and a 15 min block on
	// re-asking an HSDir that lacked a descriptor. The authorities still run
	// TestingTorNetwork (a quick start) but, once the first full consensus
	// is out, vote every 300 s, the shortest interval such a client accepts
	// (realTimingVote). docs/tor.md, "The private network and the real
	// one", says how this was verified. RealTimingEnv=1 in the environment
	// turns it on for every network started, so `./run realtime` runs the
	// demo and the end-to-end tests with real timing unchanged.
	RealTiming bool
}

// RealTimingEnv, set to 1, makes every Start use Config.RealTiming: a
// development knob for `./run realtime`, not a user setting.
const RealTimingEnv = "GHOSTWIRE_TESTNET_REAL_TIMING"

// Role is what a node does in the network.
type Role string

// The roles of a network's nodes.
const (
	RoleAuthority Role = "authority"
	RoleClient    Role = "client"
	RoleBridge    Role = "bridge"
)

// Node is one tor process of the network. Ports are on 127.0.0.1; a zero
// port is not configured.
type Node struct {
	Name        string `json:"name"`
	Role        Role   `json:"role"`
	DataDir     string `json:"data_dir"`
	PID         int    `json:"pid"`
	ORPort      int    `json:"or_port,omitempty"`
	DirPort     int    `json:"dir_port,omitempty"`
	ControlPort int    `json:"control_port"`
	SocksPort   int    `json:"socks_port,omitempty"`
	// OBFS4Port is a bridge's obfs4 listener, and BridgeLine the line a
	// client gives tor to reach it through obfs4.
	OBFS4Port  int    `json:"obfs4_port,omitempty"`
	BridgeLine string `json:"bridge_line,omitempty"`
}

// ControlAddr is the node's control port address.
func (n Node) ControlAddr() string { return "127.0.0.1:" + strconv.Itoa(n.ControlPort) }

// CookieFile is the node's control cookie (tor's default place in its data
// directory): a controller attaching to the node expects exactly this file.
func (n Node) CookieFile() string { return filepath.Join(n.DataDir, "control_auth_cookie") }

// SocksAddr is the node's SOCKS port address ("" for authorities).
func (n Node) SocksAddr() string {
	if n.SocksPort == 0 {
		return ""
	}
	return "127.0.0.1:" + strconv.Itoa(n.SocksPort)
}

// Timings records how long each start phase took; Bench reports them.
type Timings struct {
	KeyGen    time.Duration `json:"keygen"`    // authority keys, before any tor runs
	Consensus time.Duration `json:"consensus"` // authorities spawned → full consensus served
	Clients   time.Duration `json:"clients"`   // consensus → every client bootstrapped
	Total     time.Duration `json:"total"`     // Start called → usable
}

// Network is a private Tor network. Its exported fields are what the state
// file holds. Methods are safe for concurrent use once Start or Load returns.
type Network struct {
	Dir         string    `json:"dir"`
	DirAuthFile string    `json:"dirauth_file"`
	Started     time.Time `json:"started"`
	Ready       bool      `json:"ready"` // every client bootstrapped at start
	Nodes       []Node    `json:"nodes"`
	Timings     Timings   `json:"timings"`
	// RealTiming: see Config.RealTiming; JoinTorrc follows it.
	RealTiming bool `json:"real_timing,omitempty"`

	log *slog.Logger
}

// Clients returns the client nodes in order.
func (nw *Network) Clients() []Node { return nw.byRole(RoleClient) }

// Bridges returns the bridge relays (none unless Config.Bridge).
func (nw *Network) Bridges() []Node { return nw.byRole(RoleBridge) }

// Authorities returns the authority nodes in order.
func (nw *Network) Authorities() []Node { return nw.byRole(RoleAuthority) }

func (nw *Network) byRole(r Role) []Node {
	var out []Node
	for _, n := range nw.Nodes {
		if n.Role == r {
			out = append(out, n)
		}
	}
	return out
}

// errPortTaken marks a start that failed because another process took a port
// between our probe and tor's bind; Start retries those with new ports.
var errPortTaken = errors.New("testnet: a port was taken by another process")

// Start builds and starts a private network and returns once every client is
// bootstrapped. On any failure, including ctx ending, it stops every tor it
// started and removes the directory, so nothing is left running.
func Start(ctx context.Context, cfg Config) (*Network, error) {
	if cfg.Authorities == 0 {
		cfg.Authorities = DefaultAuthorities
	}
	if cfg.Authorities < 1 || cfg.Authorities > 9 || cfg.Clients < 0 || cfg.Clients > 16 {
		return nil, fmt.Errorf("testnet: %d authorities and %d clients: want 1–9 and 0–16", cfg.Authorities, cfg.Clients)
	}
	if os.Getenv(RealTimingEnv) == "1" {
		cfg.RealTiming = true
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 120 * time.Second
		if cfg.RealTiming {
			// One more vote, and real-timing tors back off longer.
			cfg.Timeout = 240 * time.Second
		}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	torPath, err := findBinary(cfg.TorPath, "tor")
	if err != nil {
		return nil, err
	}
	gencertPath, err := findBinary(cfg.GencertPath, "tor-gencert")
	if err != nil {
		return nil, err
	}
	obfs4Path := ""
	if cfg.Bridge {
		if obfs4Path, err = findBinary(cfg.Obfs4proxyPath, "obfs4proxy"); err != nil {
			return nil, fmt.Errorf("%w (the bridge needs Debian's obfs4proxy package)", err)
		}
	}
	dir, err := prepareDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	s := &starter{cfg: cfg, log: log, tor: torPath, gencert: gencertPath, obfs4: obfs4Path, dir: dir}
	for attempt := 1; ; attempt++ {
		nw, err := s.start(ctx)
		if err == nil {
			return nw, nil
		}
		// Leave nothing behind: kill what this attempt started.
		if nw != nil {
			if serr := nw.stopProcesses(); serr != nil {
				log.Warn("testnet: cleanup after failed start", "err", serr)
			}
		}
		if !errors.Is(err, errPortTaken) || attempt == 3 {
			os.RemoveAll(dir)
			return nil, err
		}
		log.Info("testnet: port collision, retrying with new ports", "attempt", attempt)
		if err := clearDir(dir); err != nil {
			return nil, err
		}
	}
}

// findBinary resolves a tor binary and fails with a message that says what
// to install, since a missing tor is the commonest setup problem.
func findBinary(given, name string) (string, error) {
	if given != "" {
		return given, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/usr/local/bin"} {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("testnet: %s not found on PATH or in /usr/sbin, /usr/bin (install Debian's tor package: apt-get install tor)", name)
}

func prepareDir(dir string) (string, error) {
	if dir == "" {
		return os.MkdirTemp("", "ghostwire-testnet-")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("testnet: %w", err)
	}
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fmt.Errorf("testnet: %w", err)
		}
		return dir, checkTrusted(dir, true)
	case err == nil:
		// An empty directory made in advance by someone else could be
		// filled by them later.
		if err := checkTrusted(dir, true); err != nil {
			return "", err
		}
	}
	switch {
	case err != nil:
		return "", fmt.Errorf("testnet: %w", err)
	case len(ents) > 0:
		if _, err := os.Stat(filepath.Join(dir, stateFile)); err == nil {
			return "", fmt.Errorf("testnet: %s already holds a network (stop it first)", dir)
		}
		return "", fmt.Errorf("testnet: %s is not empty", dir)
	}
	return dir, nil
}

func clearDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("testnet: %w", err)
		}
	}
	return nil
}

type starter struct {
	cfg          Config
	log          *slog.Logger
	tor, gencert string
	obfs4        string // obfs4proxy, for a bridge
	dir          string
}

func (s *starter) progress(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.log.Info("testnet: " + msg)
	if s.cfg.Progress != nil {
		s.cfg.Progress(msg)
	}
}

// start is one attempt. It returns the network built so far even on error so
// that Start can stop the processes it holds.
func (s *starter) start(ctx context.Context) (*Network, error) {
	t0 := time.Now()
	nw := &Network{Dir: s.dir, DirAuthFile: filepath.Join(s.dir, dirAuthFile), Started: t0, RealTiming: s.cfg.RealTiming, log: s.log}
	nports := 3*s.cfg.Authorities + 2*s.cfg.Clients
	if s.cfg.Bridge {
		nports += 3
	}
	ports, err := freePorts(nports)
	if err != nil {
		return nil, err
	}
	for i := range s.cfg.Authorities {
		name := fmt.Sprintf("auth%d", i)
		nw.Nodes = append(nw.Nodes, Node{Name: name, Role: RoleAuthority, DataDir: filepath.Join(s.dir, name),
			ORPort: ports[0], DirPort: ports[1], ControlPort: ports[2]})
		ports = ports[3:]
	}
	for i := range s.cfg.Clients {
		name := fmt.Sprintf("client%d", i)
		nw.Nodes = append(nw.Nodes, Node{Name: name, Role: RoleClient, DataDir: filepath.Join(s.dir, name),
			SocksPort: ports[0], ControlPort: ports[1]})
		ports = ports[2:]
	}
	if s.cfg.Bridge {
		nw.Nodes = append(nw.Nodes, Node{Name: "bridge0", Role: RoleBridge, DataDir: filepath.Join(s.dir, "bridge0"),
			ORPort: ports[0], ControlPort: ports[1], OBFS4Port: ports[2]})
	}
	for _, f := range []struct{ name, body string }{
		{emptyGeoIPFile, ""},
		{resolvConfFile, "nameserver 127.0.0.1\n"},
	} {
		if err := os.WriteFile(filepath.Join(s.dir, f.name), []byte(f.body), 0o600); err != nil {
			return nil, fmt.Errorf("testnet: %w", err)
		}
	}
	for _, n := range nw.Nodes {
		if err := os.MkdirAll(n.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("testnet: %w", err)
		}
	}
	if err := nw.save(); err != nil {
		return nil, err
	}

	s.progress("generating keys for %d authorities", s.cfg.Authorities)
	auths := nw.Authorities()
	lines := make([]string, len(auths))
	errs := make([]error, len(auths))
	var wg sync.WaitGroup
	for i, a := range auths {
		wg.Go(func() { lines[i], errs[i] = s.authorityKeys(ctx, a) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := os.WriteFile(nw.DirAuthFile, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	nw.Timings.KeyGen = time.Since(t0)

	t1 := time.Now()
	s.progress("starting %d authorities", len(auths))
	if err := s.spawnAll(ctx, nw, auths, authorityTorrc); err != nil {
		return nw, err
	}
	if err := s.waitConsensus(ctx, auths[0], len(auths), false); err != nil {
		return nw, err
	}
	real := s.cfg.RealTiming
	if real {
		s.progress("switching the authorities to real-timing votes (every 300 s)")
		for _, a := range auths {
			if err := setConf(ctx, a, realTimingVote); err != nil {
				return nw, err
			}
		}
		if err := s.waitConsensus(ctx, auths[0], len(auths), true); err != nil {
			return nw, err
		}
	}
	nw.Timings.Consensus = time.Since(t1)

	t2 := time.Now()
	if clients := nw.Clients(); len(clients) > 0 {
		s.progress("consensus lists all %d routers; starting %d clients", len(auths), len(clients))
		if err := s.spawnAll(ctx, nw, clients, func(dir string, n Node) string { return clientTorrc(dir, n, real) }); err != nil {
			return nw, err
		}
		for _, c := range clients {
			if err := s.waitBootstrap(ctx, c); err != nil {
				return nw, err
			}
		}
	}
	if bridges := nw.Bridges(); len(bridges) > 0 {
		s.progress("starting the obfs4 bridge")
		if err := s.spawnAll(ctx, nw, bridges, func(dir string, n Node) string { return bridgeTorrc(dir, n, s.obfs4) }); err != nil {
			return nw, err
		}
		for i := range nw.Nodes {
			if nw.Nodes[i].Role != RoleBridge {
				continue
			}
			if err := s.waitBootstrap(ctx, nw.Nodes[i]); err != nil {
				return nw, err
			}
			line, err := s.waitBridgeLine(ctx, nw.Nodes[i])
			if err != nil {
				return nw, err
			}
			nw.Nodes[i].BridgeLine = line
		}
	}
	nw.Timings.Clients = time.Since(t2)
	nw.Timings.Total = time.Since(t0)
	nw.Ready = true
	if err := nw.save(); err != nil {
		return nw, err
	}
	s.progress("ready in %.1fs (%d authorities, %d clients) in %s", nw.Timings.Total.Seconds(), len(auths), s.cfg.Clients, s.dir)
	return nw, nil
}

// freePorts picks n distinct free loopback ports by binding :0. All
// listeners stay open until every port is picked so the n are distinct; a
// collision with another process afterwards is caught at tor's bind.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("testnet: picking a port: %w", err)
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// authorityKeys makes an authority's v3 identity key and certificate with
// tor-gencert and its relay identity with tor --list-fingerprint, and returns
// its DirAuthority line.
func (s *starter) authorityKeys(ctx context.Context, a Node) (string, error) {
	keys := filepath.Join(a.DataDir, "keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		return "", fmt.Errorf("testnet: %w", err)
	}
	gen := exec.CommandContext(ctx, s.gencert, "--create-identity-key", "--passphrase-fd", "0", "-m", "12",
		"-a", fmt.Sprintf("127.0.0.1:%d", a.DirPort),
		"-i", filepath.Join(keys, "authority_identity_key"),
		"-s", filepath.Join(keys, "authority_signing_key"),
		"-c", filepath.Join(keys, "authority_certificate"))
	gen.Stdin = strings.NewReader("\n")
	if out, err := gen.CombinedOutput(); err != nil {
		return "", fmt.Errorf("testnet: tor-gencert for %s: %w: %s", a.Name, err, bytes.TrimSpace(out))
	}
	fp := exec.CommandContext(ctx, s.tor, "--list-fingerprint", "--DataDirectory", a.DataDir,
		"--ORPort", "1", "--Nickname", a.Name, "--ignore-missing-torrc", "-f", "none",
		"--defaults-torrc", "/dev/null", "--Log", "err stderr")
	if out, err := fp.CombinedOutput(); err != nil {
		return "", fmt.Errorf("testnet: tor --list-fingerprint for %s: %w: %s", a.Name, err, bytes.TrimSpace(out))
	}
	v3ident, err := certFingerprint(filepath.Join(keys, "authority_certificate"))
	if err != nil {
		return "", err
	}
	relay, err := os.ReadFile(filepath.Join(a.DataDir, "fingerprint"))
	if err != nil {
		return "", fmt.Errorf("testnet: relay fingerprint of %s: %w", a.Name, err)
	}
	f := strings.Fields(string(relay))
	if len(f) != 2 {
		return "", fmt.Errorf("testnet: malformed fingerprint file of %s", a.Name)
	}
	return fmt.Sprintf("DirAuthority %s orport=%d no-v2 v3ident=%s 127.0.0.1:%d %s",
		a.Name, a.ORPort, v3ident, a.DirPort, f[1]), nil
}

func certFingerprint(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("testnet: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "fingerprint "); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("testnet: no fingerprint in %s", path)
}

// waitConsensus polls the authority's DirPort until its microdesc consensus
// lists want routers, each Running, Stable, Guard and HSDir. Clients started
// before that fetch a partial consensus and back off for tens of seconds.
// With realTiming it also waits for a consensus that a tor without
// TestingTorNetwork accepts (consensus.realTiming).
func (s *starter) waitConsensus(ctx context.Context, auth Node, want int, realTiming bool) error {
	url := fmt.Sprintf("http://127.0.0.1:%d/tor/status-vote/current/consensus-microdesc", auth.DirPort)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	last := consensus{routers: -1}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		got := fetchConsensus(ctx, client, url)
		if got.routers != last.routers {
			s.progress("consensus: %d of %d routers usable", got.routers, want)
		}
		if realTiming && got.routers >= want && !got.realTiming() && !got.validAfter.Equal(last.validAfter) {
			s.progress("consensus: fresh for %s, delays %d/%d s; waiting for one a real-timing client accepts (300 s, 20/20 s)", got.interval(), got.voteDelay, got.distDelay)
		}
		last = got
		if got.routers >= want && (!realTiming || got.realTiming()) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testnet: waiting for a full consensus (%d of %d routers): %w", last.routers, want, ctx.Err())
		case <-tick.C:
		}
	}
}

// consensus is what waitConsensus reads from a consensus document.
type consensus struct {
	routers              int // routers with every flag onion services need
	validAfter, fresh    time.Time
	voteDelay, distDelay int
	srvs                 [][]byte // shared random values, current and previous
}

func (c consensus) interval() time.Duration { return c.fresh.Sub(c.validAfter) }

// realTiming reports whether a tor without TestingTorNetwork accepts the
// consensus: tor's MIN_VOTE_INTERVAL (300 s), MIN_VOTE_SECONDS and
// MIN_DIST_SECONDS (20 s) in ns_parse.c.
func (c consensus) realTiming() bool {
	return c.interval() >= 300*time.Second && c.voteDelay >= 20 && c.distDelay >= 20
}

// fetchConsensus reads the consensus; any fetch or parse problem gives the
// zero value (no routers), so the caller simply polls again.
func fetchConsensus(ctx context.Context, c *http.Client, url string) consensus {
	var out consensus
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return out
	}
	// Go asks for gzip by default and tor then answers with deflate, which
	// Go does not decode.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := c.Do(req)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return out
	}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 1<<20))
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "valid-after "); ok {
			out.validAfter, _ = time.Parse(time.DateTime, v)
		}
		if v, ok := strings.CutPrefix(line, "fresh-until "); ok {
			out.fresh, _ = time.Parse(time.DateTime, v)
		}
		if v, ok := strings.CutPrefix(line, "voting-delay "); ok {
			fmt.Sscanf(v, "%d %d", &out.voteDelay, &out.distDelay)
		}
		if f := strings.Fields(line); len(f) == 3 && (f[0] == "shared-rand-current-value" || f[0] == "shared-rand-previous-value") {
			if v, err := base64.StdEncoding.DecodeString(f[2]); err == nil {
				out.srvs = append(out.srvs, v)
			}
		}
		flags, ok := strings.CutPrefix(line, "s ")
		if !ok {
			continue
		}
		have := map[string]bool{}
		for _, f := range strings.Fields(flags) {
			have[f] = true
		}
		if have["Running"] && have["Stable"] && have["Guard"] && have["HSDir"] {
			out.routers++
		}
	}
	return out
}

// waitBootstrap polls a client's bootstrap phase until it is 100 %.
func (s *starter) waitBootstrap(ctx context.Context, n Node) error {
	last := ""
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		phase, err := bootstrapPhase(ctx, n)
		if err == nil && phase.Summary != last {
			s.progress("%s: bootstrapped %d%% (%s)", n.Name, phase.Progress, phase.Summary)
			last = phase.Summary
		}
		if err == nil && phase.Progress == 100 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testnet: waiting for %s to bootstrap (last: %q): %w", n.Name, last, ctx.Err())
		case <-tick.C:
		}
	}
}
