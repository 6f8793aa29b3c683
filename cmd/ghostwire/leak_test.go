package main

// Leak tests (issues 5 and 7): nothing of GhostWire may leave except
// through tor. The proof runs real ghostwire processes under strace inside a
// network namespace the test creates, so nothing they do can reach the host,
// and checks every socket address the node processes used against the one
// thing they may reach: their own tor's control and SOCKS ports on 127.0.0.1.
//
// How it is arranged: a test that needs a namespace calls inNetns, which
// re-executes the test binary under `unshare -n` with only that test
// selected (TestMain there builds its own ghostwire, offline from the build
// cache) and relays its verdict. Every process the inner test starts is
// killed by its cleanups; the outer process then kills anything still alive
// in the namespace and fails the test if it found something.
//
// One detector, leaks, judges both the real scenario and the planted dials
// of TestLeakDetectorCatchesPlantedDial, so a detector that sees nothing
// cannot make the scenario pass.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/dm"
	"github.com/ghostwire/ghostwire/node"
	"github.com/ghostwire/ghostwire/onion/testnet"
	"github.com/ghostwire/ghostwire/testuser"
)

// Environment of a re-executed test binary.
const (
	// leakOuterNetnsEnv carries the outer process's network namespace
	// ("net:[…]"); its presence means "you are the inner run".
	leakOuterNetnsEnv = "GHOSTWIRE_LEAK_OUTER_NETNS"
	// leakNetnsFileEnv names the file where the inner run writes its own
	// namespace, so the outer run can find leftovers after it exits.
	leakNetnsFileEnv = "GHOSTWIRE_LEAK_NETNS_FILE"
	// leakHelperEnv makes the test binary a planted leak: "mode addr".
	leakHelperEnv = "GHOSTWIRE_LEAK_HELPER"
)

// tracedCalls are the syscalls the strace wrapper records: the socket calls
// that can carry data somewhere, plus what is needed to tell which program
// each PID runs (execve, the clone family) and which port an automatic
// listener got (getsockname).
const tracedCalls = "execve,clone,clone3,fork,vfork,socket,connect,bind,getsockname,sendto,sendmsg,sendmmsg"

// Budgets. The inner run must finish, cleanups included, well inside the
// outer run's limit, because a test binary killed on timeout runs no
// cleanup; the outer run then still kills what it finds in the namespace.
const (
	innerLimit   = 210 * time.Second
	testnetLimit = 60 * time.Second
	// bridgeTestnetLimit: a network with the obfs4 bridge took 61 s (run
	// as root) and 68 s (as the node's account) to start on the shared
	// 2-core machine at a load average near 30; the bridge alone sat at
	// "Starting" for most of it.
	bridgeTestnetLimit = 100 * time.Second
	reachableLimit     = 45 * time.Second
	deliveryLimit      = 90 * time.Second
	demoLimit          = 100 * time.Second
	stopLimit          = 15 * time.Second
	pollEvery          = 250 * time.Millisecond
)

// init turns the test binary into a planted leak when asked; it runs before
// TestMain, so the helper neither builds nor tests anything.
func init() {
	if v := os.Getenv(leakHelperEnv); v != "" {
		plantLeak(v)
		os.Exit(0)
	}
}

// plantLeak does one forbidden (or, for the controls, allowed) thing. Errors
// such as "connection refused" do not matter: the syscall was made.
func plantLeak(spec string) {
	mode, addr, _ := strings.Cut(spec, " ")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var err error
	switch mode {
	case "tcp", "unix":
		var c net.Conn
		c, err = (&net.Dialer{}).DialContext(ctx, mode, addr)
		if err == nil {
			c.Close()
		}
	case "udp-sendto":
		var pc net.PacketConn
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err == nil {
			var ua *net.UDPAddr
			if ua, err = net.ResolveUDPAddr("udp", addr); err == nil {
				_, err = pc.WriteTo([]byte("planted"), ua)
			}
			pc.Close()
		}
	case "udp-connect":
		var c net.Conn
		c, err = net.Dial("udp", addr)
		if err == nil {
			_, err = c.Write([]byte("planted"))
			c.Close()
		}
	case "lookup":
		r := &net.Resolver{PreferGo: true}
		_, err = r.LookupHost(ctx, addr)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "planted leak:", err)
	}
}

// ---- the detector ----

// sockaddr is one socket address as strace prints it.
type sockaddr struct {
	family string // "AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK", …
	addr   string // IP address, or Unix path ("@name" for the abstract namespace)
	port   int
}

func (a sockaddr) String() string {
	switch a.family {
	case "AF_INET", "AF_INET6":
		return a.family + " " + net.JoinHostPort(a.addr, strconv.Itoa(a.port))
	case "AF_UNIX":
		return "AF_UNIX " + a.addr
	}
	return a.family
}

// sockEvent is one traced socket syscall.
type sockEvent struct {
	pid   int        // the thread that made the call
	fd    int        // its first argument (-1 for socket)
	call  string     // connect, bind, getsockname, sendto, sendmsg, sendmmsg, socket
	addrs []sockaddr // addresses in the arguments (several for sendmmsg)
	// bad is set when an address-carrying argument could not be read; the
	// detector fails closed on it.
	bad bool
	// leader is the thread whose execve gave pid its program (the process,
	// once it has exec'd; 0 when the log does not say), prog that program:
	// path and argv[1].
	leader int
	prog   string
	line   string
}

// proc is one program image in the log: a successful execve.
type proc struct {
	leader int      // the thread that called execve
	parent int      // the leader of the process that started it (0: strace)
	path   string   // the executed file
	argv   []string // as far as strace printed it
}

// trace is a parsed strace -f log.
type trace struct {
	events []sockEvent
	procs  []proc // every successful execve, in order
}

// name is the program's path and argv[1]: "/usr/sbin/tor -f", "…/ghostwire run".
func (p proc) name() string {
	if len(p.argv) > 1 {
		return p.path + " " + p.argv[1]
	}
	return p.path
}

func (p proc) String() string { return fmt.Sprintf("%d %s", p.leader, p.name()) }

// arg returns the value after flag in p's argv, "" if absent.
func (p proc) arg(flag string) string {
	for i := 1; i+1 < len(p.argv); i++ {
		if p.argv[i] == flag {
			return p.argv[i+1]
		}
	}
	return ""
}

var (
	lineRE    = regexp.MustCompile(`^(\d+) +(.*)$`)
	callRE    = regexp.MustCompile(`^([a-z0-9_]+)\((.*)$`)
	resumedRE = regexp.MustCompile(`^<\.\.\. ([a-z0-9_]+) resumed>(.*)$`)
	resultRE  = regexp.MustCompile(`\) += (-?\d+|\?)`)
	familyRE  = regexp.MustCompile(`^\{sa_family=(AF_[A-Z0-9]+)`)
	inPortRE  = regexp.MustCompile(`sin6?_port=htons\((\d+)\)`)
	in4RE     = regexp.MustCompile(`sin_addr=inet_addr\("([^"]*)"\)`)
	in6RE     = regexp.MustCompile(`inet_pton\(AF_INET6, "([^"]*)"`)
	unixRE    = regexp.MustCompile(`sun_path=(@?)"((?:[^"\\]|\\.)*)"`)
	quotedRE  = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)
	socketRE  = regexp.MustCompile(`socket\((AF_[A-Z0-9]+), (SOCK_[A-Z]+)`)
)

// outsideQuotes returns s with every quoted string blanked, so a payload
// such as sendto's buffer cannot pose as an address.
func outsideQuotes(s string) string {
	b := []byte(s)
	in := false
	for i := 0; i < len(b); i++ {
		switch {
		case in && b[i] == '\\':
			b[i] = ' '
			if i+1 < len(b) {
				i++
				b[i] = ' '
			}
		case b[i] == '"':
			in = !in
		case in:
			b[i] = ' '
		}
	}
	return string(b)
}

// parseSockaddrs finds every "{sa_family=…}" outside quoted strings.
func parseSockaddrs(args string) (out []sockaddr, ok bool) {
	blank := outsideQuotes(args)
	ok = true
	for i := 0; ; {
		j := strings.Index(blank[i:], "{sa_family=")
		if j < 0 {
			return out, ok
		}
		start := i + j
		end := strings.IndexByte(blank[start:], '}')
		if end < 0 {
			return out, false
		}
		end += start + 1
		raw := args[start:end]
		m := familyRE.FindStringSubmatch(raw)
		if m == nil {
			return out, false
		}
		a := sockaddr{family: m[1]}
		switch a.family {
		case "AF_INET", "AF_INET6":
			p := inPortRE.FindStringSubmatch(raw)
			ip := in4RE.FindStringSubmatch(raw)
			if a.family == "AF_INET6" {
				ip = in6RE.FindStringSubmatch(raw)
			}
			if p == nil || ip == nil {
				ok = false
				break
			}
			a.port, _ = strconv.Atoi(p[1])
			a.addr = ip[1]
		case "AF_UNIX":
			u := unixRE.FindStringSubmatch(raw)
			if u == nil {
				// An unnamed (autobound) Unix address has no sun_path.
				a.addr = ""
				break
			}
			path, err := strconv.Unquote(`"` + u[2] + `"`)
			if err != nil {
				ok = false
			}
			a.addr = u[1] + path
		}
		out = append(out, a)
		i = end
	}
}

// parseTrace reads an `strace -f -o` log of tracedCalls and attributes
// every event to the program its thread ran at that moment: the thread's
// last execve, else whatever its parent ran when it cloned it (threads, and
// forked children before their exec). strace may print a call in two
// pieces, "<unfinished ...>" and "<... call resumed>", and may print a
// child's first lines before its parent's clone returns; attribution
// therefore runs after the whole log is read.
func parseTrace(log []byte) (*trace, error) {
	type pending struct {
		call, args string
		idx        int
	}
	type execAt struct {
		idx  int
		proc int // index in tr.procs
	}
	type parentAt struct{ tid, idx int }
	var (
		tr      trace
		open    = map[int]pending{}
		execs   = map[int][]execAt{}
		parents = map[int]parentAt{}
		evIdx   []int
	)
	result := func(s string) string {
		if m := resultRE.FindStringSubmatch(s); m != nil {
			return m[1]
		}
		return ""
	}
	addEvent := func(tid int, call, args, line string, idx int) {
		ev := sockEvent{pid: tid, fd: -1, call: call, line: line}
		if call != "socket" {
			fd, _, _ := strings.Cut(args, ",")
			if n, err := strconv.Atoi(strings.TrimSpace(fd)); err == nil {
				ev.fd = n
			}
			addrs, ok := parseSockaddrs(args)
			ev.addrs, ev.bad = addrs, !ok
			if (call == "connect" || call == "bind") && len(addrs) != 1 {
				ev.bad = true
			}
		}
		tr.events = append(tr.events, ev)
		evIdx = append(evIdx, idx)
	}
	finish := func(tid int, call, args, res string, idx int) {
		switch call {
		case "execve":
			if res != "0" {
				return // a failed try, such as a PATH search
			}
			var argv []string
			if lb, rb := strings.IndexByte(args, '['), strings.IndexByte(args, ']'); lb >= 0 && rb > lb {
				for _, q := range quotedRE.FindAllStringSubmatch(args[lb:rb], -1) {
					argv = append(argv, q[1])
				}
			}
			q := quotedRE.FindStringSubmatch(args)
			if q == nil {
				return
			}
			execs[tid] = append(execs[tid], execAt{idx, len(tr.procs)})
			tr.procs = append(tr.procs, proc{leader: tid, path: q[1], argv: argv})
		case "clone", "clone3", "fork", "vfork":
			if child, err := strconv.Atoi(res); err == nil && child > 0 {
				parents[child] = parentAt{tid, idx}
			}
		}
	}
	for idx, l := range strings.Split(string(log), "\n") {
		m := lineRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		tid, _ := strconv.Atoi(m[1])
		rest := m[2]
		if r := resumedRE.FindStringSubmatch(rest); r != nil {
			p, ok := open[tid]
			if !ok || p.call != r[1] {
				continue
			}
			delete(open, tid)
			if p.call == "getsockname" {
				// Its address is an output: it is on the resumed line.
				addEvent(tid, p.call, strings.TrimSuffix(p.args, "<unfinished ...>")+r[2], l, p.idx)
				continue
			}
			finish(tid, p.call, p.args, result(rest), p.idx)
			continue
		}
		c := callRE.FindStringSubmatch(rest)
		if c == nil {
			continue // "--- SIGURG …", "+++ exited …"
		}
		call, args := c[1], c[2]
		unfinished := strings.HasSuffix(args, "<unfinished ...>")
		switch call {
		case "execve", "clone", "clone3", "fork", "vfork":
			if unfinished {
				open[tid] = pending{call, args, idx}
			} else {
				finish(tid, call, args, result(rest), idx)
			}
		case "getsockname":
			if unfinished {
				open[tid] = pending{call, args, idx}
			} else {
				addEvent(tid, call, args, l, idx)
			}
		case "connect", "bind", "sendto", "sendmsg", "sendmmsg", "socket":
			// Their addresses are inputs, printed before any wait.
			addEvent(tid, call, args, l, idx)
		}
	}
	// leaderAt is the execve (index in tr.procs) that tid's program came
	// from at line idx, -1 if the log does not say.
	var leaderAt func(tid, idx, depth int) int
	leaderAt = func(tid, idx, depth int) int {
		if depth > 256 {
			return -1
		}
		for i := len(execs[tid]) - 1; i >= 0; i-- {
			if execs[tid][i].idx <= idx {
				return execs[tid][i].proc
			}
		}
		if p, ok := parents[tid]; ok {
			return leaderAt(p.tid, p.idx, depth+1)
		}
		return -1
	}
	for tid, es := range execs {
		for _, e := range es {
			if p, ok := parents[tid]; ok {
				if i := leaderAt(p.tid, p.idx, 0); i >= 0 {
					tr.procs[e.proc].parent = tr.procs[i].leader
				}
			}
		}
	}
	for i := range tr.events {
		if p := leaderAt(tr.events[i].pid, evIdx[i], 0); p >= 0 {
			tr.events[i].leader, tr.events[i].prog = tr.procs[p].leader, tr.procs[p].name()
		}
	}
	if len(tr.procs) == 0 {
		return nil, errors.New("strace log has no successful execve: not a log of a traced command")
	}
	return &tr, nil
}

// listeners returns the TCP ports leader's process listened on: explicit
// ports it bound, and for port-0 binds ("auto" in a torrc) the port
// getsockname then reported on the same descriptor.
func (tr *trace) listeners(leader int) []int {
	var ports []int
	bound := map[int]bool{} // fds bound to port 0
	for _, ev := range tr.events {
		if ev.leader != leader || len(ev.addrs) != 1 {
			continue
		}
		a := ev.addrs[0]
		inet := a.family == "AF_INET" || a.family == "AF_INET6"
		switch {
		case ev.call == "bind" && inet && a.port != 0:
			ports = append(ports, a.port)
		case ev.call == "bind":
			bound[ev.fd] = inet
		case ev.call == "connect":
			bound[ev.fd] = false // an outgoing socket's own port is no listener
		case ev.call == "getsockname" && inet && bound[ev.fd]:
			ports = append(ports, a.port)
			bound[ev.fd] = false
		}
	}
	slices.Sort(ports)
	return slices.Compact(ports)
}

// leakPolicy is everything one traced GhostWire process may reach.
type leakPolicy struct {
	// tcp lists the ports on 127.0.0.1 it may connect to: its tor's control
	// and SOCKS ports.
	tcp []int
	// unix lists the Unix socket paths it may bind, connect or send to.
	unix []string
}

func isLoopback(ip string) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && a.Unmap().IsLoopback()
}

// leaks is the one detector: it returns a sentence for every event that
// breaks p. Fail closed: an address it cannot read is a leak.
//   - connect: only AF_UNIX to p.unix, or AF_INET 127.0.0.1 on a p.tcp port.
//   - sendto, sendmsg, sendmmsg: no address (a connected socket, judged at
//     its connect), AF_NETLINK (the kernel), or AF_UNIX to p.unix.
//   - bind: loopback addresses (listeners tor forwards to, Go's IPv6 probe),
//     AF_UNIX in p.unix, AF_NETLINK. A wildcard bind would expose the node.
//   - socket: no inet datagram or raw socket, and no packet socket.
func leaks(evs []sockEvent, p leakPolicy) []string {
	var out []string
	flag := func(ev sockEvent, why string) {
		out = append(out, fmt.Sprintf("%s (pid %d, %s): %s", why, ev.pid, ev.prog, ev.line))
	}
	dns := func(a sockaddr) string {
		if a.port == 53 {
			return " (port 53: DNS)"
		}
		return ""
	}
	for _, ev := range evs {
		if ev.bad {
			flag(ev, ev.call+" with an address the detector cannot read")
			continue
		}
		switch ev.call {
		case "socket":
			m := socketRE.FindStringSubmatch(ev.line)
			switch {
			case m == nil:
				flag(ev, "socket of a kind the detector cannot read")
			case (m[1] == "AF_INET" || m[1] == "AF_INET6") && (m[2] == "SOCK_DGRAM" || m[2] == "SOCK_RAW"):
				flag(ev, "inet datagram or raw socket")
			case m[1] == "AF_PACKET":
				flag(ev, "packet socket")
			}
		case "connect":
			a := ev.addrs[0]
			switch {
			case a.family == "AF_UNIX" && slices.Contains(p.unix, a.addr):
			case a.family == "AF_INET" && a.addr == "127.0.0.1" && slices.Contains(p.tcp, a.port):
			default:
				flag(ev, "connect to "+a.String()+dns(a)+", not this node's tor")
			}
		case "bind":
			a := ev.addrs[0]
			switch {
			case (a.family == "AF_INET" || a.family == "AF_INET6") && isLoopback(a.addr):
			case a.family == "AF_UNIX" && slices.Contains(p.unix, a.addr):
			case a.family == "AF_NETLINK":
			default:
				flag(ev, "bind to "+a.String())
			}
		case "sendto", "sendmsg", "sendmmsg":
			for _, a := range ev.addrs {
				switch {
				case a.family == "AF_NETLINK":
				case a.family == "AF_UNIX" && slices.Contains(p.unix, a.addr):
				default:
					flag(ev, ev.call+" to "+a.String()+dns(a))
				}
			}
		}
	}
	return out
}

// summary counts the traced socket calls by kind and address,
// "connect AF_INET 127.0.0.1:9050 ×12", for the log: what the node did, not
// only that it broke no rule.
func summary(evs []sockEvent) []string {
	n := map[string]int{}
	for _, ev := range evs {
		switch {
		case ev.call == "socket":
			if m := socketRE.FindStringSubmatch(ev.line); m != nil {
				n["socket "+m[1]+" "+m[2]]++
			} else {
				n["socket ?"]++
			}
		case ev.call == "getsockname":
			n["getsockname (its own address)"]++
		case len(ev.addrs) == 0:
			n[ev.call+" (no address)"]++
		default:
			for _, a := range ev.addrs {
				n[ev.call+" "+a.String()]++
			}
		}
	}
	var out []string
	for k, v := range n {
		out = append(out, fmt.Sprintf("%s ×%d", k, v))
	}
	slices.Sort(out)
	return out
}

// countUnixConnects counts connects to the Unix socket path.
func countUnixConnects(evs []sockEvent, path string) int {
	c := 0
	for _, ev := range evs {
		if ev.call == "connect" && len(ev.addrs) == 1 && ev.addrs[0].family == "AF_UNIX" && ev.addrs[0].addr == path {
			c++
		}
	}
	return c
}

// ---- the namespace ----

// requireLeakTools fails (never skips) when the test cannot prove anything.
func requireLeakTools(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("leak test: must run as root to create a network namespace (unshare -n); run the tests as root")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("leak test: %s is not installed (%v); install it (Debian: apt-get install strace iproute2 util-linux tor)", tool, err)
		}
	}
}

// inNetns reports whether the caller is the copy of its test that runs in
// a fresh network namespace. Called in the outer process, it runs that copy
// under `unshare -n`, relays its output and verdict, kills whatever the copy
// left running in its namespace (failing the test if anything was), and
// returns false. Called in the copy, it checks that the namespace is new and
// brings lo up.
func inNetns(t *testing.T) bool {
	t.Helper()
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatalf("leak test: reading /proc/self/ns/net: %v", err)
	}
	if outer := os.Getenv(leakOuterNetnsEnv); outer != "" {
		checkBaseline(t)
		if self == outer {
			t.Fatalf("leak test: the inner run is still in the outer network namespace %s", self)
		}
		if f := os.Getenv(leakNetnsFileEnv); f != "" {
			if err := os.WriteFile(f, []byte(self), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
			t.Fatalf("leak test: ip link set lo up: %v\n%s", err, out)
		}
		out, err := exec.Command("ip", "-o", "link", "show").CombinedOutput()
		if err != nil {
			t.Fatalf("leak test: ip link show: %v\n%s", err, out)
		}
		if links := strings.Count(strings.TrimSpace(string(out)), "\n") + 1; links != 1 || !strings.Contains(string(out), ": lo:") {
			t.Fatalf("leak test: the namespace should hold only lo, it holds:\n%s", out)
		}
		return true
	}

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	nsFile := filepath.Join(t.TempDir(), "netns")
	ctx, cancel := context.WithTimeout(context.Background(), innerLimit+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-n", "--", exe,
		"-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v",
		"-test.timeout="+(innerLimit+20*time.Second).String())
	cmd.Env = append(os.Environ(), leakOuterNetnsEnv+"="+self, leakNetnsFileEnv+"="+nsFile)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	if ns, err := os.ReadFile(nsFile); err == nil {
		if left := killNetns(string(ns)); len(left) > 0 {
			t.Errorf("leak test: processes left running in the test's namespace, now killed: %v", left)
		}
	}
	t.Logf("inner run in a new network namespace:\n%s", out.String())
	if runErr != nil {
		t.Fatalf("leak test: the inner run failed: %v (its output is above)", runErr)
	}
	if !strings.Contains(out.String(), "--- PASS: "+t.Name()) {
		t.Fatal("leak test: the inner run did not report a pass for " + t.Name())
	}
	return false
}

// checkBaseline registers a cleanup that runs after every later one and
// fails the test if goroutines or file descriptors outlive it. In the
// group of tor tests that run at once (parallelTor), the group checks
// when its last running member ends.
func checkBaseline(t *testing.T) {
	if inTorGroup(t) {
		return
	}
	g0, f0 := runtime.NumGoroutine(), openFDs()
	t.Cleanup(func() {
		if g, f, ok := settle(g0, f0); !ok {
			t.Errorf("leak test: %d goroutines and %d fds at the end, %d and %d at the start", g, f, g0, f0)
		}
	})
}

// settle waits up to 5 s for the process's goroutines and fds to fall
// back to g0 and f0, and returns the last counts.
func settle(g0, f0 int) (g, f int, ok bool) {
	for i := 0; i < 100; i++ {
		if g, f = runtime.NumGoroutine(), openFDs(); g <= g0 && f <= f0 {
			return g, f, true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return g, f, false
}

func openFDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

// killNetns SIGKILLs every process whose network namespace is ns and
// returns "pid comm" for each.
func killNetns(ns string) []string {
	var killed []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if l, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns/net")); err != nil || l != ns {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed = append(killed, fmt.Sprintf("%d %s", pid, strings.TrimSpace(string(comm))))
		}
	}
	return killed
}

// ---- processes ----

// gwBounded runs the built binary with a time limit; on expiry it sends
// SIGINT (ghostwire then stops what it started) and kills after a grace.
func gwBounded(t *testing.T, limit time.Duration, args ...string) result {
	t.Helper()
	return gwBoundedAs(t, testuser.Account{}, limit, args...)
}

// gwBoundedAs is gwBounded run as acct (the zero Account: this process's
// user).
func gwBoundedAs(t *testing.T, acct testuser.Account, limit time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	acct.Start(cmd)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("ghostwire %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("ghostwire %v: no answer within %s\nstderr: %s", args, limit, e.String())
	}
	return result{code, o.String(), e.String()}
}

func (r result) ok(t *testing.T, what string) string {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", what, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// tracedProc is a command running under the strace wrapper.
type tracedProc struct {
	cmd    *exec.Cmd
	log    string // strace output
	stderr *bytes.Buffer
	done   chan struct{}
	err    error // valid after done
}

// startTraced runs argv under `strace -f` into log. Cleanup kills strace and
// its tracee if the test did not stop them.
func startTraced(t *testing.T, log string, env []string, argv ...string) *tracedProc {
	t.Helper()
	return startTracedAs(t, testuser.Account{}, log, env, argv...)
}

// startTracedAs is startTraced with the tracee run as acct (strace -u: real,
// effective and saved IDs and the supplementary groups of that account), or
// as this process's user for the zero Account.
func startTracedAs(t *testing.T, acct testuser.Account, log string, env []string, argv ...string) *tracedProc {
	t.Helper()
	args := []string{"-f", "--seccomp-bpf", "-s", "256", "-e", "trace=" + tracedCalls, "-o", log}
	if acct.Switches() {
		args = append(args, "-u", acct.Name)
	}
	args = append(append(args, "--"), argv...)
	p := &tracedProc{cmd: exec.Command("strace", args...), log: log, stderr: new(bytes.Buffer), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stderr, p.stderr
	// If this test process dies, strace dies with it, and a tracee whose
	// tracer is gone is killed below by the namespace sweep at the latest.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("leak test: starting strace: %v", err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		if pid := p.tracee(); pid > 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// tracee is the PID strace started (its only direct child), 0 if none yet.
func (p *tracedProc) tracee() int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", p.cmd.Process.Pid, p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 1 {
		return 0
	}
	pid, _ := strconv.Atoi(f[0])
	return pid
}

// wait waits for strace to exit; strace exits with its tracee's status.
func (p *tracedProc) wait(t *testing.T, limit time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(limit):
		t.Fatalf("leak test: %v did not exit within %s", p.cmd.Args, limit)
		return nil
	}
}

// waitOrInterrupt waits for the traced command; past limit it sends SIGINT
// (ghostwire then stops what it started) and fails the test.
func (p *tracedProc) waitOrInterrupt(t *testing.T, limit time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(limit):
	}
	if pid := p.tracee(); pid > 0 {
		syscall.Kill(pid, syscall.SIGINT)
	}
	p.wait(t, 2*stopLimit)
	t.Fatalf("leak test: %v did not finish within %s; interrupted\n%s", p.cmd.Args, limit, p.stderr)
	return nil
}

// stop sends SIGTERM to the tracee and waits for it.
func (p *tracedProc) stop(t *testing.T) error {
	t.Helper()
	pid := p.tracee()
	if pid <= 0 {
		t.Fatalf("leak test: no traced process under strace pid %d", p.cmd.Process.Pid)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("leak test: SIGTERM to %d: %v", pid, err)
	}
	return p.wait(t, stopLimit)
}

// readTrace parses a finished strace log.
func readTrace(t *testing.T, log string) *trace {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatalf("leak test: %v", err)
	}
	tr, err := parseTrace(b)
	if err != nil {
		t.Fatalf("leak test: %s: %v", log, err)
	}
	return tr
}

// poll calls cond until it reports done, at most limit/pollEvery times.
func poll(t *testing.T, what string, limit time.Duration, cond func() (bool, string)) {
	t.Helper()
	last := ""
	for i := 0; i <= int(limit/pollEvery); i++ {
		done, state := cond()
		if done {
			return
		}
		last = state
		time.Sleep(pollEvery)
	}
	t.Fatalf("leak test: %s: not done within %s; last state: %s", what, limit, last)
}

// ---- the tests ----

// TestLeakDetectorCatchesPlantedDial is the anti-test: the same strace
// wrapper and the same detector as TestLeakTwoPeers, applied to a helper
// that dials where a node must not, flag each planted leak — and flag
// nothing for the allowed controls, so the detector is not simply failing
// everything.
func TestLeakDetectorCatchesPlantedDial(t *testing.T) {
	requireLeakTools(t, "strace", "unshare", "ip")
	if !inNetns(t) {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "api.sock")
	policy := leakPolicy{tcp: []int{9050, 9051}, unix: []string{sock}}
	cases := []struct {
		name, spec string
		want       string // "" means: must not be flagged
	}{
		{"direct tcp dial", "tcp 127.0.0.2:9", "connect to AF_INET 127.0.0.2:9"},
		{"tor's socks port on another loopback address", "tcp 127.0.0.2:9050", "connect to AF_INET 127.0.0.2:9050"},
		{"ipv6 dial", "tcp [::1]:9050", "connect to AF_INET6 [::1]:9050"},
		{"udp datagram to port 53", "udp-sendto 127.0.0.1:53", "sendto to AF_INET 127.0.0.1:53 (port 53: DNS)"},
		{"connected udp to port 53", "udp-connect 127.0.0.1:53", "connect to AF_INET 127.0.0.1:53 (port 53: DNS)"},
		{"hostname lookup", "lookup leak.ghostwire.invalid", "(port 53: DNS)"},
		{"another unix socket", "unix " + filepath.Join(dir, "other.sock"), "connect to AF_UNIX " + filepath.Join(dir, "other.sock")},
		{"control: tor's socks port", "tcp 127.0.0.1:9050", ""},
		{"control: the api socket", "unix " + sock, ""},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			log := filepath.Join(dir, fmt.Sprintf("helper%d.strace", i))
			p := startTraced(t, log, []string{leakHelperEnv + "=" + c.spec}, exe)
			if err := p.wait(t, 20*time.Second); err != nil {
				t.Fatalf("helper: %v\n%s", err, p.stderr)
			}
			tr := readTrace(t, log)
			found := leaks(tr.events, policy)
			t.Logf("traced: %v", summary(tr.events))
			if c.want == "" {
				if len(found) != 0 {
					t.Fatalf("allowed traffic flagged:\n%s", strings.Join(found, "\n"))
				}
				if !slices.ContainsFunc(tr.events, func(e sockEvent) bool { return e.call == "connect" }) {
					t.Fatal("the control made no connect: the trace caught nothing")
				}
				return
			}
			i := slices.IndexFunc(found, func(s string) bool { return strings.Contains(s, c.want) })
			if i < 0 {
				t.Fatalf("planted leak not flagged as %q; detector said:\n%s\nhelper: %s", c.want, strings.Join(found, "\n"), p.stderr)
			}
			t.Logf("flagged: %s", found[i])
		})
	}
}

// TestLeakDetectorParse pins the parser on lines strace 6 prints: split
// calls, a child logged before its parent's clone returns, a failed execve,
// an automatic listener port, and a payload that pretends to be an address.
func TestLeakDetectorParse(t *testing.T) {
	log := `100 execve("/tmp/gw/ghostwire", ["/tmp/gw/ghostwire", "run", "--data", "/tmp/a"], 0x7ffd /* 20 vars */) = 0
100 clone(child_stack=0xc000, flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_SYSVSEM|CLONE_THREAD|CLONE_SETTLS, tls=0xc0000) = 101
101 connect(3, {sa_family=AF_INET, sin_port=htons(9050), sin_addr=inet_addr("127.0.0.1")}, 16) = -1 EINPROGRESS (Operation now in progress)
101 sendto(4, "{sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr(\"8.8.8.8\")}", 70, 0, NULL, 0) = 70
100 clone3({flags=CLONE_VM|CLONE_PIDFD|CLONE_VFORK|CLONE_CLEAR_SIGHAND, exit_signal=SIGCHLD, stack=0x0, stack_size=0x0}, 88 <unfinished ...>
102 execve("/usr/local/bin/tor", ["tor", "-f", "/tmp/a/torrc"], 0x7ffd /* 20 vars */) = -1 ENOENT (No such file or directory)
102 execve("/usr/sbin/tor", ["tor", "-f", "/tmp/a/torrc"], 0x7ffd /* 20 vars */ <unfinished ...>
102 <... execve resumed>)             = 0
100 <... clone3 resumed>) = 102
102 bind(6, {sa_family=AF_INET, sin_port=htons(0), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
102 getsockname(6,  <unfinished ...>
102 <... getsockname resumed>{sa_family=AF_INET, sin_port=htons(41823), sin_addr=inet_addr("127.0.0.1")}, [128 => 16]) = 0
102 bind(7, {sa_family=AF_INET, sin_port=htons(5000), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
102 connect(5, {sa_family=AF_INET6, sin6_port=htons(53), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28 <unfinished ...>
102 <... connect resumed>) = -1 ECONNREFUSED (Connection refused)
102 getsockname(5, {sa_family=AF_INET6, sin6_port=htons(40000), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, [128 => 28]) = 0
101 connect(6, {sa_family=AF_UNIX, sun_path="/tmp/a/api.sock"}, 110) = 0
101 bind(7, {sa_family=AF_INET, sin_port=htons(0), sin_addr=inet_addr("0.0.0.0")}, 16) = 0
101 sendmsg(8, {msg_name={sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.0.0.1")}, msg_namelen=16, msg_iov=[{iov_base="x", iov_len=1}], msg_iovlen=1, msg_controllen=0, msg_flags=0}, 0) = 1
101 connect(9, {sa_family=AF_INET, sin_port=htons(9050)}, 16) = 0
101 socket(AF_INET, SOCK_DGRAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_IP) = 10
103 connect(3, {sa_family=AF_INET, sin_port=htons(9050), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
101 +++ exited with 0 +++
`
	tr, err := parseTrace([]byte(log))
	if err != nil {
		t.Fatal(err)
	}
	if want := "[100 /tmp/gw/ghostwire run 102 /usr/sbin/tor -f]"; fmt.Sprint(tr.procs) != want {
		t.Errorf("procs %v, want %s", tr.procs, want)
	}
	if tr.procs[1].parent != 100 || tr.procs[0].arg("--data") != "/tmp/a" {
		t.Errorf("tor's parent %d, want 100; --data %q", tr.procs[1].parent, tr.procs[0].arg("--data"))
	}
	type got struct {
		pid, fd, leader int
		call            string
		n               int
		bad             bool
	}
	want := []got{
		{101, 3, 100, "connect", 1, false},
		{101, 4, 100, "sendto", 0, false}, // the payload is not an address
		{102, 6, 102, "bind", 1, false},
		{102, 6, 102, "getsockname", 1, false},
		{102, 7, 102, "bind", 1, false},
		{102, 5, 102, "connect", 1, false},
		{102, 5, 102, "getsockname", 1, false},
		{101, 6, 100, "connect", 1, false},
		{101, 7, 100, "bind", 1, false},
		{101, 8, 100, "sendmsg", 1, false},
		{101, 9, 100, "connect", 1, true}, // no address: fail closed
		{101, -1, 100, "socket", 0, false},
		{103, 3, 0, "connect", 1, false}, // a thread the log never introduced
	}
	if len(tr.events) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(tr.events), len(want), tr.events)
	}
	for i, w := range want {
		e := tr.events[i]
		if g := (got{e.pid, e.fd, e.leader, e.call, len(e.addrs), e.bad}); g != w {
			t.Errorf("event %d: got %+v, want %+v", i, g, w)
		}
	}
	if l := tr.listeners(102); !slices.Equal(l, []int{5000, 41823}) {
		t.Errorf("tor's listeners %v, want [5000 41823] (not the port of its outgoing socket)", l)
	}
	var node []sockEvent
	for _, e := range tr.events {
		if e.leader == 100 {
			node = append(node, e)
		}
	}
	found := leaks(node, leakPolicy{tcp: []int{9050}, unix: []string{"/tmp/a/api.sock"}})
	wantLeaks := []string{
		"bind to AF_INET 0.0.0.0:0",
		"sendmsg to AF_INET 10.0.0.1:53 (port 53: DNS)",
		"connect with an address the detector cannot read",
		"inet datagram or raw socket",
	}
	if len(found) != len(wantLeaks) {
		t.Fatalf("leaks:\n%s", strings.Join(found, "\n"))
	}
	for i, w := range wantLeaks {
		if !strings.HasPrefix(found[i], w) {
			t.Errorf("leak %d: %q, want prefix %q", i, found[i], w)
		}
	}
	if tor := leaks(tr.events[2:7], leakPolicy{}); len(tor) != 1 || !strings.HasPrefix(tor[0], "connect to AF_INET6 [::1]:53 (port 53: DNS)") {
		t.Errorf("tor's events: %v", tor)
	}
}

// TestLeakTwoPeers runs alice and bob, each attached to a system tor of its
// own on a private network, alice messages bob, and every socket syscall of
// both node processes must go to that node's own tor. The nodes run as an
// unprivileged account and their tors as Debian's debian-tor, shaped as
// Debian ships it: control and SOCKS on Unix sockets in a run directory,
// the cookie readable by tor's group, which the nodes' account is in.
func TestLeakTwoPeers(t *testing.T) {
	requireLeakTools(t, "strace", "unshare", "ip", "tor")
	if !inNetns(t) {
		return
	}
	dir := t.TempDir()
	netDir := filepath.Join(dir, "net")
	t.Cleanup(func() {
		if _, err := testnet.Load(netDir); err == nil {
			if r := gwBounded(t, 30*time.Second, "testnet", "down", "--dir", netDir); r.code != 0 {
				t.Errorf("testnet down: %s", r.stderr)
			}
		}
	})
	// The authorities only: each node's tor is a system tor the test starts.
	gwBounded(t, testnetLimit, "testnet", "up", "--dir", netDir, "--clients", "0").ok(t, "testnet up")
	nw, err := testnet.Load(netDir)
	if err != nil {
		t.Fatal(err)
	}
	testuser.ShareTorrcFiles(t, nw.JoinTorrc())
	acct := nodeAccount(t, filepath.Join(dir, "nodes"))

	type peer struct {
		name, data, onion string
		tor               *testuser.SystemTor
		proc              *tracedProc
	}
	peers := []*peer{{name: "alice"}, {name: "bob"}}
	for _, p := range peers {
		p.tor = testuser.StartSystemTor(t, nw.JoinTorrc(), "ExtendedErrors")
		p.data = filepath.Join(dir, "nodes", p.name)
		var id idJSON
		out := gwBoundedAs(t, acct, 20*time.Second, "init", "--data", p.data, "--no-passphrase", "--json").ok(t, "init "+p.name)
		if err := json.Unmarshal([]byte(out), &id); err != nil {
			t.Fatal(err)
		}
		p.onion = id.Onion
		// No --tor-cookie: the node finds the cookie beside Debian's
		// control socket, as a user of the system tor would have it.
		p.proc = startTracedAs(t, acct, filepath.Join(dir, p.name+".strace"), nil,
			binPath, "run", "--data", p.data, "--tor-control", p.tor.Control)
		assertRunsAs(t, p.proc, acct, p.name)
	}
	for _, p := range peers {
		waitTracedReachable(t, acct, p.name, p.data, p.proc)
	}
	// A LAN-mode node on the same host, advertising by mDNS on an
	// interface of this namespace, while the Tor-mode nodes work: they
	// must still send no multicast and open no direct connection (issue
	// 16), and its own trace shows the mDNS it sent, so the host really
	// carried LAN traffic meanwhile.
	lanNode := startLANNeighbour(t, acct, filepath.Join(dir, "nodes"), dir)
	alice, bob := peers[0], peers[1]
	pairAndDeliver(t, acct, alice.data, alice.onion, bob.data, bob.onion, "leak test: hello bob")
	for _, p := range peers {
		if err := p.proc.stop(t); err != nil {
			t.Errorf("%s did not exit cleanly on SIGTERM: %v\n%s", p.name, err, p.proc.stderr)
		}
	}
	if err := lanNode.stop(t); err != nil {
		t.Errorf("the LAN node did not exit cleanly on SIGTERM: %v\n%s", err, lanNode.stderr)
	}
	var mdns int
	for _, ev := range readTrace(t, lanNode.log).events {
		for _, a := range ev.addrs {
			if a.addr == "224.0.0.251" && a.port == 5353 {
				mdns++
			}
		}
	}
	if mdns == 0 {
		t.Error("the LAN node on this host sent no mDNS: the test did not run Tor mode beside LAN mode")
	}
	t.Logf("the LAN node beside them made %d socket calls to mDNS (224.0.0.251:5353)", mdns)

	for _, p := range peers {
		tr := readTrace(t, p.proc.log)
		// The node attached to a running tor, so it must have started
		// nothing: the one execve is strace starting ghostwire itself.
		if len(tr.procs) != 1 || tr.procs[0].name() != binPath+" run" {
			t.Errorf("%s: the node process executed other programs: %v", p.name, tr.procs)
		}
		control := strings.TrimPrefix(p.tor.Control, "unix:")
		// The nodes' directory is private (0700, as Debian 12 makes a
		// home), so debian-tor cannot pass through it to the onion
		// service's target: the node binds it in a directory of its own
		// under TMPDIR instead, shared with tor's group.
		target := filepath.Join(p.data, "sock", "service")
		for _, ev := range tr.events {
			if a := ev.addrs; ev.call == "bind" && len(a) == 1 && a[0].family == "AF_UNIX" && filepath.Base(a[0].addr) == "service" &&
				strings.HasPrefix(a[0].addr, filepath.Join(os.TempDir(), "gw-")) {
				target = a[0].addr
			}
		}
		policy := leakPolicy{
			// Its tor's control and SOCKS sockets; and it binds its onion
			// service's target socket, which tor connects to.
			unix: []string{filepath.Join(p.data, "api.sock"), target, control, p.tor.Socks},
		}
		t.Logf("%s (tor control %s, SOCKS %s, onion target %s): %d socket events:\n\t%s", p.name,
			control, p.tor.Socks, target, len(tr.events), strings.Join(summary(tr.events), "\n\t"))
		for _, l := range leaks(tr.events, policy) {
			t.Errorf("%s: LEAK: %s", p.name, l)
		}
		if n := countUnixConnects(tr.events, control); n == 0 {
			t.Errorf("%s: no connect to its tor's control port: the trace proves nothing", p.name)
		}
		if p == alice {
			if n := countUnixConnects(tr.events, p.tor.Socks); n == 0 {
				t.Errorf("alice: no connect to her tor's SOCKS port, yet she delivered a message: the trace proves nothing")
			}
		}
	}
}

// waitTracedReachable polls a traced node's status until its onion
// service is reachable; the node exiting fails the test.
func waitTracedReachable(t *testing.T, acct testuser.Account, name, data string, proc *tracedProc) {
	t.Helper()
	poll(t, name+" reachable", reachableLimit, func() (bool, string) {
		select {
		case <-proc.done:
			t.Fatalf("%s exited: %v\n%s", name, proc.err, proc.stderr)
		default:
		}
		r := gwBoundedAs(t, acct, 10*time.Second, "status", "--data", data, "--json")
		var st node.Status
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil {
			return false, r.stderr
		}
		return st.Transport.Reachable, fmt.Sprintf("%+v", st.Transport)
	})
}

// pairAndDeliver makes alice and bob (both run by acct) peers, has alice
// send text to bob, and waits until alice sees it delivered and bob holds it.
func pairAndDeliver(t *testing.T, acct testuser.Account, aliceData, aliceOnion, bobData, bobOnion, text string) {
	t.Helper()
	gwBoundedAs(t, acct, 10*time.Second, "peer", "add", bobOnion, "--name", "bob", "--data", aliceData).ok(t, "alice adds bob")
	gwBoundedAs(t, acct, 10*time.Second, "peer", "add", aliceOnion, "--name", "alice", "--data", bobData).ok(t, "bob adds alice")
	gwBoundedAs(t, acct, 40*time.Second, "msg", "send", "bob", text, "--data", aliceData).ok(t, "alice sends")
	poll(t, "alice's message delivered", deliveryLimit, func() (bool, string) {
		var ms []dm.Message
		r := gwBoundedAs(t, acct, 10*time.Second, "msg", "list", "--data", aliceData, "--json")
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &ms) != nil {
			return false, r.stderr
		}
		for _, m := range ms {
			if m.Direction == "out" && m.Text == text && (m.State == "delivered" || m.State == "read") {
				return true, ""
			}
		}
		return false, r.stdout
	})
	var got []dm.Message
	if err := json.Unmarshal([]byte(gwBoundedAs(t, acct, 10*time.Second, "msg", "list", "--data", bobData, "--json").ok(t, "bob lists")), &got); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(got, func(m dm.Message) bool { return m.Direction == "in" && m.Text == text }) {
		t.Fatalf("bob does not hold alice's message: %+v", got)
	}
}

// TestLeakDemo runs `ghostwire demo` — a private network, three nodes with
// their own managed tors, messages and an IOC — under strace, and holds
// every node process (`ghostwire run`, told apart from the tors and the
// demo itself by what each PID exec'd) to the rule: it reaches only its own
// tor's listening ports on 127.0.0.1 and its own API socket. The demo
// process itself may reach only tors and the nodes' API sockets.
func TestLeakDemo(t *testing.T) {
	requireLeakTools(t, "strace", "unshare", "ip", "tor", "tor-gencert")
	if !inNetns(t) {
		return
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "demo.strace")
	t.Cleanup(func() { // before t.TempDir's own cleanup removes the logs
		if t.Failed() {
			t.Log(nodeLogTails(filepath.Join(dir, "demo")))
		}
	})
	// Users run GhostWire from their own account, not as root: run the demo,
	// its nodes and their tors as an unprivileged account when the test can,
	// so that nothing here passes only because root may do more.
	acct := nodeAccount(t, dir)
	demo := startTracedAs(t, acct, log, nil, binPath, "demo", "--dir", filepath.Join(dir, "demo"))
	assertRunsAs(t, demo, acct, "the demo")
	if err := demo.waitOrInterrupt(t, demoLimit); err != nil {
		t.Fatalf("ghostwire demo failed: %v\n%s", err, demo.stderr)
	}
	tr := readTrace(t, log)

	var nodes, tors []proc
	var demoProc proc
	for _, p := range tr.procs {
		switch {
		case p.path == binPath && len(p.argv) > 1 && p.argv[1] == "run":
			nodes = append(nodes, p)
		case p.path == binPath && len(p.argv) > 1 && p.argv[1] == "demo":
			demoProc = p
		case filepath.Base(p.path) == "tor":
			tors = append(tors, p)
		}
	}
	if len(nodes) != 3 || demoProc.leader == 0 {
		t.Fatalf("want the demo and 3 node processes in the trace, got: %v", tr.procs)
	}
	for _, ev := range tr.events {
		if ev.leader == 0 {
			t.Errorf("LEAK?: a socket call the log cannot attribute to a program: %s", ev.line)
		}
	}
	var allTor []int
	var apiSocks []string
	for _, tor := range tors {
		allTor = append(allTor, tr.listeners(tor.leader)...)
	}
	for _, n := range nodes {
		apiSocks = append(apiSocks, filepath.Join(n.arg("--data"), "api.sock"))
	}
	byLeader := func(leader int) []sockEvent {
		var evs []sockEvent
		for _, ev := range tr.events {
			if ev.leader == leader {
				evs = append(evs, ev)
			}
		}
		return evs
	}
	for _, n := range nodes {
		name := filepath.Base(n.arg("--data"))
		var own []int
		for _, p := range tr.procs {
			if p.parent != n.leader {
				continue
			}
			if filepath.Base(p.path) != "tor" {
				t.Errorf("%s: the node started %s, not tor", name, p)
				continue
			}
			own = append(own, tr.listeners(p.leader)...)
		}
		// No TCP port at all: control and SOCKS are Unix sockets in the
		// node's 0700 socket directory (issue 21), and a DNSPort, TransPort
		// or ORPort added to the managed tor's torrc shows up here.
		if len(own) != 0 {
			t.Errorf("%s: its tor listens on TCP ports %v, want none (control and SOCKS are Unix sockets)", name, own)
		}
		evs := byLeader(n.leader)
		sockDir := filepath.Join(n.arg("--data"), "sock")
		t.Logf("%s (pid %d): %d socket events:\n\t%s", name, n.leader, len(evs), strings.Join(summary(evs), "\n\t"))
		unix := []string{filepath.Join(n.arg("--data"), "api.sock"), filepath.Join(sockDir, "control"),
			filepath.Join(sockDir, "socks"), filepath.Join(sockDir, "service")}
		for _, l := range leaks(evs, leakPolicy{unix: unix}) {
			t.Errorf("%s: LEAK: %s", name, l)
		}
		reached := map[string]bool{}
		for _, ev := range evs {
			if ev.call == "connect" && len(ev.addrs) == 1 {
				reached[ev.addrs[0].addr] = true
			}
		}
		if !reached[unix[1]] || !reached[unix[2]] {
			t.Errorf("%s: reached %v: no control or no SOCKS connect, so the trace proves nothing", name, reached)
		}
	}
	evs := byLeader(demoProc.leader)
	t.Logf("the demo process (pid %d): %d socket events:\n\t%s", demoProc.leader, len(evs), strings.Join(summary(evs), "\n\t"))
	for _, l := range leaks(evs, leakPolicy{tcp: allTor, unix: apiSocks}) {
		t.Errorf("demo: LEAK: %s", l)
	}
}

// nodeLogTails returns the last lines of each node's log in a demo's
// directory, so that a demo that stalls says where.
func nodeLogTails(dir string) string {
	var b strings.Builder
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, l := range logs {
		data, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		fmt.Fprintf(&b, "--- last lines of %s:\n%s\n", filepath.Base(l), strings.Join(lines[max(0, len(lines)-40):], "\n"))
	}
	return b.String()
}

// nodeAccount returns the account the nodes run as (package testuser: a
// dedicated unprivileged account when the test runs as root) and gives it
// dir, where it keeps its data directories, and the way to the binary.
func nodeAccount(t *testing.T, dir string) testuser.Account {
	t.Helper()
	acct := testuser.Node(t)
	if acct.Switches() {
		// The binary's directory is 0700 (os.MkdirTemp); the node's user
		// must pass through it.
		testuser.PassThrough(t, filepath.Dir(binPath))
		acct.MkdirOwned(t, dir, 0o700)
	}
	return acct
}

// assertRunsAs checks, once strace has exec'd the node binary, that p's
// tracee runs as acct, its real, effective, saved and filesystem user IDs
// alike: the proof that the node (and what it starts) does not run as root.
func assertRunsAs(t *testing.T, p *tracedProc, acct testuser.Account, what string) {
	t.Helper()
	if !acct.Switches() {
		return // the test's own user: nothing was switched
	}
	for range 200 { // 10 s: strace starts its tracee at once
		// Before its execve the child is strace's fork, still root.
		if pid := p.tracee(); pid > 0 && isExe(pid, binPath) {
			acct.AssertRuns(t, what, pid)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("strace started no tracee within 10 s")
}

// isExe says whether process pid is running the program at path.
func isExe(pid int, path string) bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return err == nil && exe == path
}

// startLANNeighbour starts a LAN-mode node, run as acct with its data in
// dataDir and its trace in dir, under strace on a veth pair it adds to this
// test's namespace (gwlan0, 10.78.0.1/24, multicast on; the kernel here has
// no dummy links), and waits until it listens there.
func startLANNeighbour(t *testing.T, acct testuser.Account, dataDir, dir string) *tracedProc {
	t.Helper()
	for _, args := range [][]string{
		{"link", "add", "gwlan0", "type", "veth", "peer", "name", "gwlan1"},
		{"addr", "add", "10.78.0.1/24", "dev", "gwlan0"},
		{"link", "set", "gwlan1", "up"},
		{"link", "set", "gwlan0", "multicast", "on", "up"},
		{"route", "add", "224.0.0.0/4", "dev", "gwlan0"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("leak test: ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	data := filepath.Join(dataDir, "lan-neighbour")
	gwBoundedAs(t, acct, 20*time.Second, "init", "--data", data, "--no-passphrase").ok(t, "init the LAN node")
	proc := startTracedAs(t, acct, filepath.Join(dir, "lan-neighbour.strace"), nil,
		binPath, "run", "--lan", "--interface", "gwlan0", "--data", data)
	poll(t, "the LAN node listening on gwlan0", reachableLimit, func() (bool, string) {
		select {
		case <-proc.done:
			t.Fatalf("the LAN node exited: %v\n%s", proc.err, proc.stderr)
		default:
		}
		r := gwBoundedAs(t, acct, 10*time.Second, "status", "--data", data)
		return strings.Contains(r.stdout, "listening on 10.78.0.1:"), r.stdout + r.stderr
	})
	return proc
}
