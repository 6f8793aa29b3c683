package onion

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/cretz/bine/control"

	"github.com/ghostwire/ghostwire/onion/internal/torctl"
)

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
