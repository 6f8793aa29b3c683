package testuser

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SystemTor is a tor set up the way Debian's tor package sets up the system
// tor (its tor-service-defaults-torrc): started by root, it drops to
// debian-tor (User), serves control on a Unix socket in a run directory of
// its own (as /run/tor: debian-tor's, setgid, closed to others) and writes
// its cookie there readable by its group (CookieAuthFileGroupReadable). A
// node whose account is in that group attaches to it as a Debian user does,
// and must share its onion service's target socket with tor's group.
//
// Without root it runs as the test's own user, with the same layout.
type SystemTor struct {
	// Control is the control address for onion.Config.ControlAddr and
	// --tor-control ("unix:…/run/control"); Cookie is the cookie file tor
	// writes beside it, and Socks its SOCKS socket.
	Control, Cookie, Socks string
	// Dir holds the torrc, run/ and data/.
	Dir string
	// Account is the account tor runs as.
	Account Account

	cmd *exec.Cmd
}

// StartSystemTor starts a system-like tor with the torrc lines in extra
// (for a private network, its JoinTorrc, whose files the tor must be able to
// read: see ShareFiles) and socksFlags after its SOCKS socket, waits until
// its control socket and cookie exist, and stops it in t's cleanup.
func StartSystemTor(t testing.TB, extra, socksFlags string) *SystemTor {
	t.Helper()
	acct := self(t)
	if Root() {
		acct = Tor(t)
	}
	// Short: socket paths must fit sockaddr_un's 108 bytes.
	dir, err := os.MkdirTemp("", "gw-sys-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	PassThrough(t, dir)
	run, data := filepath.Join(dir, "run"), filepath.Join(dir, "data")
	acct.MkdirOwned(t, run, 0o750|os.ModeSetgid)
	acct.MkdirOwned(t, data, 0o700)
	s := &SystemTor{
		Control: "unix:" + filepath.Join(run, "control"),
		Cookie:  filepath.Join(run, "control.authcookie"),
		Socks:   filepath.Join(run, "socks"),
		Dir:     dir,
		Account: acct,
	}
	lines := []string{
		"DataDirectory " + data,
		"ControlPort unix:" + filepath.Join(run, "control") + " GroupWritable RelaxDirModeCheck",
		"CookieAuthentication 1",
		"CookieAuthFileGroupReadable 1",
		"CookieAuthFile " + s.Cookie,
		"SocksPort unix:" + s.Socks + " GroupWritable RelaxDirModeCheck " + socksFlags,
		"Log notice file " + filepath.Join(data, "notice.log"),
	}
	if !acct.Self {
		lines = append(lines, "User "+acct.Name)
	}
	torrc := filepath.Join(dir, "torrc")
	if err := os.WriteFile(torrc, []byte(strings.Join(lines, "\n")+"\n"+extra), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	s.cmd = exec.Command("tor", "-f", torrc, "--defaults-torrc", "/dev/null")
	s.cmd.Stdout, s.cmd.Stderr = &out, &out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("testuser: starting tor: %v (install it: apt-get install -y tor)", err)
	}
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	t.Cleanup(func() { s.cmd.Process.Kill(); <-done })
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, errC := os.Stat(filepath.Join(run, "control"))
		_, errK := os.Stat(s.Cookie)
		if errC == nil && errK == nil {
			break
		}
		select {
		case <-done:
			t.Fatalf("testuser: the system-like tor exited:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(data, "notice.log"))
			t.Fatalf("testuser: the system-like tor opened no control socket within 30 s:\n%s%s", out.String(), log)
		}
	}
	return s
}

// ShareFiles lets every account read files (and pass through their
// directories) without letting anyone write them: a private network's
// authority list and GeoIP file, made by root, that a tor running as
// another account includes.
func ShareFiles(t testing.TB, files ...string) {
	t.Helper()
	for _, f := range files {
		PassThrough(t, filepath.Dir(f))
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f, fi.Mode().Perm()|0o044); err != nil {
			t.Fatal(err)
		}
	}
}

// ShareTorrcFiles shares (ShareFiles) the files a torrc fragment names with
// %include, GeoIPFile and GeoIPv6File: a private network's JoinTorrc, which
// a tor of another account must read.
func ShareTorrcFiles(t testing.TB, torrc string) {
	t.Helper()
	for _, line := range strings.Split(torrc, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && (f[0] == "%include" || f[0] == "GeoIPFile" || f[0] == "GeoIPv6File") {
			ShareFiles(t, f[1])
		}
	}
}
