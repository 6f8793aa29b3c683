package onion_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/onion"
	"github.com/ghostwire/ghostwire/testuser"
)

// The local-attacker tests run as the users of a shared machine would: the
// node (onion's code, in this test binary re-executed as a helper) as its
// own unprivileged account, and the attacker as another one (package
// testuser). The test itself stays root only to switch accounts, read
// /proc and judge; as anyone else it fails, since it cannot become the
// attacker.

// asUser starts this test binary as a helper in mode, run as acct with
// extra environment; its stdout is returned as a line reader, and its stdin
// stays open until the test ends or the caller closes it (a node helper
// runs until then).
func asUser(t *testing.T, acct testuser.Account, mode string, env ...string) (*exec.Cmd, *bufio.Scanner, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command(testuser.Executable(t))
	cmd.Env = append([]string{helperEnv + "=" + mode, "TMPDIR=/tmp"}, env...)
	acct.Start(cmd)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); cmd.Process.Kill(); cmd.Wait() })
	return cmd, bufio.NewScanner(out), in
}

// asOther starts the helper in mode as the attacker's account.
func asOther(t *testing.T, mode string, env ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd, out, _ := asUser(t, testuser.Other(t), mode, env...)
	return cmd, out
}

// asNode starts the helper in mode as the node's account, and checks from
// /proc that it really runs as that account, not as root.
func asNode(t *testing.T, mode string, env ...string) (*exec.Cmd, *bufio.Scanner, io.WriteCloser) {
	t.Helper()
	acct := testuser.Node(t)
	cmd, out, in := asUser(t, acct, mode, env...)
	acct.AssertRuns(t, "the node", cmd.Process.Pid)
	return cmd, out, in
}

func runHelper(mode string) int {
	switch mode {
	case "fake-control":
		return fakeControl(os.Getenv("GW_METHODS"), os.Getenv("GW_COOKIE"))
	case "dial":
		for _, p := range strings.Split(os.Getenv("GW_PATHS"), ",") {
			c, err := net.Dial("unix", p)
			if err == nil {
				c.Close()
				fmt.Printf("%s: connected\n", p)
			} else {
				fmt.Printf("%s: %v\n", p, err)
			}
		}
		return 0
	case "attach-node":
		return attachNode(os.Getenv("GW_CONTROL"), os.Getenv("GW_COOKIE"))
	case "managed-node":
		return managedNode(os.Getenv("GW_BASE"), os.Getenv("GW_TORRC"))
	case "check-control":
		return checkControl(os.Getenv("GW_CONTROL"))
	case "echo-node":
		return echoNode(os.Getenv("GW_CONTROL"))
	case "bridge-node":
		return bridgeNode(os.Getenv("GW_BASE"), os.Getenv("GW_TORRC"), os.Getenv("GW_BRIDGE"), os.Getenv("GW_TORPATH"), os.Getenv("GW_PEER"))
	case "only-peers-node":
		return onlyPeersNode(os.Getenv("GW_BASE"), os.Getenv("GW_TORRC"))
	}
	fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
	return 2
}

// attachNode is the node side of TestAttachRefusesStrangersControlPort:
// attached to control with the expected cookie, it checks the control port
// ("CHECK untrusted=BOOL ERR"), then has the supervisor publish a fresh
// identity's service there for 3.5 s (it tries at once and again after 1 s
// and 2 s), and prints the start of the key tor would be sent ("KEY …").
func attachNode(control, cookie string) int {
	tor, err := onion.Start(onion.Config{ControlAddr: control, ControlCookie: cookie})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer tor.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = tor.CheckControl(ctx)
	fmt.Printf("CHECK untrusted=%v %v\n", errors.Is(err, onion.ErrUntrustedTor), err)
	key, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := tor.Listen(ctx, key)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	time.Sleep(3500 * time.Millisecond)
	ln.Close()
	blob := key.TorExpandedKey()
	fmt.Printf("KEY %s\n", base64.StdEncoding.EncodeToString(blob[:])[:16])
	return 0
}

// managedNode is the node side of TestOtherUserCannotReachSockets: a
// managed tor with its sockets in base/sock, joined to the private network
// by torrc, and a published service. Once the service is reachable it
// prints "READY TORPID SOCKS CONTROL" and runs until stdin closes.
func managedNode(base, torrc string) int {
	tor, err := onion.Start(onion.Config{DataDir: filepath.Join(base, "tor"), SocketDir: filepath.Join(base, "sock"), Torrc: torrc})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer tor.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := tor.WaitReady(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	key, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := tor.Listen(ctx, key)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer ln.Close()
	if err := ln.Service.WaitReachable(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("READY %d %s %s\n", tor.PID(), tor.SocksAddr(), tor.ControlAddr())
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// fakeControl is a control port that is not tor: it offers methods and
// names cookie (or, for cookie "own", a cookie file it makes and knows, in
// its own directory), answers anything else with 250 OK to lure a careless
// controller on, and prints "PORT n" then every line it receives.
func fakeControl(methods, cookie string) int {
	var secret []byte
	if cookie == "own" {
		dir, err := os.MkdirTemp("", "gw-fake-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		cookie = filepath.Join(dir, "control_auth_cookie")
		secret = make([]byte, 32)
		rand.Read(secret)
		os.WriteFile(cookie, secret, 0o600)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("PORT %d\n", ln.Addr().(*net.TCPAddr).Port)
	for {
		c, err := ln.Accept()
		if err != nil {
			return 1
		}
		serveFake(c, methods, cookie, secret, func(line string) { fmt.Printf("GOT %s\n", line) }, nil)
	}
}

// serveFake answers one control connection as a fake tor would: PROTOCOLINFO
// offers methods and names cookie; AUTHCHALLENGE answers with the server
// hash under secret (an empty secret when the fake cannot read the cookie);
// other lines go to answer, if it knows them, and otherwise get 250 OK.
// Every line received goes to seen.
func serveFake(c net.Conn, methods, cookie string, secret []byte, seen func(string), answer func(line string) (string, bool)) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		seen(line)
		f := strings.Fields(line)
		switch {
		case len(f) > 0 && f[0] == "PROTOCOLINFO":
			fmt.Fprintf(c, "250-PROTOCOLINFO 1\r\n250-AUTH METHODS=%s COOKIEFILE=%q\r\n250-VERSION Tor=\"0.4.9.8\"\r\n250 OK\r\n", methods, cookie)
		case len(f) == 3 && f[0] == "AUTHCHALLENGE":
			clientNonce, _ := hex.DecodeString(f[2])
			serverNonce := make([]byte, 32)
			rand.Read(serverNonce)
			m := hmac.New(sha256.New, []byte("Tor safe cookie authentication server-to-controller hash"))
			m.Write(secret)
			m.Write(clientNonce)
			m.Write(serverNonce)
			fmt.Fprintf(c, "250 AUTHCHALLENGE SERVERHASH=%X SERVERNONCE=%X\r\n", m.Sum(nil), serverNonce)
		default:
			if answer != nil {
				if a, ok := answer(line); ok {
					fmt.Fprint(c, a)
					continue
				}
			}
			fmt.Fprintf(c, "250 OK\r\n")
		}
	}
}

// TestAttachRefusesStrangersControlPort: another local user holds the
// control port address the node was told to attach to. Whether it offers
// no authentication, a cookie of its own (which it knows, so it could pass
// the SAFECOOKIE challenge) outside the expected place, or names the real
// tor's cookie (which it cannot read), the node refuses it: CheckControl
// fails with ErrUntrustedTor, and a Tor told to publish the identity's
// service there never sends AUTHENTICATE or ADD_ONION, so the key stays.
// The node runs as its own unprivileged user, and the real tor is a
// Debian-shaped system tor whose cookie that user reads through tor's group.
func TestAttachRefusesStrangersControlPort(t *testing.T) {
	testuser.ShareTorrcFiles(t, network.JoinTorrc())
	expected := testuser.StartSystemTor(t, network.JoinTorrc(), "").Cookie
	for _, c := range []struct{ name, methods, cookie, why string }{
		{"NULL auth", "NULL", "", "no authentication (NULL)"},
		{"own cookie elsewhere", "COOKIE,SAFECOOKIE", "own", "not the expected one"},
		{"the real tor's cookie", "COOKIE,SAFECOOKIE", expected, "does not know the cookie"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, out := asOther(t, "fake-control", "GW_METHODS="+c.methods, "GW_COOKIE="+c.cookie)
			if !out.Scan() || !strings.HasPrefix(out.Text(), "PORT ") {
				t.Fatalf("fake control port did not start: %q", out.Text())
			}
			addr := "127.0.0.1:" + strings.TrimPrefix(out.Text(), "PORT ")
			got := make(chan string, 256)
			go func() {
				for out.Scan() {
					got <- out.Text()
				}
				close(got)
			}()

			node, nodeOut, _ := asNode(t, "attach-node", "GW_CONTROL="+addr, "GW_COOKIE="+expected)
			var check, enc string
			for nodeOut.Scan() {
				if l, ok := strings.CutPrefix(nodeOut.Text(), "CHECK "); ok {
					check = l
				}
				if l, ok := strings.CutPrefix(nodeOut.Text(), "KEY "); ok {
					enc = l
				}
			}
			if err := node.Wait(); err != nil || enc == "" {
				t.Fatalf("the node helper failed: %v (said CHECK %q, KEY %q)", err, check, enc)
			}
			if !strings.HasPrefix(check, "untrusted=true ") || !strings.Contains(check, c.why) {
				t.Errorf("CheckControl: %s; want ErrUntrustedTor saying %q", check, c.why)
			}

			var lines []string
		drain:
			for {
				select {
				case l, ok := <-got:
					if !ok {
						break drain
					}
					lines = append(lines, l)
				case <-time.After(200 * time.Millisecond):
					break drain
				}
			}
			protocolinfo := 0
			for _, l := range lines {
				cmd := strings.Fields(strings.TrimPrefix(l, "GOT "))
				switch {
				case len(cmd) > 0 && cmd[0] == "PROTOCOLINFO":
					protocolinfo++
				case len(cmd) > 0 && cmd[0] == "AUTHCHALLENGE":
				default:
					t.Errorf("the stranger's port received %q; only PROTOCOLINFO and AUTHCHALLENGE may reach it", l)
				}
				if strings.Contains(l, "ADD_ONION") || strings.Contains(l, enc) {
					t.Errorf("the stranger's port received key material: %q", l)
				}
			}
			if protocolinfo < 2 {
				t.Errorf("the node asked the fake port %d times; want the check and at least one supervisor attempt (lines: %q)", protocolinfo, lines)
			}
		})
	}
}

// TestOtherUserCannotReachSockets: with a managed tor and a published
// service, run by the node's unprivileged account, another local user gets
// "permission denied" on the onion service's target, the SOCKS socket and
// the control socket, even when every directory above the socket directory
// lets them through; and neither the node nor its tor has a TCP listener in
// /proc/net/tcp{,6}.
func TestOtherUserCannotReachSockets(t *testing.T) {
	checkGoroutines(t)
	acct := testuser.Node(t)
	base := acct.MkdirOwned(t, filepath.Join(t.TempDir(), "node"), 0o755) // only the socket directory itself keeps others out
	testuser.ShareTorrcFiles(t, network.JoinTorrc())
	node, out, stop := asNode(t, "managed-node", "GW_BASE="+base, "GW_TORRC="+network.JoinTorrc())
	var ready []string
	for out.Scan() {
		if l, ok := strings.CutPrefix(out.Text(), "READY "); ok {
			ready = strings.Fields(l)
			break
		}
	}
	if len(ready) != 3 {
		node.Process.Kill()
		t.Fatalf("the node helper did not publish its service: %v", node.Wait())
	}
	torPID, _ := strconv.Atoi(ready[0])
	acct.AssertRuns(t, "the node's tor", torPID)

	sockDir := filepath.Join(base, "sock")
	paths := []string{filepath.Join(sockDir, "service"), filepath.Join(sockDir, "socks"), filepath.Join(sockDir, "control")}
	for _, p := range paths {
		if fi, err := os.Lstat(p); err != nil || fi.Mode().Type() != os.ModeSocket {
			t.Fatalf("%s is not a socket: %v", p, err)
		}
	}
	if ready[1] != "unix:"+paths[1] || ready[2] != "unix:"+paths[2] {
		t.Errorf("tor's SOCKS %q and control %q are not the sockets in %s", ready[1], ready[2], sockDir)
	}
	cmd, other := asOther(t, "dial", "GW_PATHS="+strings.Join(paths, ","))
	var lines []string
	for other.Scan() {
		lines = append(lines, other.Text())
	}
	cmd.Wait()
	if len(lines) != len(paths) {
		t.Fatalf("helper said %q", lines)
	}
	for _, l := range lines {
		if !strings.HasSuffix(l, "permission denied") {
			t.Errorf("another user: %s; want permission denied", l)
		}
	}

	// No TCP listener belongs to the node or to its tor.
	mine := socketInodes(t, node.Process.Pid)
	for k := range socketInodes(t, torPID) {
		mine[k] = true
	}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) > 9 && fs[3] == "0A" && mine[fs[9]] { // 0A: LISTEN
				t.Errorf("%s lists a listener of the node or its tor: %s", f, line)
			}
		}
	}
	stop.Close()
	if err := node.Wait(); err != nil {
		t.Errorf("the node helper did not stop cleanly: %v", err)
	}
}

// socketInodes returns the inodes of pid's open sockets.
func socketInodes(t *testing.T, pid int) map[string]bool {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join(dir, e.Name()))
		if ino, ok := strings.CutPrefix(l, "socket:["); err == nil && ok {
			out[strings.TrimSuffix(ino, "]")] = true
		}
	}
	return out
}
