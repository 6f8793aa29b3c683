package onion_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/onion"
	"github.com/ghostwire/ghostwire/testuser"
)

// straceTor writes a script that runs tor under strace, recording every
// connect of tor and the children it starts (obfs4proxy)
// from the first instruction, and returns the script and the trace file.
// Both are in a directory of acct's, who runs the script.
func straceTor(t *testing.T, acct testuser.Account) (script, trace string) {
	t.Helper()
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Fatalf("the bridge trace needs strace (Debian: apt-get install strace; ./run test installs it): %v", err)
	}
	tor, err := exec.LookPath("tor")
	if err != nil {
		tor = "/usr/sbin/tor"
	}
	dir := acct.MkdirOwned(t, filepath.Join(t.TempDir(), "strace"), 0o700)
	trace = filepath.Join(dir, "trace")
	script = filepath.Join(dir, "tor")
	body := "#!/bin/sh\nexec " + strace + " -f -e trace=connect -o " + trace + " " + tor + ` "$@"` + "\n"
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	acct.Own(t, 0o700, script)
	return script, trace
}

var (
	reFamily = regexp.MustCompile(`sa_family=(AF_INET6?)\b`)
	rePort   = regexp.MustCompile(`sin6?_port=htons\((\d+)\)`)
	reAddr   = regexp.MustCompile(`inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"`)
)

// inetCalls lists the IP endpoints of the trace's calls named call as
// "addr:port".
func inetCalls(t *testing.T, trace, call string) []string {
	t.Helper()
	f, err := os.Open(trace)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if !strings.Contains(l, " "+call+"(") || reFamily.FindString(l) == "" {
			continue
		}
		p, a := rePort.FindStringSubmatch(l), reAddr.FindStringSubmatch(l)
		if p == nil || a == nil {
			t.Fatalf("an IP %s the test cannot read: %s", call, l)
		}
		out = append(out, net.JoinHostPort(a[1]+a[2], p[1]))
	}
	return out
}

// TestManagedTorOnlyThroughBridge: a managed tor given only the private
// network's obfs4 bridge reaches a peer's onion and is reached by it, and
// in the whole life of tor and its obfs4proxy (traced from exec) no IP
// connection went anywhere but the bridge's obfs4 port or the obfs4 client
// tor itself started on loopback: not the authorities, not the bridge's
// plain ORPort. The torrc it started with held it off the network until
// the bridges were set. Node A, its tor and obfs4proxy run as the node's
// unprivileged account (bridgeNode); B is a tor of the network.
func TestManagedTorOnlyThroughBridge(t *testing.T) {
	br := network.Bridges()[0]
	if _, err := onion.ParseBridge(br.BridgeLine); err != nil {
		t.Fatalf("the testnet's bridge line %q: %v", br.BridgeLine, err)
	}
	acct := testuser.Node(t)
	script, trace := straceTor(t, acct)
	dataDir := acct.MkdirOwned(t, filepath.Join(t.TempDir(), "a"), 0o700)
	torB := attach(t, 1)
	keyB := newKey(t)
	lnB, err := torB.Listen(context.Background(), keyB)
	if err != nil {
		t.Fatal(err)
	}
	defer lnB.Close()
	go echo(lnB)
	waitReachable(t, lnB.Service)

	testuser.ShareTorrcFiles(t, network.JoinTorrc())
	nodeA, out, stop := asNode(t, "bridge-node", "GW_BASE="+dataDir, "GW_TORRC="+network.JoinTorrc(),
		"GW_BRIDGE="+br.BridgeLine, "GW_TORPATH="+script, "GW_PEER="+keyB.ID().String())
	var ready []string
	for out.Scan() {
		if l, ok := strings.CutPrefix(out.Text(), "READY "); ok {
			ready = strings.Fields(l)
			break
		}
	}
	if len(ready) != 3 {
		nodeA.Process.Kill()
		t.Fatalf("node A did not come up through the bridge: %v", nodeA.Wait())
	}
	idA, err := identity.ParseID(ready[0])
	if err != nil {
		t.Fatal(err)
	}
	torPID, _ := strconv.Atoi(ready[1])
	acct.AssertRuns(t, "node A's tor", torPID)
	if ready[2] != "1" {
		t.Fatalf("Bridges() = %s", ready[2])
	}
	rc, err := os.ReadFile(filepath.Join(dataDir, "torrc"))
	if err != nil || !strings.Contains(string(rc), "DisableNetwork 1\n") || strings.Contains(string(rc), "Bridge ") {
		t.Fatalf("the managed torrc must hold tor off the network and name no bridge (%v):\n%s", err, rc)
	}
	c := dialRetry(t, torB, idA)
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo through the bridge: %q %v", buf, err)
	}
	c.Close()
	local := listeners(t, descendants(t, torPID))
	stop.Close()
	if err := nodeA.Wait(); err != nil {
		t.Fatalf("node A did not stop cleanly: %v", err)
	}

	obfs4 := net.JoinHostPort("127.0.0.1", strconv.Itoa(br.OBFS4Port))
	toBridge, toLocal := 0, 0
	for _, c := range inetCalls(t, trace, "connect") {
		switch {
		case c == obfs4:
			toBridge++
		case local[c] && strings.HasPrefix(c, "127.0.0.1:"):
			toLocal++
		default:
			t.Errorf("tor or obfs4proxy connected to %s: neither the bridge's obfs4 port %s nor one they listen on %v", c, obfs4, local)
		}
	}
	if toBridge == 0 || toLocal == 0 {
		t.Fatalf("trace shows %d connections to the bridge and %d to obfs4proxy's SOCKS port; want both", toBridge, toLocal)
	}
	t.Logf("%d connections to the bridge's obfs4 port, %d to obfs4proxy's local SOCKS port, none elsewhere", toBridge, toLocal)
}

// bridgeNode is node A of TestManagedTorOnlyThroughBridge: a managed tor
// in base with bridge as its only way in, started through torPath (the
// strace script), publishing a fresh identity and echoing. It dials peer
// through the bridge and checks the echo, prints "READY ONION TORPID
// BRIDGES", and runs until stdin closes.
func bridgeNode(base, torrc, bridgeLine, torPath, peer string) int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "bridge node:", err); return 1 }
	bridge, err := onion.ParseBridge(bridgeLine)
	if err != nil {
		return fail(err)
	}
	peerID, err := identity.ParseID(peer)
	if err != nil {
		return fail(err)
	}
	tor, err := onion.Start(onion.Config{DataDir: base, Torrc: torrc, Bridges: []onion.Bridge{bridge}, TorPath: torPath})
	if err != nil {
		return fail(err)
	}
	defer tor.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := tor.WaitReady(ctx); err != nil {
		log, _ := os.ReadFile(filepath.Join(base, "notice.log"))
		out, _ := os.ReadFile(filepath.Join(base, "tor.out"))
		return fail(fmt.Errorf("%v; tor's log:\n%s\n%s", err, log, out))
	}
	key, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		return fail(err)
	}
	ln, err := tor.Listen(ctx, key)
	if err != nil {
		return fail(err)
	}
	defer ln.Close()
	go echo(ln)
	if err := ln.Service.WaitReachable(ctx); err != nil {
		return fail(err)
	}
	var c net.Conn
	for range 40 {
		dctx, dcancel := context.WithTimeout(ctx, 15*time.Second)
		c, err = tor.Dial(dctx, peerID)
		dcancel()
		if err == nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		return fail(fmt.Errorf("dialing the peer through the bridge: %w", err))
	}
	buf := make([]byte, 4)
	if _, err := c.Write([]byte("ping")); err != nil {
		return fail(err)
	}
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		return fail(fmt.Errorf("echo through the bridge: %q %v", buf, err))
	}
	c.Close()
	fmt.Printf("READY %s %d %d\n", key.ID().Onion(), tor.PID(), tor.Bridges())
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// descendants returns pid and every process below it.
func descendants(t *testing.T, pid int) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	parent := map[int]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The fields after the command name, which is in parentheses.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		if f := strings.Fields(rest); len(f) > 1 {
			parent[p], _ = strconv.Atoi(f[1])
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		for p, pp := range parent {
			if pp == out[i] {
				out = append(out, p)
			}
		}
	}
	return out
}

// listeners returns the loopback TCP ports the processes listen on, as
// "127.0.0.1:port" (obfs4proxy's SOCKS port for tor).
func listeners(t *testing.T, pids []int) map[string]bool {
	t.Helper()
	mine := map[string]bool{}
	for _, p := range pids {
		for ino := range socketInodes(t, p) {
			mine[ino] = true
		}
	}
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		fs := strings.Fields(line)
		if len(fs) < 10 || fs[3] != "0A" || !mine[fs[9]] { // 0A: LISTEN
			continue
		}
		addr, port, _ := strings.Cut(fs[1], ":")
		n, err := strconv.ParseUint(port, 16, 16)
		if err != nil || addr != "0100007F" {
			t.Fatalf("a listener of tor or obfs4proxy not on 127.0.0.1: %s", line)
		}
		out[net.JoinHostPort("127.0.0.1", strconv.Itoa(int(n)))] = true
	}
	return out
}
