// Package testuser lets a test meet GhostWire the way a user on a shared
// machine does: the node runs as its own unprivileged account, an attacker
// as a second one, and a system tor as Debian's debian-tor, which hands the
// node its control cookie through a group (docs/tor.md, "Which user runs
// what in the tests").
//
// A node run as root hides what a real user hits — the permissions of its
// sockets and data directory, reading the system tor's cookie, tor's own
// privilege drop — and an attacker running as root proves nothing, since
// root may enter every directory. So when the suite runs as root, the tests
// switch accounts with this package; without root they cannot create or
// become another account, and the parts that need one fail with a message
// that says so.
//
// The accounts are dedicated ones, made with useradd on first use and kept
// (a system account with no home and no login shell): "nobody" must own no
// files, yet a node's data directory has to belong to its account.
package testuser

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The accounts the tests use.
const (
	// NodeName runs the node under test (and its managed tor). It is in
	// TorGroup, as Debian asks of a user who attaches to the system tor
	// ('adduser $USER debian-tor').
	NodeName = "gwtest-node"
	// OtherName is the other local user: the attacker.
	OtherName = "gwtest-other"
	// TorName is the account Debian's tor package runs the system tor as;
	// its group reads the control cookie (CookieAuthFileGroupReadable).
	TorName  = "debian-tor"
	TorGroup = "debian-tor"
)

// Account is a local account a test runs processes as. The zero Account
// stands for the test's own user.
type Account struct {
	Name     string
	UID, GID int
	// Groups are its supplementary groups, as login would give them.
	Groups []uint32
	// Self is set when the account is the one running the test (a test not
	// run as root): processes started as it need no switch.
	Self bool
}

// Root reports whether the test runs as root, the only way it can switch
// accounts.
func Root() bool { return os.Geteuid() == 0 }

// Node returns the account the node under test runs as: NodeName, created
// if missing and put in TorGroup, when the test runs as root; otherwise the
// invoking user, who is what a developer's machine runs the node as anyway.
func Node(t testing.TB) Account {
	t.Helper()
	if !Root() {
		return self(t)
	}
	if _, err := user.LookupGroup(TorGroup); err != nil {
		t.Fatalf("testuser: no group %s (%v); install Debian's tor package, which creates it (apt-get install -y tor)", TorGroup, err)
	}
	return ensure(t, NodeName, TorGroup)
}

// Other returns the attacker's account, OtherName, created if missing. It
// needs root: an attacker that is the invoking user would be the node's own
// user, and a test that used it would prove nothing, so the test fails
// instead of skipping its point.
func Other(t testing.TB) Account {
	t.Helper()
	if !Root() {
		t.Fatalf("testuser: this test runs an attacker as another local user (%s) and must run as root to create and become it (sudo go test)", OtherName)
	}
	return ensure(t, OtherName, "")
}

// Tor returns Debian's tor account (created by the tor package).
func Tor(t testing.TB) Account {
	t.Helper()
	a, err := lookup(TorName)
	if err != nil {
		t.Fatalf("testuser: no account %s (%v); install Debian's tor package, which creates it (apt-get install -y tor)", TorName, err)
	}
	return a
}

func self(t testing.TB) Account {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	a, err := lookup(u.Username)
	if err != nil {
		t.Fatal(err)
	}
	a.Self = true
	return a
}

// ensure returns the account name, creating it (a system account: no home,
// no login) or adding it to group when needed. Test binaries of several
// packages may do this at once; useradd and usermod lock /etc/passwd and
// fail rather than wait, so a busy lock is tried again.
func ensure(t testing.TB, name, group string) Account {
	t.Helper()
	run := func(args ...string) {
		var out []byte
		var err error
		for range 20 {
			if out, err = exec.Command(args[0], args[1:]...).CombinedOutput(); err == nil {
				return
			}
			if a, lerr := lookup(name); lerr == nil && (group == "" || a.inGroup(group)) {
				return // another test binary did it meanwhile
			}
			time.Sleep(250 * time.Millisecond)
		}
		t.Fatalf("testuser: %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	a, err := lookup(name)
	if err != nil {
		args := []string{"useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"}
		if group != "" {
			args = append(args, "--groups", group)
		}
		run(append(args, name)...)
	} else if group != "" && !a.inGroup(group) {
		run("usermod", "--append", "--groups", group, name)
	}
	if a, err = lookup(name); err != nil {
		t.Fatal(err)
	}
	return a
}

func lookup(name string) (Account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return Account{}, err
	}
	a := Account{Name: u.Username}
	a.UID, _ = strconv.Atoi(u.Uid)
	a.GID, _ = strconv.Atoi(u.Gid)
	gids, err := u.GroupIds()
	if err != nil {
		return Account{}, err
	}
	for _, g := range gids {
		n, _ := strconv.Atoi(g)
		a.Groups = append(a.Groups, uint32(n))
	}
	return a, nil
}

func (a Account) inGroup(name string) bool {
	g, err := user.LookupGroup(name)
	if err != nil {
		return false
	}
	gid, _ := strconv.Atoi(g.Gid)
	for _, x := range a.Groups {
		if int(x) == gid {
			return true
		}
	}
	return false
}

// Start sets cmd to run as a (its user, group and supplementary groups),
// or leaves it alone for the test's own account and for the zero Account,
// which means "whoever runs the test".
func (a Account) Start(cmd *exec.Cmd) {
	if !a.Switches() {
		return
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(a.UID), Gid: uint32(a.GID), Groups: a.Groups}
}

// Own gives each path (not recursively) to a, with mode.
func (a Account) Own(t testing.TB, mode os.FileMode, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.Chown(p, a.UID, a.GID); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
}

// MkdirOwned makes dir for a with mode, its parents as by PassThrough.
func (a Account) MkdirOwned(t testing.TB, dir string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	PassThrough(t, filepath.Dir(dir))
	a.Own(t, mode, dir)
	return dir
}

// Switches reports whether processes started as a run as another user
// than the test's.
func (a Account) Switches() bool { return a.Name != "" && !a.Self }

// PassThrough lets every user traverse dir and each of its ancestors (adds
// x for group and others; nothing becomes listable or writable), so another account
// can reach a directory of its own that a test made under t.TempDir (0700).
func PassThrough(t testing.TB, dir string) {
	t.Helper()
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o011); err != nil {
				t.Fatal(err)
			}
		}
		if d == "/" {
			return
		}
	}
}

// Executable copies the test binary where every account may run it (the
// build directory is private to the user who built it) and returns it.
func Executable(t testing.TB) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	PassThrough(t, dir)
	p := filepath.Join(dir, filepath.Base(self))
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// AssertRuns fails the test unless process pid runs as a: its real,
// effective, saved and filesystem user IDs alike. A test whose node
// silently ran as root would otherwise pass on root's privileges.
func (a Account) AssertRuns(t testing.TB, what string, pid int) {
	t.Helper()
	ids, err := UIDs(pid)
	if err != nil {
		t.Fatalf("testuser: %s (pid %d): %v", what, pid, err)
	}
	for _, id := range ids {
		if id != a.UID {
			t.Fatalf("testuser: %s (pid %d) runs with user IDs %v, want all %d (%s)", what, pid, ids, a.UID, a.Name)
		}
	}
	t.Logf("%s (pid %d) runs as %s: user IDs %v", what, pid, a.Name, ids)
}

// UIDs reads the four user IDs (real, effective, saved, filesystem) of pid
// from /proc/PID/status.
func UIDs(pid int) ([]int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			var ids []int
			for _, f := range strings.Fields(rest) {
				n, err := strconv.Atoi(f)
				if err != nil {
					return nil, fmt.Errorf("/proc/%d/status: %q", pid, line)
				}
				ids = append(ids, n)
			}
			if len(ids) != 4 {
				return nil, fmt.Errorf("/proc/%d/status: %q", pid, line)
			}
			return ids, nil
		}
	}
	return nil, fmt.Errorf("/proc/%d/status has no Uid line", pid)
}
