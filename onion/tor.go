package onion

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cretz/bine/control"

	"github.com/ghostwire/ghostwire/onion/internal/torctl"
)

// ErrTorUnavailable is wrapped by every error that means "tor is not there
// or not ready": not started, bootstrapping, dead, restarting, or its SOCKS
// port refusing connections. Callers wait and retry; they never fall back
// to a direct connection.
var ErrTorUnavailable = errors.New("onion: tor unavailable")

// ErrUntrustedTor is wrapped when a control port has not proven it is the
// user's tor (NULL authentication offered, a cookie file in an unexpected
// place or someone else's, a wrong SAFECOOKIE answer). Nothing but
// PROTOCOLINFO and AUTHCHALLENGE has been sent to it.
var ErrUntrustedTor = torctl.ErrUntrusted

// ErrMergedCircuits is wrapped when tor's SOCKS settings would put
// different peers' streams on one circuit (NoIsolateSOCKSAuth,
// PreferSOCKSNoAuth).
var ErrMergedCircuits = errors.New("onion: tor's SOCKS settings would merge peers' circuits")

// Implementation constants.
const (
	// restartMin and restartMax bound the backoff between attempts to
	// (re)start or reattach tor.
	restartMin = 1 * time.Second
	restartMax = 30 * time.Second
	// stopGrace is how long a managed tor gets after SIGTERM.
	stopGrace = 5 * time.Second
	// managedStartWait bounds the wait for a new tor's control socket.
	managedStartWait = 30 * time.Second
	// probeEvery and probeWait: tor is asked "GETINFO version" every
	// probeEvery and declared not responding when it has not answered
	// within probeWait, so a hung tor shows within about 5 s.
	probeEvery = 2 * time.Second
	probeWait  = 3 * time.Second
)

// Config says which tor to use. Exactly one of ControlAddr (attach to a
// running tor) or DataDir (start and own one) must be set.
type Config struct {
	// ControlAddr is the control port of a running tor: "unix:/run/tor/control"
	// (Debian's) or a loopback "127.0.0.1:9051".
	ControlAddr string
	// ControlPassword is for HashedControlPassword; empty means SAFECOOKIE,
	// the only other authentication accepted (never NULL).
	ControlPassword string
	// ControlCookie is the cookie file the attached tor must name; empty
	// means a file beside a unix: control socket, or for a TCP control port
	// one in DefaultCookieDirs. The file and its directory must belong to
	// root, a tor system user or us and be writable by nobody else.
	ControlCookie string

	// DataDir is the managed tor's data directory (created 0700).
	DataDir string
	// TorPath is the tor binary; empty means "tor" on PATH, then /usr/sbin/tor.
	TorPath string
	// Torrc is extra configuration for the managed tor: testnet's JoinTorrc
	// to join a private network, or RealNetworkTorrc for the Tor network.
	// Empty means RealNetworkTorrc.
	Torrc string

	// SocketDir holds the Unix sockets: the onion service's target and, for
	// a managed tor, its control and SOCKS sockets. It is created 0700 (0710
	// with tor's group when an attached tor runs as another user). Empty
	// means DataDir/run for a managed tor and a fresh directory under
	// os.TempDir when attached; a path too long for a socket name is
	// replaced by a fresh directory under os.TempDir.
	SocketDir string

	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// Progress, if set, is called once per bootstrap phase, from the Tor's
	// own goroutine; it must not block or call back into the Tor.
	Progress func(Progress)
}

// DefaultCookieDirs are where a system tor keeps its control cookie:
// Debian's /run/tor (control.authcookie) and DataDirectory defaults, and the
// DataDirectory torrc.example sets.
var DefaultCookieDirs = []string{"/run/tor", "/var/run/tor", "/var/lib/tor", "/var/lib/tor-ghostwire"}

// RealNetworkTorrc is what a managed tor uses to join the real Tor network;
// torrc.example at the repository top explains each line for a system tor.
// SocksPort, ControlPort and DataDirectory are set by Start.
const RealNetworkTorrc = `ClientOnly 1
ExitRelay 0
DNSPort 0
TransPort 0
NATDPort 0
SafeSocks 1
WarnUnsafeSocks 1
SafeLogging 1
AvoidDiskWrites 1
`

// Progress is one bootstrap phase of tor.
type Progress struct {
	Percent int    // 0–100; 100 means usable
	Tag     string // tor's phase name, e.g. "conn_done"
	Summary string // human-readable phase
	Warning string // set when tor reports a problem in this phase
}

// Tor is a tor that GhostWire uses, managed or attached. All methods are safe
// for concurrent use.
type Tor struct {
	cfg     Config
	log     *slog.Logger
	torPath string
	auth    torctl.Auth // how every control connection authenticates
	sockDir string      // our Unix sockets (0700); see Config.SocketDir
	// sockDirFresh: sockDir was made for this Tor and is removed by Close.
	sockDirFresh bool
	dialer       *Dialer
	stop         chan struct{}
	done         chan struct{}
	once         sync.Once

	// mu guards the fields below. Invariant: ready implies sess != nil and
	// readyCh closed; readyCh is replaced (open) whenever ready goes false.
	mu       sync.Mutex
	sess     *session
	phase    Progress
	ready    bool
	readyCh  chan struct{}
	services map[*Service]struct{}
	// hung is set while tor has not answered a liveness probe within
	// probeWait; Ready is false and dials fail while it is.
	hung bool
}

// Start validates cfg and starts the supervisor; it returns at once. Use
// WaitReady to wait for bootstrap. The Tor runs until Close.
func Start(cfg Config) (*Tor, error) {
	t := &Tor{cfg: cfg, log: cfg.Logger, stop: make(chan struct{}), done: make(chan struct{}),
		readyCh: make(chan struct{}), services: map[*Service]struct{}{}}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.ControlAddr != "" && cfg.DataDir != "":
		return nil, errors.New("onion: set ControlAddr or DataDir, not both")
	case cfg.ControlAddr != "":
		network, addr, err := torctl.Addr(cfg.ControlAddr)
		if err != nil {
			return nil, fmt.Errorf("onion: control port: %w", err)
		}
		t.auth = torctl.Auth{Password: cfg.ControlPassword, CookieFile: cfg.ControlCookie, CookieDirs: DefaultCookieDirs}
		if network == "unix" {
			// Debian puts the cookie beside the socket: /run/tor/control.authcookie.
			t.auth.CookieDirs = []string{filepath.Dir(addr)}
		}
	case cfg.DataDir != "":
		t.auth = torctl.Auth{CookieFile: filepath.Join(cfg.DataDir, "control_auth_cookie")}
		p, err := findTor(cfg.TorPath)
		if err != nil {
			return nil, err
		}
		t.torPath = p
		if t.cfg.Torrc == "" {
			t.cfg.Torrc = RealNetworkTorrc
		}
	default:
		return nil, errors.New("onion: set ControlAddr or DataDir")
	}
	want := cfg.SocketDir
	if want == "" && cfg.DataDir != "" {
		want = filepath.Join(cfg.DataDir, "run")
	}
	dir, fresh, err := socketDir(want)
	if err != nil {
		return nil, err
	}
	t.sockDir, t.sockDirFresh = dir, fresh
	d, err := t.NewDialer()
	if err != nil {
		return nil, err
	}
	t.dialer = d
	go t.run()
	return t, nil
}

func findTor(given string) (string, error) {
	if given != "" {
		return given, nil
	}
	if p, err := exec.LookPath("tor"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/tor"); err == nil {
		return "/usr/sbin/tor", nil
	}
	return "", errors.New("onion: tor not found on PATH or at /usr/sbin/tor (install Debian's tor package)")
}

// Close stops the supervisor, the managed tor (its onion services vanish with
// it) or the control connections to an attached one. It is idempotent.
func (t *Tor) Close() error {
	t.once.Do(func() { close(t.stop) })
	<-t.done
	if t.sockDirFresh {
		os.RemoveAll(t.sockDir)
	}
	return nil
}

// Ready reports whether tor is bootstrapped and answering now.
func (t *Tor) Ready() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ready && !t.hung
}

// Responding reports whether tor answered its last liveness probe within
// probeWait (true while there is no tor session at all: that is "not
// running", which Ready reports).
func (t *Tor) Responding() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.hung
}

// Progress returns the last bootstrap phase seen.
func (t *Tor) Progress() Progress {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.phase
}

// WaitReady blocks until tor is bootstrapped, ctx ends (its error is
// returned, wrapping ErrTorUnavailable) or the Tor is closed.
func (t *Tor) WaitReady(ctx context.Context) error {
	t.mu.Lock()
	ch := t.readyCh
	t.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		p := t.Progress()
		return fmt.Errorf("%w: bootstrapped %d%% (%s): %w", ErrTorUnavailable, p.Percent, p.Summary, ctx.Err())
	case <-t.stop:
		return fmt.Errorf("%w: closed", ErrTorUnavailable)
	}
}

// PID is the managed tor's process id, 0 when attached or not running.
func (t *Tor) PID() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sess == nil || t.sess.proc == nil || t.sess.proc.Process == nil {
		return 0
	}
	return t.sess.proc.Process.Pid
}

// SocksAddr and ControlAddr are the current session's tor ports, "" when
// there is none. They change when a managed tor restarts.
func (t *Tor) SocksAddr() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sess == nil {
		return ""
	}
	return t.sess.socks
}

// ControlAddr: see SocksAddr.
func (t *Tor) ControlAddr() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sess == nil {
		return ""
	}
	return t.sess.controlAddr
}

// session is one connection to one tor process: for a managed tor, one
// process lifetime. It is owned by the supervisor goroutine; the Tor's mutex
// guards only the pointer to it.
type session struct {
	cmd, evt    *control.Conn
	cmdMu       sync.Mutex // serialises commands on cmd
	controlAddr string
	socks       string
	proc        *exec.Cmd     // managed only
	procOut     *os.File      // managed only
	procDone    chan struct{} // managed only: closed when proc exits
	evtDone     chan struct{} // closed when the event loop ends
	handlerDone chan struct{} // closed when the event handler ends
	cancel      context.CancelFunc
	probe       *torctl.Prober // its own control connection
}

// run is the supervisor: one session at a time, restarted with backoff.
func (t *Tor) run() {
	defer close(t.done)
	backoff := restartMin
	for {
		sess, err := t.connect()
		if err == nil {
			backoff = restartMin
			reason := t.serve(sess)
			t.log.Warn("onion: tor session ended", "reason", reason)
		} else if errors.Is(err, ErrUntrustedTor) || errors.Is(err, ErrMergedCircuits) {
			// Nothing secret was sent; keep refusing until the user's
			// own tor holds the port again.
			t.log.Error("onion: refusing this tor", "err", err, "retry_in", backoff)
		} else {
			t.log.Warn("onion: tor not available", "err", err, "retry_in", backoff)
		}
		select {
		case <-t.stop:
			return
		case <-time.After(backoff):
		}
		if err != nil {
			backoff = min(2*backoff, restartMax)
		}
	}
}

// connect starts the managed tor or attaches to the configured one, and
// opens the command, event and liveness connections. Each authenticates
// with torctl's checked SAFECOOKIE (or the user's password) before anything
// else is sent, so the identity key never reaches a control port that has
// not proven it is our tor.
func (t *Tor) connect() (*session, error) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-t.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	s := &session{cancel: cancel, evtDone: make(chan struct{}), handlerDone: make(chan struct{})}
	var err error
	if t.cfg.ControlAddr != "" {
		s.controlAddr = t.cfg.ControlAddr
		s.cmd, err = torctl.Dial(ctx, s.controlAddr, t.auth)
	} else {
		err = t.startManaged(ctx, s)
	}
	if err == nil {
		s.evt, err = torctl.Dial(ctx, s.controlAddr, t.auth)
	}
	if err == nil {
		var nc net.Conn
		nc, _, err = torctl.DialRaw(ctx, s.controlAddr, t.auth)
		s.probe = &torctl.Prober{Conn: nc}
	}
	if err == nil {
		err = checkIsolation(s.cmd)
	}
	if err == nil {
		s.socks, err = t.socksListener(s.cmd)
	}
	if err == nil && t.cfg.ControlAddr != "" {
		err = t.shareSocketDir(s.cmd)
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// CheckControl connects to the configured tor once, authenticates and
// checks its SOCKS isolation, the checks the supervisor repeats on every
// reconnection. The node calls it before it starts, so a control port that
// is not the user's tor stops it with a clear error instead of a retry loop.
// Nothing but PROTOCOLINFO and AUTHCHALLENGE reaches an untrusted port.
func (t *Tor) CheckControl(ctx context.Context) error {
	if t.cfg.ControlAddr == "" {
		return nil
	}
	c, err := torctl.Dial(ctx, t.cfg.ControlAddr, t.auth)
	if err != nil {
		return fmt.Errorf("onion: %w", err)
	}
	defer c.Close()
	if err := checkIsolation(c); err != nil {
		return err
	}
	_, err = t.socksListener(c)
	return err
}

// startManaged runs tor as a child whose control and SOCKS ports are Unix
// sockets in the socket directory (0700), so no other local user can reach
// either; tor's output goes to a file in its data directory, and SIGTERM
// (then SIGKILL after stopGrace) ends it when the session does. bine's
// launcher is not used: it knows only TCP control ports.
func (t *Tor) startManaged(ctx context.Context, s *session) error {
	dir := t.cfg.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("onion: %w", err)
	}
	ctl, socks := sockPath(t.sockDir, controlSocket), sockPath(t.sockDir, socksSocket)
	for _, p := range []string{ctl, socks} {
		if err := removeSocket(p); err != nil {
			return err
		}
	}
	cookie := filepath.Join(dir, "control_auth_cookie")
	torrc := filepath.Join(dir, "torrc")
	body := "ControlPort unix:" + ctl + "\n" +
		"SocksPort unix:" + socks + " " + socksFlags + "\n" +
		"CookieAuthentication 1\n" +
		"CookieAuthFile " + cookie + "\n" +
		"Log notice file " + filepath.Join(dir, "notice.log") + "\n" +
		t.cfg.Torrc
	if err := os.WriteFile(torrc, []byte(body), 0o600); err != nil {
		return fmt.Errorf("onion: %w", err)
	}
	out, err := os.OpenFile(filepath.Join(dir, "tor.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("onion: %w", err)
	}
	s.procOut = out
	cmd := exec.CommandContext(ctx, t.torPath, "-f", torrc, "--defaults-torrc", "/dev/null",
		"--DataDirectory", dir, "--__OwningControllerProcess", strconv.Itoa(os.Getpid()))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stopGrace
	// If this process dies, tor dies with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("onion: starting tor: %w", err)
	}
	s.proc = cmd
	s.procDone = make(chan struct{})
	go func() { cmd.Wait(); close(s.procDone) }()
	s.controlAddr = "unix:" + ctl
	auth := torctl.Auth{CookieFile: cookie}
	// Tor opens its control socket within a second or two; poll for it,
	// bounded, and give up early if tor exits (a bad torrc).
	deadline := time.Now().Add(managedStartWait)
	for {
		s.cmd, err = torctl.Dial(ctx, s.controlAddr, auth)
		if err == nil {
			break
		}
		select {
		case <-s.procDone:
			return fmt.Errorf("onion: tor exited at start (see %s): %w", filepath.Join(dir, "tor.out"), err)
		case <-ctx.Done():
			return fmt.Errorf("onion: starting tor: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("onion: tor's control socket did not open within %s: %w", managedStartWait, err)
		}
	}
	// Tor exits as soon as this control connection closes, even if we are
	// killed before Pdeathsig or __OwningControllerProcess notice.
	if err := s.cmd.TakeOwnership(); err != nil {
		return fmt.Errorf("onion: TAKEOWNERSHIP: %w", err)
	}
	return nil
}

// socksFlags are the managed SOCKS socket's flags. OnionTrafficOnly: the
// node dials nothing but onions, so tor refuses anything else even if a bug
// asked. IsolateSOCKSAuth (tor's default, written out so nobody removes it)
// keeps each peer's credentials on circuits of their own. ExtendedErrors
// gives onion failures their own reply codes.
const socksFlags = "OnionTrafficOnly IsolateSOCKSAuth ExtendedErrors"

// mergingSocksFlags are SocksPort flags that put different peers' streams
// on one circuit despite their distinct credentials.
var mergingSocksFlags = []string{"NoIsolateSOCKSAuth", "PreferSOCKSNoAuth"}

// checkIsolation refuses a tor whose SOCKS ports would merge peers'
// circuits: with NoIsolateSOCKSAuth, or PreferSOCKSNoAuth (which makes tor
// ignore the credentials we send), an observer of one circuit sees every
// peer this node talks to.
func checkIsolation(c *control.Conn) error {
	kv, err := c.GetConf("SocksPort")
	if err != nil {
		return fmt.Errorf("onion: GETCONF SocksPort: %w", err)
	}
	for _, v := range kv {
		for _, f := range strings.Fields(v.Val) {
			for _, bad := range mergingSocksFlags {
				if strings.EqualFold(f, bad) {
					return fmt.Errorf("%w: SocksPort %q has %s; remove it from the torrc", ErrMergedCircuits, v.Val, bad)
				}
			}
		}
	}
	return nil
}

// socksListener asks tor for its SOCKS listeners and picks a Unix socket,
// or failing that a loopback port (a system tor configured so; logged, as
// any local user can use it).
func (t *Tor) socksListener(c *control.Conn) (string, error) {
	kv, err := c.GetInfo("net/listeners/socks")
	if err != nil {
		return "", fmt.Errorf("onion: GETINFO net/listeners/socks: %w", err)
	}
	tcp := ""
	for _, v := range kv {
		for _, a := range strings.Fields(v.Val) {
			a = strings.Trim(a, `"`)
			if network, _, err := torctl.Addr(a); err == nil {
				if network == "unix" {
					return a, nil
				}
				if tcp == "" {
					tcp = a
				}
			}
		}
	}
	if tcp != "" {
		t.log.Warn("onion: tor's SOCKS port is TCP, which every local user can use; prefer 'SocksPort unix:/run/tor/socks' (see torrc.example)")
		return tcp, nil
	}
	return "", errors.New("onion: tor has no Unix or loopback SOCKS port; add 'SocksPort unix:/run/tor/socks' to its torrc")
}

// shareSocketDir lets an attached tor running as another user reach the
// onion service's target socket (see shareWithTor).
func (t *Tor) shareSocketDir(c *control.Conn) error {
	kv, err := c.GetInfo("process/pid")
	if err != nil || len(kv) != 1 {
		return fmt.Errorf("onion: GETINFO process/pid: %v", err)
	}
	fi, err := os.Stat("/proc/" + strings.TrimSpace(kv[0].Val))
	if err != nil {
		// Another PID namespace (tor in a container): assume our own user.
		t.log.Warn("onion: cannot see tor's process; assuming it runs as this user", "err", err)
		return nil
	}
	st := fi.Sys().(*syscall.Stat_t)
	return shareWithTor(t.sockDir, int(st.Uid), int(st.Gid))
}

// close tears a session down: control connections first (a managed tor that
// took ownership exits on that), then the process with SIGTERM and, after
// stopGrace, SIGKILL. It waits for the session's goroutines.
func (s *session) close() {
	if s.cmd != nil {
		s.cmd.Close()
	}
	if s.evt != nil {
		s.evt.Close()
	}
	if s.probe != nil && s.probe.Conn != nil {
		s.probe.Conn.Close()
	}
	s.cancel()
	if s.procDone != nil {
		<-s.procDone
	}
	if s.procOut != nil {
		s.procOut.Close()
	}
}

// serve runs a session until tor goes away or the Tor is closed, and
// returns why it ended.
func (t *Tor) serve(s *session) string {
	events := make(chan control.Event, 64)
	if err := s.evt.AddEventListener(events, control.EventCodeStatusClient, control.EventCodeHSDesc); err != nil {
		s.close()
		return "subscribing to events: " + err.Error()
	}
	go func() {
		defer close(s.evtDone)
		defer close(events) // bine sends only from HandleNextEvent, run here
		for {
			if err := s.evt.HandleNextEvent(); err != nil {
				return
			}
		}
	}()
	go func() {
		defer close(s.handlerDone)
		for ev := range events {
			t.handleEvent(ev)
		}
	}()

	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		t.watch(s)
	}()

	t.mu.Lock()
	t.sess = s
	t.mu.Unlock()
	if kv, err := s.cmd.GetInfo("status/bootstrap-phase"); err == nil && len(kv) == 1 {
		if p, err := torctl.ParsePhase(kv[0].Val); err == nil {
			t.setPhase(p)
		}
	}
	t.republish(s)

	var reason string
	select {
	case <-t.stop:
		reason = "closed"
	case <-s.evtDone:
		reason = "control connection lost"
	case <-procDone(s):
		reason = "tor exited"
	}
	t.mu.Lock()
	t.sess = nil
	t.hung = false
	if t.ready {
		t.ready = false
		t.readyCh = make(chan struct{})
	}
	for svc := range t.services {
		svc.resetLocked()
	}
	t.mu.Unlock()
	s.close()
	<-s.evtDone
	<-s.handlerDone
	<-probeDone
	return reason
}

// watch probes tor's liveness on the session's own connection until the
// session ends. A tor that is stopped (SIGSTOP), deadlocked or swapped out
// keeps its sockets open, so nothing else would notice: the event
// connection just stays quiet. A probe blocks at most probeWait, and
// closing the session's connections ends it at once.
func (t *Tor) watch(s *session) {
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-s.evtDone:
			return
		case <-procDone(s):
			return
		case <-tick.C:
		}
		err := s.probe.Probe(probeWait)
		switch {
		case err == nil:
			t.setHung(false)
		case errors.Is(err, os.ErrDeadlineExceeded):
			t.setHung(true)
		default:
			return // the connection broke: tor is gone, and serve sees that
		}
	}
}

func (t *Tor) setHung(hung bool) {
	t.mu.Lock()
	changed := t.hung != hung
	t.hung = hung
	t.mu.Unlock()
	switch {
	case changed && hung:
		t.log.Warn("onion: tor not responding", "waited", probeWait)
	case changed:
		t.log.Info("onion: tor responding again")
	}
}

func procDone(s *session) <-chan struct{} {
	if s.procDone == nil {
		return nil // attached: never fires
	}
	return s.procDone
}

func (t *Tor) handleEvent(ev control.Event) {
	switch e := ev.(type) {
	case *control.StatusEvent:
		if e.Action != "BOOTSTRAP" {
			return
		}
		if p, err := torctl.ParsePhase(e.Raw); err == nil {
			t.setPhase(p)
		}
	case *control.HSDescEvent:
		if e.Action == "UPLOADED" {
			t.markUploaded(e.Address)
		}
	}
}

func (t *Tor) setPhase(p torctl.Phase) {
	pr := Progress{Percent: p.Progress, Tag: p.Tag, Summary: p.Summary, Warning: p.Warning}
	t.mu.Lock()
	changed := pr.Tag != t.phase.Tag || pr.Percent != t.phase.Percent
	t.phase = pr
	if pr.Percent == 100 && !t.ready && t.sess != nil {
		t.ready = true
		close(t.readyCh)
	}
	t.mu.Unlock()
	if !changed {
		return
	}
	t.log.Info("onion: tor bootstrap", "percent", pr.Percent, "phase", pr.Summary)
	if t.cfg.Progress != nil {
		t.cfg.Progress(pr)
	}
}

// command runs fn on the current session's command connection, or returns
// ErrTorUnavailable when there is none.
func (t *Tor) command(fn func(*control.Conn) error) error {
	t.mu.Lock()
	s := t.sess
	t.mu.Unlock()
	if s == nil {
		return ErrTorUnavailable
	}
	s.cmdMu.Lock()
	defer s.cmdMu.Unlock()
	return fn(s.cmd)
}

// GetInfo asks the current tor a GETINFO question, for diagnostics such as
// "circuit-status" or "stream-status". It fails with ErrTorUnavailable when
// there is no tor.
func (t *Tor) GetInfo(key string) (string, error) {
	var val string
	err := t.command(func(c *control.Conn) error {
		kv, err := c.GetInfo(key)
		if err != nil {
			return err
		}
		if len(kv) != 1 {
			return fmt.Errorf("onion: GETINFO %s: %d answers", key, len(kv))
		}
		val = kv[0].Val
		return nil
	})
	return val, err
}

var _ io.Closer = (*Tor)(nil)
