package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/node"
	"github.com/ghostwire/ghostwire/onion/testnet"
)

// TestRunBridgeUsage: a bridge line that does not parse, in a flag or a
// file, stops `run` with a usage error that quotes it, before anything is
// unlocked or started; so does a bridge with an attached tor.
func TestRunBridgeUsage(t *testing.T) {
	dir := t.TempDir()
	gw(t, "", "run", "--data", dir, "--bridge", "obfs4 bridge.example:443").
		expect(t, exitUsage, "", `--bridge "obfs4 bridge.example:443"`)
	gw(t, "", "run", "--data", dir, "--bridge", "meek 192.0.2.1:443").
		expect(t, exitUsage, "", "only obfs4")
	file := filepath.Join(dir, "bridges")
	if err := os.WriteFile(file, []byte("# mine\n192.0.2.1:9001\nnot a bridge\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gw(t, "", "run", "--data", dir, "--bridges-file", file).
		expect(t, exitUsage, "", `line 3 "not a bridge"`)
	if err := os.WriteFile(file, []byte("# nothing but comments\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gw(t, "", "run", "--data", dir, "--bridges-file", file).expect(t, exitUsage, "", "holds no bridge line")
	gw(t, "", "run", "--data", dir, "--tor-control", "unix:/run/tor/control", "--bridge", "192.0.2.1:9001").
		expect(t, exitUsage, "", "set the bridges in the system tor's torrc")
}

// TestLeakBridge: on the private network, a node whose tor has only the
// obfs4 bridge delivers a message to a peer, `status` says so, and the
// strace of the node, its tor and tor's obfs4proxy, from their first
// instruction, shows tor reaching nothing but obfs4proxy's loopback SOCKS
// port and obfs4proxy nothing but the bridge's obfs4 port: no authority, no
// relay, no directory, not the bridge's plain ORPort, at any time, before
// or after the bridges were set. Everything runs as one unprivileged
// account — the network too, since `run --testnet` trusts only a network
// directory of its own user — and the nodes are checked to run as it.
func TestLeakBridge(t *testing.T) {
	requireLeakTools(t, "strace", "unshare", "ip", "tor", "obfs4proxy")
	if !inNetns(t) {
		return
	}
	dir := t.TempDir()
	acct := nodeAccount(t, filepath.Join(dir, "user"))
	netDir := filepath.Join(dir, "user", "net")
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(netDir, "testnet.json")); err == nil {
			if r := gwBoundedAs(t, acct, 30*time.Second, "testnet", "down", "--dir", netDir); r.code != 0 {
				t.Errorf("testnet down: %s", r.stderr)
			}
		}
	})
	gwBoundedAs(t, acct, bridgeTestnetLimit, "testnet", "up", "--dir", netDir, "--clients", "1", "--bridge").ok(t, "testnet up")
	var nodes []testnet.NodeStatus
	if err := json.Unmarshal([]byte(gwBoundedAs(t, acct, 20*time.Second, "testnet", "status", "--dir", netDir, "--json").ok(t, "testnet status")), &nodes); err != nil {
		t.Fatal(err)
	}
	var bridge, bobTor testnet.NodeStatus
	for _, n := range nodes {
		switch n.Role {
		case testnet.RoleBridge:
			bridge = n
		case testnet.RoleClient:
			bobTor = n
		}
	}
	if bridge.BridgeLine == "" || bobTor.ControlPort == 0 {
		t.Fatalf("want a bridge with a bridge line and a client, got %+v", nodes)
	}

	var onions [2]string
	datas := [2]string{filepath.Join(dir, "user", "alice"), filepath.Join(dir, "user", "bob")}
	for i, d := range datas {
		var id idJSON
		if err := json.Unmarshal([]byte(gwBoundedAs(t, acct, 20*time.Second, "init", "--data", d, "--no-passphrase", "--json").ok(t, "init")), &id); err != nil {
			t.Fatal(err)
		}
		onions[i] = id.Onion
	}
	aliceLog := filepath.Join(dir, "alice.strace")
	alice := startTracedAs(t, acct, aliceLog, nil, binPath, "run", "--data", datas[0], "--testnet", netDir, "--bridge", bridge.BridgeLine)
	assertRunsAs(t, alice, acct, "alice")
	bob := startTracedAs(t, acct, filepath.Join(dir, "bob.strace"), nil, binPath, "run", "--data", datas[1],
		"--tor-control", bobTor.ControlAddr(), "--tor-cookie", bobTor.CookieFile())
	assertRunsAs(t, bob, acct, "bob")
	waitTracedReachable(t, acct, "alice", datas[0], alice)
	waitTracedReachable(t, acct, "bob", datas[1], bob)
	if out := gwBoundedAs(t, acct, 10*time.Second, "status", "--data", datas[0]).ok(t, "alice's status"); !strings.Contains(out, "via bridges (1)") {
		t.Errorf("alice's status does not say she uses the bridge:\n%s", out)
	}
	pairAndDeliver(t, acct, datas[0], onions[0], datas[1], onions[1], "bridge test: hello bob")
	for _, p := range []*tracedProc{alice, bob} {
		if err := p.stop(t); err != nil {
			t.Errorf("a node did not exit cleanly on SIGTERM: %v\n%s", err, p.stderr)
		}
	}

	tr := readTrace(t, aliceLog)
	var nodeP, torP, obfsP proc
	for _, p := range tr.procs {
		switch {
		case p.path == binPath && len(p.argv) > 1 && p.argv[1] == "run":
			nodeP = p
		case filepath.Base(p.path) == "tor" && p.parent == nodeP.leader:
			torP = p
		case filepath.Base(p.path) == "obfs4proxy" && p.parent == torP.leader:
			obfsP = p
		}
	}
	if nodeP.leader == 0 || torP.leader == 0 || obfsP.leader == 0 {
		t.Fatalf("want the node, its tor and tor's obfs4proxy in the trace, got %v", tr.procs)
	}
	sockDir := filepath.Join(datas[0], "sock")
	var nodeEvs, torEvs []sockEvent
	for _, ev := range tr.events {
		switch ev.leader {
		case nodeP.leader:
			nodeEvs = append(nodeEvs, ev)
		case torP.leader, obfsP.leader:
			torEvs = append(torEvs, ev)
		case 0:
			t.Errorf("LEAK?: a socket call the log cannot attribute to a program: %s", ev.line)
		}
	}
	unix := []string{filepath.Join(datas[0], "api.sock"), filepath.Join(sockDir, "control"),
		filepath.Join(sockDir, "socks"), filepath.Join(sockDir, "service")}
	for _, l := range leaks(nodeEvs, leakPolicy{unix: unix}) {
		t.Errorf("alice: LEAK: %s", l)
	}
	socks := tr.listeners(obfsP.leader)
	t.Logf("tor and obfs4proxy (obfs4proxy's SOCKS ports %v, bridge obfs4 port %d): %d socket events:\n\t%s",
		socks, bridge.OBFS4Port, len(torEvs), strings.Join(summary(torEvs), "\n\t"))
	toBridge, toObfs, probes := 0, 0, 0
	for i, ev := range torEvs {
		for _, a := range ev.addrs {
			inet := a.family == "AF_INET" || a.family == "AF_INET6"
			switch {
			case !inet || ev.call == "bind" || ev.call == "getsockname":
			case ev.call == "connect" && ev.leader == torP.leader && isRouteProbe(torEvs, i):
				probes++
			case ev.call != "connect":
				t.Errorf("LEAK: %s to %s by %s", ev.call, a, ev.prog)
			case a.addr == "127.0.0.1" && a.port == bridge.OBFS4Port && ev.leader == obfsP.leader:
				toBridge++
			case a.addr == "127.0.0.1" && slices.Contains(socks, a.port) && ev.leader == torP.leader:
				toObfs++
			default:
				t.Errorf("LEAK: %s connected to %s, neither the bridge's obfs4 port nor obfs4proxy's SOCKS port: %s", ev.prog, a, ev.line)
			}
		}
	}
	if toBridge == 0 || toObfs == 0 {
		t.Errorf("%d connects from obfs4proxy to the bridge, %d from tor to obfs4proxy: the trace proves nothing", toBridge, toObfs)
	}
	t.Log(fmt.Sprintf("tor → obfs4proxy ×%d, obfs4proxy → bridge ×%d, tor's interface-address probe (no packet) ×%d, nothing else", toObfs, toBridge, probes))
}

var resultFD = regexp.MustCompile(`\) += (\d+)$`)

// isRouteProbe reports whether the connect at evs[i] is tor's way of
// learning its interface address (get_interface_address6_via_udp_socket_hack
// in tor's address.c): connecting a UDP socket only asks the kernel for a
// route and sends no packet; tor then reads the socket's own address with
// getsockname and closes it. So: the same thread made a datagram socket
// just before, and the connect either failed (no route: nothing can be
// sent on it) or is followed at once by getsockname on it. accept and close
// are not traced, so a later call on the same number may be another socket;
// only the pattern itself is accepted.
func isRouteProbe(evs []sockEvent, i int) bool {
	c := evs[i]
	prev, next := -1, -1
	for j := i - 1; j >= 0 && prev < 0; j-- {
		if evs[j].pid == c.pid {
			prev = j
		}
	}
	for j := i + 1; j < len(evs) && next < 0; j++ {
		if evs[j].pid == c.pid {
			next = j
		}
	}
	// Tor asks for the route to 18.0.0.1, or 2002:: for IPv6, port 9
	// (discard); a datagram to anywhere else is no probe.
	if prev < 0 || len(c.addrs) != 1 || c.addrs[0].port != 9 || (c.addrs[0].addr != "18.0.0.1" && c.addrs[0].addr != "2002::") {
		return false
	}
	m, fd := socketRE.FindStringSubmatch(evs[prev].line), resultFD.FindStringSubmatch(evs[prev].line)
	if evs[prev].call != "socket" || m == nil || m[2] != "SOCK_DGRAM" || fd == nil || fd[1] != strconv.Itoa(c.fd) {
		return false
	}
	return strings.Contains(c.line, "= -1 ENETUNREACH") ||
		next >= 0 && evs[next].call == "getsockname" && evs[next].fd == c.fd
}

// TestE2EOnlyPeers: two nodes that run --only-peers, each with its own
// tor, say so in status, become peers (each add publishes the service
// again, for the new peer set) and exchange messages both ways, and
// neither add restarted tor.
func TestE2EOnlyPeers(t *testing.T) {
	parallelTor(t)
	nw := startNetwork(t, 0)
	alice := newE2ENode(t, "alice", "--testnet", nw.Dir, "--only-peers")
	bob := newE2ENode(t, "bob", "--testnet", nw.Dir, "--only-peers")
	for _, n := range []*e2eNode{alice, bob} {
		n.start(t)
	}
	for _, n := range []*e2eNode{alice, bob} {
		n.waitReachable(t)
	}
	if r := gw(t, "", "status", "--data", alice.data); !strings.Contains(r.stdout, "only peers can reach this node") {
		t.Errorf("alice's status does not say only peers can reach her:\n%s", r.stdout)
	}
	torPID := childNamed(t, alice.cmd.Process.Pid, "tor")
	pair(t, alice, bob)
	var sent node.Message
	alice.cli(t, &sent, "msg", "send", "bob", "hello bob")
	bob.waitMessage(t, "alice", "hello bob", node.StateReceived, node.StateRead)
	bob.cli(t, &sent, "msg", "send", "alice", "hi alice")
	alice.waitMessage(t, "bob", "hi alice", node.StateReceived, node.StateRead)
	if got := childNamed(t, alice.cmd.Process.Pid, "tor"); got != torPID {
		t.Errorf("alice's tor was restarted (%d → %d); adding a peer must only publish again", torPID, got)
	}
	alice.stop(t)
	bob.stop(t)
}
