package testnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ghostwire/ghostwire/onion/internal/torctl"
)

// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
const stopGrace = 5 * time.Second

// save writes the state file atomically, so that a crash at any point of
// Start leaves a file Load can read and Stop can act on.
func (nw *Network) save() error {
	b, err := json.MarshalIndent(nw, "", "  ")
	if err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	tmp := filepath.Join(nw.Dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(nw.Dir, stateFile)); err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	return nil
}

// Load reads the state of a network started earlier, possibly by another
// process, from its directory. It refuses (ErrUntrustedDir) a directory or
// file that is not this user's or that another user can write, since a
// node's tor would read them. It does not check that the network runs;
// Status does.
func Load(dir string) (*Network, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile)); err != nil {
		return nil, fmt.Errorf("testnet: no network in %s: %w", dir, err)
	}
	if err := checkTrusted(dir, true); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("testnet: no network in %s: %w", dir, err)
	}
	nw := &Network{log: slog.New(slog.DiscardHandler)}
	if err := json.Unmarshal(b, nw); err != nil {
		return nil, fmt.Errorf("testnet: reading %s: %w", stateFile, err)
	}
	if nw.Dir != dir {
		return nil, fmt.Errorf("testnet: state file in %s names %s", dir, nw.Dir)
	}
	if err := nw.checkFiles(); err != nil {
		return nil, err
	}
	return nw, nil
}

// NodeStatus is one node's state as Status sees it.
type NodeStatus struct {
	Node
	Running bool `json:"running"`
	// Bootstrap is the node's bootstrap percentage, -1 when its control
	// port does not answer.
	Bootstrap int    `json:"bootstrap"`
	Summary   string `json:"summary,omitempty"`
}

// Status reports, for every node, whether its process runs and how far it
// has bootstrapped.
func (nw *Network) Status(ctx context.Context) []NodeStatus {
	out := make([]NodeStatus, len(nw.Nodes))
	for i, n := range nw.Nodes {
		st := NodeStatus{Node: n, Running: nw.owns(n.PID), Bootstrap: -1}
		if st.Running {
			if ph, err := bootstrapPhase(ctx, n); err == nil {
				st.Bootstrap, st.Summary = ph.Progress, ph.Summary
			}
		}
		out[i] = st
	}
	return out
}

// owns reports whether pid is a live process of this network: its command
// line names the network's directory. A recycled PID or a zombie (empty
// cmdline) does not qualify, so Stop never signals a stranger.
func (nw *Network) owns(pid int) bool {
	if pid <= 1 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if i := strings.LastIndexByte(string(st), ')'); i > 0 && i+2 < len(st) && st[i+2] == 'Z' {
			return false
		}
	}
	return strings.Contains(string(b), nw.Dir+string(filepath.Separator))
}

// Stop stops every tor of the network and removes its directory. It sends
// SIGTERM, waits up to 5 s, then sends SIGKILL to what is left. It is safe
// on a network that crashed or never finished starting.
func (nw *Network) Stop() error {
	if err := nw.stopProcesses(); err != nil {
		return err
	}
	if err := os.RemoveAll(nw.Dir); err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	return nil
}

func (nw *Network) stopProcesses() error {
	var live []int
	for _, n := range nw.Nodes {
		// PIDs may be missing from a state file written mid-start; the pid
		// file in the data directory is then the only record.
		pid := n.PID
		if pid == 0 {
			pid = readPID(filepath.Join(n.DataDir, "pid"))
		}
		if nw.owns(pid) {
			syscall.Kill(pid, syscall.SIGTERM)
			live = append(live, pid)
		}
	}
	deadline := time.Now().Add(stopGrace)
	for len(live) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		live = nw.stillOwned(live)
	}
	for _, pid := range live {
		nw.log.Warn("testnet: tor ignored SIGTERM, killing", "pid", pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
	for i := 0; i < 40 && len(live) > 0; i++ {
		time.Sleep(50 * time.Millisecond)
		live = nw.stillOwned(live)
	}
	if len(live) > 0 {
		return fmt.Errorf("testnet: processes %v survived SIGKILL", live)
	}
	return nil
}

func (nw *Network) stillOwned(pids []int) []int {
	var out []int
	for _, p := range pids {
		if nw.owns(p) {
			out = append(out, p)
		}
	}
	return out
}

// bootstrapPhase asks a node's control port for its bootstrap phase.
func bootstrapPhase(ctx context.Context, n Node) (torctl.Phase, error) {
	c, err := torctl.Dial(ctx, n.ControlAddr(), torctl.Auth{CookieFile: n.CookieFile()})
	if err != nil {
		return torctl.Phase{}, err
	}
	defer c.Close()
	kv, err := c.GetInfo("status/bootstrap-phase")
	if err != nil {
		return torctl.Phase{}, err
	}
	if len(kv) != 1 {
		return torctl.Phase{}, errors.New("testnet: no bootstrap phase")
	}
	return torctl.ParsePhase(kv[0].Val)
}

// setConf sends one SETCONF command to a node's control port.
func setConf(ctx context.Context, n Node, cmd string) error {
	c, err := torctl.Dial(ctx, n.ControlAddr(), torctl.Auth{CookieFile: n.CookieFile()})
	if err != nil {
		return fmt.Errorf("testnet: %s: %w", n.Name, err)
	}
	defer c.Close()
	if _, err := c.SendRequest("%s", cmd); err != nil {
		return fmt.Errorf("testnet: %s: %s: %w", n.Name, cmd, err)
	}
	return nil
}
