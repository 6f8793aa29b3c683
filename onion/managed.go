package onion

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/ghostwire/ghostwire/onion/internal/torctl"
)

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
	if len(t.cfg.Bridges) > 0 {
		body += bridgeTorrc(t.obfs4proxy)
	}
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
	if len(t.cfg.Bridges) > 0 {
		return applyBridges(s, t.cfg.Bridges)
	}
	return nil
}

// socksFlags are the managed SOCKS socket's flags. OnionTrafficOnly: the
// node dials nothing but onions, so tor refuses anything else even if a bug
// asked. IsolateSOCKSAuth (tor's default, written out so nobody removes it)
// keeps each peer's credentials on circuits of their own. ExtendedErrors
// gives onion failures their own reply codes.
const socksFlags = "OnionTrafficOnly IsolateSOCKSAuth ExtendedErrors"
