package testnet

// Starting the tor processes of a network, and their pid files.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// spawnAll starts the nodes in parallel. tor daemonises only after its
// listeners are open, so a zero exit means the node is up and its PidFile
// written; a bind failure exits non-zero and is reported as errPortTaken.
func (s *starter) spawnAll(ctx context.Context, nw *Network, nodes []Node, torrc func(string, Node) string) error {
	errs := make([]error, len(nodes))
	pids := make([]int, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { pids[i], errs[i] = s.spawn(ctx, n, torrc(s.dir, n)) })
	}
	wg.Wait()
	for i, n := range nodes {
		for j := range nw.Nodes {
			if nw.Nodes[j].Name == n.Name && pids[i] > 0 {
				nw.Nodes[j].PID = pids[i]
			}
		}
	}
	if err := nw.save(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (s *starter) spawn(ctx context.Context, n Node, torrc string) (int, error) {
	path := filepath.Join(n.DataDir, "torrc")
	if err := os.WriteFile(path, []byte(torrc), 0o600); err != nil {
		return 0, fmt.Errorf("testnet: %w", err)
	}
	cmd := exec.CommandContext(ctx, s.tor, "-f", path, "--defaults-torrc", "/dev/null")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	// The daemon child writes its PidFile after the parent exits; on a
	// loaded machine (the race-enabled suite on two cores) that has taken
	// longer than 2 s, so wait up to pidWait, polling, and no longer.
	pid := 0
	for deadline := time.Now().Add(pidWait); err == nil && pid == 0 && time.Now().Before(deadline) && ctx.Err() == nil; {
		if pid = readPID(filepath.Join(n.DataDir, "pid")); pid == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err != nil {
		logTail := tail(filepath.Join(n.DataDir, "notice.log"), 2048)
		msg := string(bytes.TrimSpace(out.Bytes())) + " " + logTail
		if strings.Contains(msg, "Address already in use") || strings.Contains(msg, "Could not bind") {
			return pid, fmt.Errorf("%w: %s", errPortTaken, n.Name)
		}
		return pid, fmt.Errorf("testnet: starting %s: %w: %s", n.Name, err, msg)
	}
	if pid == 0 {
		return 0, fmt.Errorf("testnet: %s started but wrote no pid file within %v", n.Name, pidWait)
	}
	return pid, nil
}

// pidWait bounds how long spawn waits for a daemonised tor's PidFile.
const pidWait = 30 * time.Second

func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0
	}
	return pid
}

func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		f.Seek(-n, io.SeekEnd)
	}
	b, _ := io.ReadAll(io.LimitReader(f, n))
	return string(b)
}
