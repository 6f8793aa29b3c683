package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ghostwire/ghostwire/node"
)

// hostileText is what a peer would send to take over a terminal: clear the
// screen, set the window title (OSC … BEL), reverse the rest of the line
// (U+202E), and a C1 CSI (U+009B) that some terminals obey as ESC [.
const hostileText = "clear\x1b[2J title\x1b]0;pwned\x07 rtl\u202eexe.txt csi\u009b31m red\x1b[0m\nsecond line"

// terminalControls lists what in out a terminal would act on rather than
// show: control bytes other than the newlines that end our own lines, C1
// controls, bidi controls, the line and paragraph separators, and invalid
// UTF-8.
func terminalControls(out string) []string {
	var bad []string
	for i, r := range out {
		switch {
		case r == '\n':
		case r == utf8.RuneError:
			bad = append(bad, fmt.Sprintf("invalid UTF-8 at %d", i))
		case unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029':
			bad = append(bad, fmt.Sprintf("%U at %d", r, i))
		}
	}
	return bad
}

func TestNeutralise(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text, ünïcödé, 日本語, emoji 🙂", "plain text, ünïcödé, 日本語, emoji 🙂"},
		{"\x1b[2J", `\x1b[2J`},
		{"\x1b]0;title\x07", `\x1b]0;title\x07`},
		{"a\nb\r\tc\x00\x7f", `a\nb\r\tc\x00\x7f`},
		{"csi\u009b31m", "csiU+009B31m"},
		{"raw C1 byte \x9b", `raw C1 byte \x9b`},
		{"truncated \xc3", `truncated \xc3`},
		{"\u202aLRE \u202bRLE \u202cPDF \u202dLRO \u202eRLO", "U+202ALRE U+202BRLE U+202CPDF U+202DLRO U+202ERLO"},
		{"\u2066LRI \u2067RLI \u2068FSI \u2069PDI", "U+2066LRI U+2067RLI U+2068FSI U+2069PDI"},
		{"\u200eLRM \u200fRLM \u061cALM", "U+200ELRM U+200FRLM U+061CALM"},
		{"line\u2028sep\u2029para", "lineU+2028sepU+2029para"},
		{"a real U+FFFD \ufffd stays", "a real U+FFFD \ufffd stays"},
	} {
		got := neutralise(tc.in)
		if got != tc.want {
			t.Errorf("neutralise(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if bad := terminalControls(strings.ReplaceAll(got, "\ufffd", "")); len(bad) > 0 {
			t.Errorf("neutralise(%q) still holds %v", tc.in, bad)
		}
	}
	// Every code point and every lone byte: what a terminal acts on is
	// escaped, and everything else is kept as it is.
	check := func(in string) {
		out := neutralise(in)
		if !utf8.ValidString(out) || len(terminalControls(strings.ReplaceAll(out, "\ufffd", ""))) > 0 {
			t.Fatalf("neutralise(%q) = %q", in, out)
		}
		if len(terminalControls(in)) == 0 && !strings.ContainsAny(in, "\n\ufffd") && out != in {
			t.Fatalf("neutralise changed harmless %q into %q", in, out)
		}
	}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if utf8.ValidRune(r) {
			check("x" + string(r) + "y")
		}
	}
	for b := 0; b < 256; b++ {
		check("x" + string([]byte{byte(b)}) + "y")
	}
}

// TestPeerTextNeverReachesTerminal sends a message built to take over a
// terminal from alice to bob through the private Tor network; bob's
// `msg list` shows it with every control escaped and --json gives it
// exactly. Text that is not UTF-8 and names with controls are refused.
func TestPeerTextNeverReachesTerminal(t *testing.T) {
	parallelTor(t)
	checkBaseline(t)
	nw := startNetwork(t, 0)
	alice := newE2ENode(t, "alice", "--testnet", nw.Dir)
	bob := newE2ENode(t, "bob", "--testnet", nw.Dir)
	for _, n := range []*e2eNode{alice, bob} {
		n.start(t)
	}
	for _, n := range []*e2eNode{alice, bob} {
		n.waitReachable(t)
	}
	pair(t, alice, bob)

	// Refused before anything is stored or sent: a body that is not UTF-8
	// (a raw C1 byte, a truncated sequence), and names with ESC or BEL.
	for _, text := range []string{"csi \x9b31m", "caf\xc3"} {
		gw(t, "", "msg", "send", "bob", text, "--data", alice.data).expect(t, exitUsage, "", "is not valid UTF-8")
		gw(t, text+"\n", "msg", "send", "bob", "-", "--data", alice.data).expect(t, exitUsage, "", "is not valid UTF-8")
	}
	for _, name := range []string{"bo\x1b[2Jb", "bob\x07", "bob\u202e", "bob\u009b"} {
		r := gw(t, "", "peer", "add", bob.onion, "--name", name, "--data", alice.data)
		r.expect(t, exitUsage, "", "peer name is invalid")
		if bad := terminalControls(r.stderr); len(bad) > 0 {
			t.Errorf("the refusal of name %q prints %v", name, bad)
		}
	}
	if p := alice.peers(t)[bob.onion]; p.Name != "bob" {
		t.Fatalf("a refused rename changed bob's name to %q", p.Name)
	}

	var sent node.Message
	alice.cli(t, &sent, "msg", "send", "bob", hostileText)
	if sent.Text != hostileText {
		t.Fatalf("msg send --json answered text %q, want %q", sent.Text, hostileText)
	}
	bob.waitMessage(t, "alice", hostileText, node.StateReceived, node.StateRead)

	r := gw(t, "", "msg", "list", "--data", bob.data)
	r.expect(t, 0, `clear\x1b[2J title\x1b]0;pwned\x07 rtlU+202Eexe.txt csiU+009B31m red\x1b[0m\nsecond line`, "")
	if bad := terminalControls(r.stdout); len(bad) > 0 {
		t.Fatalf("msg list printed terminal controls %v:\n%q", bad, r.stdout)
	}
	if lines := strings.Count(r.stdout, "\n"); lines != 1 {
		t.Fatalf("msg list printed %d lines for one message:\n%q", lines, r.stdout)
	}

	var ms []node.Message
	r = gw(t, "", "msg", "list", "--json", "--data", bob.data)
	if r.code != 0 {
		t.Fatalf("msg list --json: exit %d\n%s", r.code, r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), &ms); err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Text != hostileText {
		t.Fatalf("msg list --json gave %+v, want exactly %q", ms, hostileText)
	}
	for _, n := range []*e2eNode{alice, bob} {
		n.stop(t)
	}
}

// TestDataDirMustBePrivate: a data directory other users can read or
// write is refused (exit 7, with a chmod hint) by every command that uses
// one, before it reads a key or talks to a socket; init makes it 0700.
func TestDataDirMustBePrivate(t *testing.T) {
	dir := newNode(t, "hunter2 hunter2")
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("init made the data directory %v (%v), want 0700", fi.Mode(), err)
	}
	hint := "chmod 700 " + dir
	for _, mode := range []os.FileMode{0o777, 0o755, 0o750, 0o701} {
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, dir)
		gw(t, "hunter2 hunter2\n", "id", "--data", dir, "--passphrase-file", "-").expect(t, exitPermission, "", hint)
		gw(t, "hunter2 hunter2\n", "run", "--data", dir, "--passphrase-file", "-").expect(t, exitPermission, "", hint)
		if after := snapshot(t, dir); after != before {
			t.Fatalf("mode %04o: a refused command changed the data directory", mode)
		}
	}
	// A socket in an open directory may have been put there by anyone:
	// nothing is sent to it.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(dir, "api.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := bytesReceived(l)
	gw(t, "", "status", "--data", dir).expect(t, exitPermission, "", hint)
	gw(t, "", "msg", "send", "bob", "hi", "--data", dir).expect(t, exitPermission, "", hint)
	l.Close()
	if n := <-got; n > 0 {
		t.Fatalf("the CLI sent %d bytes to a socket in a directory open to everyone", n)
	}

	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	gw(t, "x\n", "init", "--data", open, "--passphrase-file", "-").expect(t, exitPermission, "", "chmod 700 "+open)
	if _, err := os.Stat(filepath.Join(open, "identity.key")); err == nil {
		t.Fatal("init wrote an identity into a directory open to everyone")
	}
}

// bytesReceived accepts one connection on l and sends how many bytes came
// through it before it closed (0 if none came, or l closed first).
func bytesReceived(l net.Listener) <-chan int64 {
	got := make(chan int64, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- 0
			return
		}
		n, _ := io.Copy(io.Discard, c)
		c.Close()
		got <- n
	}()
	return got
}

// privateDir is a fresh directory only this user may enter, as a data
// directory must be (t.TempDir's is 0755).
func privateDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

// foreignUID is the user the foreign-socket tests act as (nobody).
const foreignUID = 65534

// helperEnv names the role a re-executed test binary plays.
const helperEnv = "GHOSTWIRE_TEST_HELPER"

// runHelper plays the role named in helperEnv, if any, and reports whether
// it did: the test binary re-executes itself to act as another user.
func runHelper() bool {
	switch os.Getenv(helperEnv) {
	case "foreign-listener":
		foreignListener()
	case "null-control":
		nullControl() // tor_cli_test.go
	default:
		return false
	}
	return true
}

// foreignListener becomes uid foreignUID, then listens on the bound
// socket it got as fd 3, so the kernel records that user as the listener
// (SO_PEERCRED); for each connection it prints how many bytes it received.
func foreignListener() {
	if err := syscall.Setgid(foreignUID); err != nil {
		fmt.Println("setgid:", err)
		return
	}
	if err := syscall.Setuid(foreignUID); err != nil {
		fmt.Println("setuid:", err)
		return
	}
	if err := syscall.Listen(3, 8); err != nil {
		fmt.Println("listen:", err)
		return
	}
	l, err := net.FileListener(os.NewFile(3, "api.sock"))
	if err != nil {
		fmt.Println("listener:", err)
		return
	}
	fmt.Println("listening")
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, _ := io.Copy(io.Discard, c)
		c.Close()
		fmt.Printf("received %d bytes\n", n)
	}
}

// TestForeignSocket: a socket another user put where the node's should be,
// or one whose listener runs as another user, gets "someone else's
// socket" (exit 7) and not a byte of the request, message text included.
func TestForeignSocket(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("foreign socket test: must run as root to act as another user; run the tests as root")
	}
	const secret = "the text another user must never read"

	t.Run("listener of another user", func(t *testing.T) {
		dir := privateDir(t)
		sock := filepath.Join(dir, "api.sock")
		fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: sock}); err != nil {
			t.Fatal(err)
		}
		f := os.NewFile(uintptr(fd), "api.sock")
		defer f.Close()
		helper := exec.Command(os.Args[0], "-test.run=^$")
		helper.Env = append(os.Environ(), helperEnv+"=foreign-listener")
		helper.ExtraFiles = []*os.File{f}
		out, err := helper.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := helper.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { helper.Process.Kill(); helper.Wait() }()
		lines := bufio.NewScanner(out)
		if !lines.Scan() || lines.Text() != "listening" {
			t.Fatalf("helper: %q %v", lines.Text(), lines.Err())
		}
		r := gw(t, "", "msg", "send", "bob", secret, "--data", dir)
		r.expect(t, exitPermission, "", "someone else's socket at "+sock)
		if !strings.Contains(r.stderr, fmt.Sprintf("uid %d", foreignUID)) || strings.Contains(r.stderr, secret) {
			t.Fatalf("stderr does not name the listener's user, or echoes the text:\n%s", r.stderr)
		}
		if !lines.Scan() || lines.Text() != "received 0 bytes" {
			t.Fatalf("the foreign listener reports %q, want %q", lines.Text(), "received 0 bytes")
		}
	})

	t.Run("socket file of another user", func(t *testing.T) {
		dir := privateDir(t)
		sock := filepath.Join(dir, "api.sock")
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if err := os.Lchown(sock, foreignUID, foreignUID); err != nil {
			t.Fatal(err)
		}
		got := bytesReceived(l)
		gw(t, "", "msg", "send", "bob", secret, "--data", dir).expect(t, exitPermission, "", "someone else's socket at "+sock)
		l.Close()
		if n := <-got; n > 0 {
			t.Fatalf("the CLI sent %d bytes to a socket file of another user", n)
		}
	})
}

// TestNodeBusyOrNotRunning: "not running" only when nothing listens; a
// node that accepts and never answers is "busy", with its own exit code.
func TestNodeBusyOrNotRunning(t *testing.T) {
	dir := privateDir(t)
	sock := filepath.Join(dir, "api.sock")

	// A socket file left by a node that died: nothing listens.
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	gw(t, "", "status", "--data", dir).expect(t, exitNotRunning, "", "start it with 'ghostwire run --data "+dir+"'")
	os.Remove(sock)

	// A node that accepts and then says nothing.
	l, err = net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	held := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(held)
				return
			}
			held <- c
		}
	}()
	r := gw(t, "", "status", "--data", dir)
	r.expect(t, exitBusy, "", "is busy (no answer in 10s)")
	if strings.Contains(r.stderr, "not running") {
		t.Fatalf("a node that accepted is reported not running:\n%s", r.stderr)
	}
	l.Close()
	for c := range held {
		c.Close()
	}
}
