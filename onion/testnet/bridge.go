package testnet

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// bridgeLineFile is where obfs4proxy, run by a bridge's tor, writes the
// line clients need, with placeholders for the address and fingerprint.
const bridgeLineFile = "pt_state/obfs4_bridgeline.txt"

// waitBridgeLine waits for the bridge's obfs4 line and fills in its
// address and relay fingerprint.
func (s *starter) waitBridgeLine(ctx context.Context, n Node) (string, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		line, err := bridgeLine(n)
		if err == nil {
			return line, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("testnet: waiting for %s's obfs4 bridge line: %v: %w", n.Name, err, ctx.Err())
		case <-tick.C:
		}
	}
}

// bridgeLine reads a bridge's obfs4 line ("Bridge obfs4 <IP ADDRESS>:<PORT>
// <FINGERPRINT> cert=… iat-mode=0") and fills in what obfs4proxy leaves to
// the operator, without the "Bridge" keyword.
func bridgeLine(n Node) (string, error) {
	fp, err := os.ReadFile(filepath.Join(n.DataDir, "fingerprint"))
	if err != nil {
		return "", err
	}
	f := strings.Fields(string(fp))
	if len(f) != 2 {
		return "", fmt.Errorf("malformed fingerprint file")
	}
	b, err := os.ReadFile(filepath.Join(n.DataDir, bridgeLineFile))
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "Bridge obfs4 ")
		if !ok {
			continue
		}
		l = strings.Replace(l, "<IP ADDRESS>:<PORT>", "127.0.0.1:"+strconv.Itoa(n.OBFS4Port), 1)
		l = strings.Replace(l, "<FINGERPRINT>", f[1], 1)
		return "obfs4 " + l, nil
	}
	return "", fmt.Errorf("no obfs4 line in %s", bridgeLineFile)
}
