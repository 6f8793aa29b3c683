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
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/onion"
)

// The local-attacker tests run a helper as another, unprivileged local
// user: this test binary re-executed with a different uid, as issue 21's
// attacker would be. They need root to switch users.

// testUser is the account the helpers run as; created with useradd when
// missing.
const testUser = "gwtest-other"

// otherUser returns the uid and gid of testUser, creating the account.
func otherUser(t *testing.T) (uid, gid uint32) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Fatal("the local-attacker tests switch to another user and must run as root (sudo go test ./onion/)")
	}
	u, err := user.Lookup(testUser)
	if err != nil {
		out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", testUser).CombinedOutput()
		if err != nil {
			t.Fatalf("useradd %s: %v\n%s", testUser, err, out)
		}
		if u, err = user.Lookup(testUser); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := strconv.Atoi(u.Uid)
	b, _ := strconv.Atoi(u.Gid)
	return uint32(a), uint32(b)
}

// helperBinary is a copy of this test binary that the other user may run
// (the build directory is private to us).
func helperBinary(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		os.Chmod(d, 0o755)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "helper.test")
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// asOther starts the helper in mode as the other user, with extra
// environment; its stdout is returned as a line reader.
func asOther(t *testing.T, mode string, env ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	uid, gid := otherUser(t)
	cmd := exec.Command(helperBinary(t))
	cmd.Env = append([]string{helperEnv + "=" + mode, "TMPDIR=/tmp"}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, bufio.NewScanner(out)
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
	}
	fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
	return 2
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
func TestAttachRefusesStrangersControlPort(t *testing.T) {
	expected := network.Clients()[0].CookieFile()
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

			tor, err := onion.Start(onion.Config{ControlAddr: addr, ControlCookie: expected})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = tor.CheckControl(ctx)
			if !errors.Is(err, onion.ErrUntrustedTor) || !strings.Contains(err.Error(), c.why) {
				t.Errorf("CheckControl: %v; want ErrUntrustedTor saying %q", err, c.why)
			}
			key := newKey(t)
			ln, err := tor.Listen(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			// The supervisor tries at once and again after 1 s and 2 s.
			time.Sleep(3500 * time.Millisecond)
			ln.Close()
			tor.Close()

			blob := key.TorExpandedKey()
			enc := base64.StdEncoding.EncodeToString(blob[:])[:16]
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
// service, another local user gets "permission denied" on the onion
// service's target, the SOCKS socket and the control socket, even when
// every directory above the socket directory lets them through; and
// neither the node nor its tor has a TCP listener in /proc/net/tcp{,6}.
func TestOtherUserCannotReachSockets(t *testing.T) {
	checkGoroutines(t)
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		os.Chmod(d, 0o755) // only the socket directory itself keeps others out
	}
	sockDir := filepath.Join(base, "sock")
	tor, err := onion.Start(onion.Config{DataDir: filepath.Join(base, "tor"), SocketDir: sockDir, Torrc: network.JoinTorrc()})
	if err != nil {
		t.Fatal(err)
	}
	defer tor.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := tor.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	ln, err := tor.Listen(ctx, newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	waitReachable(t, ln.Service)

	paths := []string{filepath.Join(sockDir, "service"), filepath.Join(sockDir, "socks"), filepath.Join(sockDir, "control")}
	for _, p := range paths {
		if fi, err := os.Lstat(p); err != nil || fi.Mode().Type() != os.ModeSocket {
			t.Fatalf("%s is not a socket: %v", p, err)
		}
	}
	if tor.SocksAddr() != "unix:"+paths[1] || tor.ControlAddr() != "unix:"+paths[2] {
		t.Errorf("tor's SOCKS %q and control %q are not the sockets in %s", tor.SocksAddr(), tor.ControlAddr(), sockDir)
	}
	cmd, out := asOther(t, "dial", "GW_PATHS="+strings.Join(paths, ","))
	var lines []string
	for out.Scan() {
		lines = append(lines, out.Text())
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

	// No TCP listener belongs to this process or to its tor.
	mine := socketInodes(t, os.Getpid())
	for k := range socketInodes(t, tor.PID()) {
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
