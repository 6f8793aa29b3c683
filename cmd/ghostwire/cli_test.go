package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// binPath is the ghostwire binary built once for the package's tests.
var binPath string

func TestMain(m *testing.M) {
	if runHelper() {
		return
	}
	dir, err := os.MkdirTemp("", "ghostwire-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "ghostwire")
	out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building ghostwire: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

// gw runs the built binary with stdin (nil: no input, not a terminal).
func gw(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return gwContext(t, context.Background(), stdin, args...)
}

// gwContext is gw, killing the process when ctx ends.
func gwContext(t *testing.T, ctx context.Context, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = append(os.Environ(), "GHOSTWIRE_DATA=", "XDG_DATA_HOME="+t.TempDir())
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, o.String(), e.String()}
}

func (r result) expect(t *testing.T, code int, stdout, stderr string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.stdout, stdout) || !strings.Contains(r.stderr, stderr) {
		t.Fatalf("got exit %d\nstdout: %s\nstderr: %s\nwant exit %d, stdout containing %q, stderr containing %q",
			r.code, r.stdout, r.stderr, code, stdout, stderr)
	}
	if code != 0 && code != exitUsage && !strings.Contains(r.stderr, "ghostwire: hint: ") {
		t.Fatalf("error without a hint line:\n%s", r.stderr)
	}
}

// snapshot hashes every file under dir, to prove a failed command changed nothing.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, _ := d.Info()
		fmt.Fprintf(h, "%s %v\n", p, info.Mode())
		if d.Type().IsRegular() && d.Name() != "lock" {
			b, _ := os.ReadFile(p)
			h.Write(b)
		}
		return nil
	})
	return fmt.Sprintf("%x", h.Sum(nil))
}

// newNode runs init with a passphrase on stdin and returns the data dir.
func newNode(t *testing.T, pass string) string {
	dir := filepath.Join(t.TempDir(), "node")
	gw(t, pass+"\n", "init", "--data", dir, "--passphrase-file", "-").expect(t, 0, ".onion", "created identity")
	return dir
}

func TestHelpAndUsage(t *testing.T) {
	gw(t, "").expect(t, exitUsage, "", "Usage:")
	gw(t, "", "--help").expect(t, 0, "Exit codes:", "")
	gw(t, "", "help", "init").expect(t, 0, "Example:", "")
	for _, c := range []string{"init", "id"} {
		r := gw(t, "", c, "--help")
		r.expect(t, 0, "Usage: ghostwire "+c, "")
		if !strings.Contains(r.stdout, "Example:") || !strings.Contains(r.stdout, "Exit codes:") {
			t.Fatalf("%s --help lacks an example or the exit codes:\n%s", c, r.stdout)
		}
	}
	gw(t, "", "help", "frobnicate").expect(t, exitUsage, "", "unknown command")
	gw(t, "", "frobnicate").expect(t, exitUsage, "", "ghostwire: hint: run 'ghostwire --help'")
	gw(t, "", "init", "--bogus").expect(t, exitUsage, "", "flag provided but not defined: -bogus")
	gw(t, "", "init", "--passphrase", "secret").expect(t, exitUsage, "", "flag provided but not defined: -passphrase")
	gw(t, "", "id", "extra").expect(t, exitUsage, "", "id takes no arguments")
	gw(t, "", "init", "--no-passphrase", "--passphrase-file", "x").expect(t, exitUsage, "", "cannot be used together")
	gw(t, "", "run", "--lan", "--testnet", "x").expect(t, exitUsage, "", "--lan runs without tor")
	gw(t, "", "run", "--lan", "--tor-control", "127.0.0.1:9051").expect(t, exitUsage, "", "--lan runs without tor")
	gw(t, "", "run", "--interface", "eth0").expect(t, exitUsage, "", "add --lan")
	gw(t, "", "run", "--lan", "--listen", "eth0").expect(t, exitUsage, "", "want ADDR:PORT")
}

func TestNodeVerbsWithoutNode(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"status"}, {"peer", "list"}, {"msg", "list"}, {"ioc", "list"},
		{"msg", "send", "bob", "hi"}, {"collection", "list"},
		{"peer", "requests"}, {"peer", "block", "bob"}, {"peer", "verify", "bob", "--safety-number", "1"},
	} {
		gw(t, "", append(args, "--data", dir)...).expect(t, exitNotRunning, "", "ghostwire: hint: start it with 'ghostwire run --data")
	}
	gw(t, "", "peer").expect(t, exitUsage, "", "peer needs a verb")
	gw(t, "", "peer", "frob").expect(t, exitUsage, "", "unknown peer verb")
	gw(t, "", "peer", "add", "not-an-address", "--data", dir).expect(t, exitUsage, "", "hint: an address is 56")
	gw(t, "", "msg", "send", "bob", "--data", dir).expect(t, exitUsage, "", "quote the text")
	gw(t, "", "peer", "--help").expect(t, 0, "Example:", "")
	// A flag for other verbs is refused, not ignored, before the node is
	// asked anything.
	gw(t, "", "ioc", "fetch", "abc", "--tlp", "red", "--data", dir).expect(t, exitUsage, "", "--tlp does not apply to ioc fetch")
	gw(t, "", "peer", "list", "--name", "bob", "--data", dir).expect(t, exitUsage, "", "hint: --name is for peer add")
	gw(t, "", "peer", "block", "bob", "--safety-number", "1", "--data", dir).expect(t, exitUsage, "", "hint: --safety-number is for peer verify")
	gw(t, "", "msg", "send", "bob", "hi", "--follow", "--data", dir).expect(t, exitUsage, "", "--follow does not apply to msg send")
	gw(t, "", "ioc", "--help").expect(t, 0, "(drop, list, import, export)", "")
	gw(t, "", "collection", "writers", "default", "--data", dir).expect(t, exitUsage, "", "takes a collection name and a mode")
	gw(t, "", "collection", "list", "--authors", "bob", "--data", dir).expect(t, exitUsage, "", "--authors does not apply to collection list")
}

func TestInitAndID(t *testing.T) {
	dir := newNode(t, "hunter2 hunter2")
	st, err := os.Stat(filepath.Join(dir, "identity.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	r := gw(t, "hunter2 hunter2\n", "id", "--data", dir, "--passphrase-file", "-", "--json")
	r.expect(t, 0, `"onion"`, "")
	var out idJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Onion) != 62 || !strings.HasSuffix(out.Onion, ".onion") || len(out.PublicKey) != 64 || len(out.Fingerprint) != 71 {
		t.Fatalf("bad id output %+v", out)
	}
	if r.stderr != "" {
		t.Fatalf("stderr not empty on success: %q", r.stderr)
	}
	// Passphrase from a file works too; the text form carries the same address.
	pf := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pf, []byte("hunter2 hunter2\n"), 0o600)
	gw(t, "", "id", "--data", dir, "--passphrase-file", pf).expect(t, 0, out.Onion, "")

	// Safety numbers: the same string on both sides.
	other := filepath.Join(t.TempDir(), "other")
	var o2 idJSON
	r2 := gw(t, "", "init", "--data", other, "--no-passphrase", "--json")
	r2.expect(t, 0, `"onion"`, "unencrypted")
	json.Unmarshal([]byte(r2.stdout), &o2)
	var ab, ba idJSON
	json.Unmarshal([]byte(gw(t, "hunter2 hunter2\n", "id", "--data", dir, "--passphrase-file", "-", "--json", "--with", strings.ToUpper(o2.Onion)).stdout), &ab)
	json.Unmarshal([]byte(gw(t, "", "id", "--data", other, "--json", "--with", strings.TrimSuffix(out.Onion, ".onion")).stdout), &ba)
	if ab.SafetyNumber == "" || ab.SafetyNumber != ba.SafetyNumber {
		t.Fatalf("safety numbers differ: %q vs %q", ab.SafetyNumber, ba.SafetyNumber)
	}
	if ab.Peer != o2.Onion {
		t.Fatalf("peer %q, want %q", ab.Peer, o2.Onion)
	}
	gw(t, "", "id", "--data", other, "--with", o2.Onion).expect(t, exitUsage, "", "your own identity")
	gw(t, "", "id", "--data", other, "--with", "example.com").expect(t, exitUsage, "", "hint: an address is 56")
}

// TestErrorsChangeNothing: every failure prints an error and a hint, exits
// with its named code, and leaves the data directory exactly as it was.
func TestErrorsChangeNothing(t *testing.T) {
	const pass = "correct horse\n"
	cases := []struct {
		name   string
		break_ func(t *testing.T, dir string)
		stdin  string
		args   []string
		code   int
		stderr string
	}{
		{"wrong passphrase", nil, "wrong\n", []string{"id", "--passphrase-file", "-"}, exitAuth, "wrong passphrase"},
		{"no terminal", nil, "", []string{"id"}, exitUsage, "no terminal"},
		{"init over identity", nil, pass, []string{"init", "--passphrase-file", "-"}, exitExists, "already exists"},
		{"init over unreadable identity", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "identity.key"), []byte("garbage"), 0o600)
		}, pass, []string{"init", "--passphrase-file", "-"}, exitExists, "already exists"},
		{"truncated key file", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "identity.key")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o600)
		}, pass, []string{"id", "--passphrase-file", "-"}, exitCorrupt, "corrupt or truncated"},
		{"bad magic", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "identity.key")
			b, _ := os.ReadFile(p)
			b[0] ^= 0xff
			os.WriteFile(p, b, 0o600)
		}, pass, []string{"id", "--passphrase-file", "-"}, exitCorrupt, "not a GhostWire key file"},
		{"flipped ciphertext", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "identity.key")
			b, _ := os.ReadFile(p)
			b[len(b)-20] ^= 1
			os.WriteFile(p, b, 0o600)
		}, pass, []string{"id", "--passphrase-file", "-"}, exitAuth, "sealed part"},
		{"world-readable key", func(t *testing.T, dir string) {
			os.Chmod(filepath.Join(dir, "identity.key"), 0o644)
		}, pass, []string{"id", "--passphrase-file", "-"}, exitPermission, "chmod 600"},
		{"missing key", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "identity.key"))
		}, pass, []string{"id", "--passphrase-file", "-"}, exitNoIdentity, "ghostwire init --data"},
		{"missing passphrase file", nil, "", []string{"id", "--passphrase-file", "/nonexistent/pass"}, exitUsage, "passphrase file /nonexistent/pass does not exist"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := newNode(t, strings.TrimSpace(pass))
			if c.break_ != nil {
				c.break_(t, dir)
			}
			before := snapshot(t, dir)
			args := append(append([]string{}, c.args...), "--data", dir)
			gw(t, c.stdin, args...).expect(t, c.code, "", c.stderr)
			if after := snapshot(t, dir); after != before {
				t.Fatal("the data directory changed")
			}
		})
	}
}

// TestDataDirInUse holds the directory's lock as a running node would and
// checks that init refuses with exitInUse.
func TestDataDirInUse(t *testing.T) {
	dir := privateDir(t) // a data directory is refused unless private
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "%d\n", os.Getpid())
	r := gw(t, "pw\n", "init", "--data", dir, "--passphrase-file", "-")
	r.expect(t, exitInUse, "", fmt.Sprintf("in use by ghostwire process %d", os.Getpid()))
	if _, err := os.Stat(filepath.Join(dir, "identity.key")); err == nil {
		t.Fatal("init wrote an identity into a locked directory")
	}
}
