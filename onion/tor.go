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
	"sync"
	"time"

	"github.com/cretz/bine/control"

	"github.com/ghostwire/ghostwire/identity"
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

	// Bridges, when set, are the only way the managed tor reaches the
	// network: it starts with DisableNetwork 1, UseBridges and the
	// bridges are set over the control port, and only then is the network
	// enabled, so it never contacts a public directory authority or
	// fallback (bridgeTorrc, applyBridges). Not allowed with ControlAddr (an attached tor's bridges are
	// its own torrc's).
	Bridges []Bridge
	// Obfs4proxy is the obfs4 client tor runs for obfs4 bridges; empty
	// means obfs4proxy on PATH, then /usr/bin/obfs4proxy.
	Obfs4proxy string

	// OnlyPeers publishes every service with v3 client authorisation for
	// the peers SetPeers names, so that nobody else can even fetch its
	// descriptor (docs/tor.md, "Presence hiding").
	OnlyPeers bool

	// SocketDir holds the Unix sockets: the onion service's target and, for
	// a managed tor, its control and SOCKS sockets. It is created 0700 (0710
	// with tor's group when an attached tor runs as another user). Empty
	// means DataDir/run for a managed tor and a fresh directory under
	// os.TempDir when attached; a path too long for a socket name is
	// replaced by a fresh directory under os.TempDir, and so, when attached,
	// is a path under a directory other users cannot pass through (a 0700
	// home), since the attached tor may run as another user.
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
	// obfs4proxy is the resolved obfs4 client, "" without obfs4 bridges.
	obfs4proxy string
	auth       torctl.Auth // how every control connection authenticates
	sockDir    string      // our Unix sockets (0700); see Config.SocketDir
	// sockDirFresh: sockDir was made for this Tor and is removed by Close.
	sockDirFresh bool
	dialer       *Dialer
	peersMu      sync.Mutex // serialises SetPeers
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
	// peers are those SetPeers named, sorted: an OnlyPeers service is
	// published for them.
	peers []identity.ID
	// authKey is the client-authorisation key of the latest identity
	// published (clientAuthPrivate), which dials present to tor.
	authKey     [32]byte
	haveAuthKey bool
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
	case cfg.ControlAddr != "" && len(cfg.Bridges) > 0:
		return nil, errors.New("onion: bridges need a managed tor; an attached tor uses the bridges of its own torrc")
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
		if hasObfs4(cfg.Bridges) {
			if t.obfs4proxy, err = findObfs4proxy(cfg.Obfs4proxy); err != nil {
				return nil, err
			}
		}
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
	if want != "" && cfg.ControlAddr != "" {
		if blocked := closedToOthers(filepath.Dir(want)); blocked != "" {
			// An attached tor usually runs as its own account
			// (debian-tor), and must connect to the onion service's target
			// in this directory; a private home directory (Debian 12 makes
			// them 0700) would leave the service published yet unreachable.
			t.log.Info("onion: tor could not pass through a private directory to the onion service's socket; using a socket directory under TMPDIR", "dir", want, "closed", blocked)
			want = ""
		}
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
	// Guarded by cmdMu: the peers whose onion tor already holds our
	// client-authorisation key for, and whether tor lacks the command.
	authed       map[identity.ID]bool
	noClientAuth bool
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
	wasHung := t.hung
	t.hung = false
	if t.ready {
		t.ready = false
		t.readyCh = make(chan struct{})
	}
	for svc := range t.services {
		svc.resetLocked()
	}
	t.mu.Unlock()
	if reason != "control connection lost" && !wasHung {
		// Only a tor that answers: a hung one would hold Close for ever.
		t.forgetClientAuth(s)
	}
	s.close()
	<-s.evtDone
	<-s.handlerDone
	<-probeDone
	return reason
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
