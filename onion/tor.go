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
	"github.com/cretz/bine/process"
	bine "github.com/cretz/bine/tor"

	"github.com/ghostwire/ghostwire/onion/internal/torctl"
)

// ErrTorUnavailable is wrapped by every error that means "tor is not there
// or not ready": not started, bootstrapping, dead, restarting, or its SOCKS
// port refusing connections. Callers wait and retry; they never fall back
// to a direct connection.
var ErrTorUnavailable = errors.New("onion: tor unavailable")

// Implementation constants.
const (
	// restartMin and restartMax bound the backoff between attempts to
	// (re)start or reattach tor.
	restartMin = 1 * time.Second
	restartMax = 30 * time.Second
	// stopGrace is how long a managed tor gets after SIGTERM.
	stopGrace = 5 * time.Second
)

// Config says which tor to use. Exactly one of ControlAddr (attach to a
// running tor) or DataDir (start and own one) must be set.
type Config struct {
	// ControlAddr is the control port of a running tor, "127.0.0.1:9051".
	// Only loopback addresses are accepted.
	ControlAddr string
	// ControlPassword is for HashedControlPassword; empty means cookie or
	// no authentication, whichever tor offers.
	ControlPassword string

	// DataDir is the managed tor's data directory (created 0700).
	DataDir string
	// TorPath is the tor binary; empty means "tor" on PATH, then /usr/sbin/tor.
	TorPath string
	// Torrc is extra configuration for the managed tor: testnet's JoinTorrc
	// to join a private network, or RealNetworkTorrc for the Tor network.
	// Empty means RealNetworkTorrc.
	Torrc string

	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// Progress, if set, is called once per bootstrap phase, from the Tor's
	// own goroutine; it must not block or call back into the Tor.
	Progress func(Progress)
}

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
	dialer  *Dialer
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once

	// mu guards the fields below. Invariant: ready implies sess != nil and
	// readyCh closed; readyCh is replaced (open) whenever ready goes false.
	mu       sync.Mutex
	sess     *session
	phase    Progress
	ready    bool
	readyCh  chan struct{}
	services map[*Service]struct{}
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
		if err := checkLoopback(cfg.ControlAddr); err != nil {
			return nil, fmt.Errorf("onion: control port: %w", err)
		}
	case cfg.DataDir != "":
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

// checkLoopback refuses any address that is not a literal loopback IP and
// port: GhostWire talks to tor on this machine only.
func checkLoopback(hostport string) error {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address", host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("bad port %q", port)
	}
	return nil
}

// Close stops the supervisor, the managed tor (its onion services vanish with
// it) or the control connections to an attached one. It is idempotent.
func (t *Tor) Close() error {
	t.once.Do(func() { close(t.stop) })
	<-t.done
	return nil
}

// Ready reports whether tor is bootstrapped and reachable now.
func (t *Tor) Ready() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ready
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
// opens the command and event connections.
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
		s.cmd, err = torctl.Dial(ctx, s.controlAddr, t.cfg.ControlPassword)
	} else {
		err = t.startManaged(ctx, s)
	}
	if err == nil {
		s.evt, err = torctl.Dial(ctx, s.controlAddr, t.cfg.ControlPassword)
	}
	if err == nil {
		s.socks, err = socksListener(s.cmd)
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// startManaged launches tor through bine with our own process creator, so
// tor's output goes to a file in its data directory rather than to ours, and
// SIGTERM (then SIGKILL after stopGrace) ends it when the session does.
func (t *Tor) startManaged(ctx context.Context, s *session) error {
	dir := t.cfg.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("onion: %w", err)
	}
	// bine leaves one control-port-* file per start; keep only the newest.
	if old, _ := filepath.Glob(filepath.Join(dir, "control-port-*")); len(old) > 0 {
		for _, f := range old {
			os.Remove(f)
		}
	}
	torrc := filepath.Join(dir, "torrc")
	body := "SocksPort 127.0.0.1:auto ExtendedErrors\n" +
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
	creator := process.CmdCreatorFunc(func(ctx context.Context, args ...string) (*exec.Cmd, error) {
		cmd := exec.CommandContext(ctx, t.torPath, args...)
		cmd.Stdout, cmd.Stderr = out, out
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = stopGrace
		// If this process dies, tor dies with it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		s.proc = cmd
		return cmd, nil
	})
	bt, err := bine.Start(ctx, &bine.StartConf{
		ProcessCreator:  creator,
		DataDir:         dir,
		TorrcFile:       torrc,
		NoAutoSocksPort: true,
		EnableNetwork:   true,
		ExtraArgs: []string{"--defaults-torrc", "/dev/null",
			"--__OwningControllerProcess", strconv.Itoa(os.Getpid())},
	})
	if s.proc != nil && s.proc.Process != nil {
		s.procDone = make(chan struct{})
		go func() { s.proc.Wait(); close(s.procDone) }()
	}
	if err != nil {
		return fmt.Errorf("onion: starting tor: %w", err)
	}
	s.cmd = bt.Control
	s.controlAddr = "127.0.0.1:" + strconv.Itoa(bt.ControlPort)
	// Tor exits as soon as this control connection closes, even if we are
	// killed before Pdeathsig or __OwningControllerProcess notice.
	if err := s.cmd.TakeOwnership(); err != nil {
		return fmt.Errorf("onion: TAKEOWNERSHIP: %w", err)
	}
	return nil
}

// socksListener asks tor for its SOCKS port and refuses a non-loopback one.
func socksListener(c *control.Conn) (string, error) {
	kv, err := c.GetInfo("net/listeners/socks")
	if err != nil {
		return "", fmt.Errorf("onion: GETINFO net/listeners/socks: %w", err)
	}
	for _, v := range kv {
		for _, a := range strings.Fields(v.Val) {
			a = strings.Trim(a, `"`)
			if checkLoopback(a) == nil {
				return a, nil
			}
		}
	}
	return "", errors.New("onion: tor has no loopback SOCKS port")
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
