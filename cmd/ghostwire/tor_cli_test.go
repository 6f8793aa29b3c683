package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/testuser"
)

// TestRunRefusesPlantedTestnet: `run --testnet DIR` on a directory anyone
// can write (a state file naming it, as a planter would leave), or on one
// another local user made, stops before any tor starts, with the permission
// exit code and a hint. The node runs as its own unprivileged account, and
// the second directory belongs to the attacker's (package testuser), so
// neither refusal rests on root's view of the files.
func TestRunRefusesPlantedTestnet(t *testing.T) {
	home := t.TempDir()
	acct := nodeAccount(t, home)
	data := filepath.Join(home, "gw")
	gwBoundedAs(t, acct, 20*time.Second, "init", "--data", data, "--no-passphrase").expect(t, 0, "", "")
	// The node's process is gone before /proc could show it; the data
	// directory init made shows whose it was.
	if fi, err := os.Stat(data); err != nil || acct.Switches() && int(fi.Sys().(*syscall.Stat_t).Uid) != acct.UID {
		t.Fatalf("init did not run as %s: %v", acct.Name, err)
	}
	plant := func(t *testing.T, owner testuser.Account, mode os.FileMode) string {
		planted := filepath.Join(t.TempDir(), "net")
		if err := os.Mkdir(planted, 0o700); err != nil {
			t.Fatal(err)
		}
		state, _ := json.Marshal(map[string]string{"dir": planted, "dirauth_file": filepath.Join(planted, "dirauth")})
		if err := os.WriteFile(filepath.Join(planted, "testnet.json"), state, 0o644); err != nil {
			t.Fatal(err)
		}
		if owner.Switches() {
			owner.Own(t, 0o644, filepath.Join(planted, "testnet.json"))
			owner.MkdirOwned(t, planted, mode)
		} else if err := os.Chmod(planted, mode); err != nil {
			t.Fatal(err)
		}
		return planted
	}
	t.Run("writable by all", func(t *testing.T) {
		planted := plant(t, acct, 0o777)
		gwBoundedAs(t, acct, 20*time.Second, "run", "--data", data, "--testnet", planted).expect(t, exitPermission, "", "writable by other users")
	})
	t.Run("another user's", func(t *testing.T) {
		other := testuser.Other(t)
		planted := plant(t, other, 0o755)
		gwBoundedAs(t, acct, 20*time.Second, "run", "--data", data, "--testnet", planted).
			expect(t, exitPermission, "", fmt.Sprintf("belongs to uid %d, not to you", other.UID))
	})
	if _, err := os.Stat(filepath.Join(data, "tor")); err == nil {
		t.Error("a tor data directory was made: the node went on after the refusal")
	}
}

// TestRunRefusesNullAuthControlPort: attached to a control port that asks
// for no authentication, the node stops at once with a clear error instead
// of retrying, having sent nothing past PROTOCOLINFO. The node runs as its
// own unprivileged account and the port belongs to the other local user
// (package testuser) when the test runs as root; without root both are the
// invoking user, which changes nothing the node could see.
func TestRunRefusesNullAuthControlPort(t *testing.T) {
	home := t.TempDir()
	acct := nodeAccount(t, home)
	var other testuser.Account
	if testuser.Root() {
		other = testuser.Other(t)
	}
	fake := exec.Command(testuser.Executable(t))
	fake.Env = append(os.Environ(), helperEnv+"=null-control")
	other.Start(fake)
	out, err := fake.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { fake.Process.Kill(); fake.Wait() }()
	if other.Switches() {
		other.AssertRuns(t, "the fake control port", fake.Process.Pid)
	}
	lines := bufio.NewScanner(out)
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "PORT ") {
		t.Fatalf("the fake control port did not start: %q", lines.Text())
	}
	addr := "127.0.0.1:" + strings.TrimPrefix(lines.Text(), "PORT ")
	got := make(chan string, 64)
	go func() {
		for lines.Scan() {
			got <- strings.TrimPrefix(lines.Text(), "GOT ")
		}
		close(got)
	}()
	data := filepath.Join(home, "gw")
	gwBoundedAs(t, acct, 20*time.Second, "init", "--data", data, "--no-passphrase").expect(t, 0, "", "")
	gwBoundedAs(t, acct, 20*time.Second, "run", "--data", data, "--tor-control", addr).
		expect(t, exitUnavailable, "", "asks for no authentication (NULL)")
	if fi, err := os.Stat(data); err != nil || acct.Switches() && int(fi.Sys().(*syscall.Stat_t).Uid) != acct.UID {
		t.Fatalf("the node did not run as %s: %v", acct.Name, err)
	}
	fake.Process.Kill()
	for l := range got {
		if !strings.HasPrefix(l, "PROTOCOLINFO") {
			t.Errorf("the port received %q after offering NULL auth", l)
		}
	}
}

// nullControl is the fake of TestRunRefusesNullAuthControlPort: a control
// port that offers NULL authentication and says 250 OK to anything else. It
// prints "PORT n", then "GOT line" for every line it receives, until killed.
func nullControl() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	fmt.Printf("PORT %d\n", ln.Addr().(*net.TCPAddr).Port)
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s := bufio.NewScanner(c)
		for s.Scan() {
			fmt.Printf("GOT %s\n", s.Text())
			if strings.HasPrefix(s.Text(), "PROTOCOLINFO") {
				fmt.Fprint(c, "250-PROTOCOLINFO 1\r\n250-AUTH METHODS=NULL\r\n250-VERSION Tor=\"0.4.9.8\"\r\n250 OK\r\n")
			} else {
				fmt.Fprint(c, "250 OK\r\n")
			}
		}
		c.Close()
	}
}

// TestE2EHungTorStatus: with the node's managed tor stopped (SIGSTOP), its
// sockets stay open, yet `ghostwire status` says "tor not responding"
// within seconds, and not reachable; after SIGCONT the same tor is used
// again and the node is reachable.
func TestE2EHungTorStatus(t *testing.T) {
	parallelTor(t)
	nw := startNetwork(t, 0)
	alice := newE2ENode(t, "alice", "--testnet", nw.Dir)
	alice.start(t)
	alice.waitReachable(t)
	torPID := childNamed(t, alice.cmd.Process.Pid, "tor")
	syscall.Kill(torPID, syscall.SIGSTOP)
	defer syscall.Kill(torPID, syscall.SIGCONT)
	var last result
	eventually(t, "status says tor not responding", 15*time.Second, func() (bool, string) {
		last = gw(t, "", "status", "--data", alice.data)
		return last.code == 0 && strings.Contains(last.stdout, "tor not responding"), last.stdout + last.stderr
	})
	if !strings.Contains(last.stdout, "reachable   no") {
		t.Errorf("a hung tor is reported reachable:\n%s", last.stdout)
	}
	syscall.Kill(torPID, syscall.SIGCONT)
	alice.waitReachable(t)
	if r := gw(t, "", "status", "--data", alice.data); strings.Contains(r.stdout, "not responding") {
		t.Errorf("after SIGCONT:\n%s", r.stdout)
	}
	if got := childNamed(t, alice.cmd.Process.Pid, "tor"); got != torPID {
		t.Errorf("tor was restarted (%d → %d); a resumed tor should be used again", torPID, got)
	}
	alice.stop(t)
}

// childNamed returns the pid of parent's child process whose command name
// is name.
func childNamed(t *testing.T, parent int, name string) int {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		lp, rp := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if lp < 0 || rp < lp {
			continue
		}
		f := strings.Fields(s[rp+1:])
		if s[lp+1:rp] == name && len(f) > 1 && f[1] == strconv.Itoa(parent) {
			return pid
		}
	}
	t.Fatalf("no %s process under pid %d", name, parent)
	return 0
}
