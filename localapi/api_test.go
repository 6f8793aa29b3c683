package localapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/cloak"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/node"
	"github.com/ghostwire/ghostwire/onion"
	"github.com/ghostwire/ghostwire/store"
)

// testNode runs a node whose tor never comes up: its transport attaches to
// a loopback control port nothing listens on, so the node is in the "tor
// unavailable" state the whole time, which is what the API must cope with.
type testNode struct {
	n      *node.Node
	db     *store.DB
	dir    string
	sock   string
	cancel context.CancelFunc
	done   chan error
	client *http.Client
}

func startTestNode(t testing.TB, dir string, seed byte) *testNode {
	t.Helper()
	return startTestNodeWith(t, dir, seed, nil)
}

// startTestNodeWith is startTestNode with the API's server changed by tune
// (if not nil) before it serves.
func startTestNodeWith(t testing.TB, dir string, seed byte, tune func(*server)) *testNode {
	t.Helper()
	n, db, ln, err := openTestNode(dir, seed)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "api.sock")
	ctx, cancel := context.WithCancel(context.Background())
	tn := &testNode{n: n, db: db, dir: dir, sock: sock, cancel: cancel, done: make(chan error, 1)}
	s := newServer(n, nil)
	if tune != nil {
		tune(s)
	}
	go func() { tn.done <- s.run(ctx, ln) }()
	tn.client = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}, Timeout: 10 * time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("API socket never appeared")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Cleanup(func() { tn.stop(t) })
	return tn
}

func (tn *testNode) stop(t testing.TB) {
	if tn.cancel == nil {
		return
	}
	tn.cancel()
	tn.cancel = nil
	select {
	case err := <-tn.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("Run did not return after cancel")
	}
	tn.db.Close()
}

func (tn *testNode) req(t *testing.T, method, path, ctype string, body io.Reader) (int, string) {
	t.Helper()
	r, _ := http.NewRequest(method, "http://ghostwire"+path, body)
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	resp, err := tn.client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// openTestNode opens the store in dir and a node on it (whose tor never
// comes up) with the identity seed gives, and its API socket.
func openTestNode(dir string, seed byte) (*node.Node, *store.DB, net.Listener, error) {
	secrets, err := identity.GenerateSecrets(bytes.NewReader(bytes.Repeat([]byte{seed}, 128)))
	if err != nil {
		return nil, nil, nil, err
	}
	db, err := store.Open(filepath.Join(dir, "store"), secrets.StoreKey[:], nil)
	if err != nil {
		return nil, nil, nil, err
	}
	tor, err := onion.Start(onion.Config{ControlAddr: "127.0.0.1:1"})
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	n, err := node.New(node.Config{Secrets: secrets, Store: db, Mode: cloak.ModeTor, Transport: onion.NewTransport(tor), SpoolDir: dir})
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	ln, err := Listen(filepath.Join(dir, "api.sock"))
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	return n, db, ln, nil
}

// state is everything the API can show, to prove a failed call changed nothing.
func (tn *testNode) state(t *testing.T) string {
	_, peers := tn.req(t, "GET", "/v1/peers", "", nil)
	_, msgs := tn.req(t, "GET", "/v1/messages", "", nil)
	_, iocs := tn.req(t, "GET", "/v1/iocs", "", nil)
	items, _ := tn.db.CountItems()
	return fmt.Sprint(peers, msgs, iocs, items)
}

func TestAPIErrors(t *testing.T) {
	tn := startTestNode(t, t.TempDir(), 1)
	other, _ := identity.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{9}, 64)))
	code, body := tn.req(t, "POST", "/v1/peers", "application/json", strings.NewReader(`{"onion":"`+other.ID().String()+`","name":"bob"}`))
	if code != 201 {
		t.Fatalf("add peer: %d %s", code, body)
	}
	before := tn.state(t)
	huge := `{"peer":"bob","text":"` + strings.Repeat("x", 70<<10) + `"}`
	cases := []struct {
		name, method, path, ctype, body string
		code                            int
		want                            string
	}{
		{"wrong method", "PUT", "/v1/status", "", "", 405, "method not allowed"},
		{"unknown endpoint", "GET", "/v1/nope", "", "", 404, "no such endpoint"},
		{"malformed JSON", "POST", "/v1/messages", "application/json", `{"peer":`, 400, "malformed JSON"},
		{"unknown field", "POST", "/v1/messages", "application/json", `{"peer":"bob","text":"x","extra":1}`, 400, "unknown field"},
		{"trailing data", "POST", "/v1/messages", "application/json", `{"peer":"bob","text":"x"} {}`, 400, "trailing data"},
		{"not JSON", "POST", "/v1/messages", "text/plain", `hello`, 415, "application/json"},
		{"oversized body", "POST", "/v1/messages", "application/json", huge, 413, "larger than"},
		{"unknown peer", "POST", "/v1/messages", "application/json", `{"peer":"nobody","text":"x"}`, 404, "no peer named"},
		{"empty text", "POST", "/v1/messages", "application/json", `{"peer":"bob","text":"  "}`, 400, "empty"},
		{"bad onion", "POST", "/v1/peers", "application/json", `{"onion":"example.com"}`, 400, "56 letters"},
		{"own address", "POST", "/v1/peers", "application/json", `{"onion":"` + tn.n.ID().String() + `"}`, 400, "own address"},
		{"remove unknown", "DELETE", "/v1/peers/nobody", "", "", 404, "no peer named"},
		{"bad ioc type", "POST", "/v1/iocs", "application/json", `{"type":"ssn","value":"1"}`, 400, "types:"},
		{"ambiguous ipv4", "POST", "/v1/iocs", "application/json", `{"type":"ipv4","value":"010.0.0.1"}`, 400, "leading zero"},
		{"amber without recipients", "POST", "/v1/iocs", "application/json", `{"type":"ipv4","value":"192.0.2.1","tlp":"amber"}`, 400, "recipients"},
		{"amber to a peer without key", "POST", "/v1/iocs", "application/json", `{"type":"ipv4","value":"192.0.2.1","tlp":"amber","to":["bob"]}`, 400, "no encryption key"},
		{"bad ioc id", "GET", "/v1/iocs/zz", "", "", 400, "bad IOC id"},
		{"unknown writers mode", "PUT", "/v1/collections/default/writers", "application/json", `{"mode":"friends"}`, 400, "unknown writers mode"},
		{"listed without authors", "PUT", "/v1/collections/default/writers", "application/json", `{"mode":"listed"}`, 400, "at least one"},
		{"writers of a bad name", "PUT", "/v1/collections/a%0Ab/writers", "application/json", `{"mode":"peers"}`, 400, "invalid collection name"},
		{"unknown author", "PUT", "/v1/collections/default/writers", "application/json", `{"mode":"listed","authors":["nobody"]}`, 404, "no peer named"},
		// encoding/json would store these as U+FFFD: refused instead.
		{"message not UTF-8", "POST", "/v1/messages", "application/json", "{\"peer\":\"bob\",\"text\":\"caf\xe9\"}", 400, "not UTF-8 (first bad byte at offset 25)"},
		{"name not UTF-8", "POST", "/v1/peers", "application/json", `{"onion":"` + other.ID().String() + "\",\"name\":\"b\xffob\"}", 400, "not UTF-8"},
	}
	for _, c := range cases {
		code, body := tn.req(t, c.method, c.path, c.ctype, strings.NewReader(c.body))
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want %d containing %q", c.name, code, body, c.code, c.want)
			continue
		}
		var e ErrorBody
		if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
			t.Errorf("%s: error body is not JSON with a message: %s", c.name, body)
		}
		if after := tn.state(t); after != before {
			t.Fatalf("%s changed state", c.name)
		}
	}
}

func TestAPIStatusWhileTorIsDown(t *testing.T) {
	tn := startTestNode(t, t.TempDir(), 2)
	code, body := tn.req(t, "GET", "/v1/status", "", nil)
	var st node.Status
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil {
		t.Fatalf("%d %s", code, body)
	}
	if st.Transport.Ready || st.Transport.Reachable || st.Onion != tn.n.ID().String() {
		t.Fatalf("status with no tor: %+v", st)
	}
}

// TestOutboxSurvivesRestart: a message to a peer whose key is unknown (tor
// is down) waits in the outbox, and is still there after a restart.
func TestOutboxSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	tn := startTestNode(t, dir, 3)
	other, _ := identity.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{8}, 64)))
	tn.req(t, "POST", "/v1/peers", "application/json", strings.NewReader(`{"onion":"`+other.ID().String()+`","name":"bob"}`))
	code, body := tn.req(t, "POST", "/v1/messages", "application/json", strings.NewReader(`{"peer":"bob","text":"wait for me"}`))
	if code != 202 || !strings.Contains(body, `"queued"`) {
		t.Fatalf("send: %d %s", code, body)
	}
	tn.stop(t)
	tn2 := startTestNode(t, dir, 3)
	_, list := tn2.req(t, "GET", "/v1/messages?peer=bob", "", nil)
	if !strings.Contains(list, "wait for me") || !strings.Contains(list, `"queued"`) {
		t.Fatalf("after restart: %s", list)
	}
}

// TestAPISocketPrivate: the socket is 0600, and a process running as
// another user cannot connect to it (checked with a real connect as uid
// 65534 from a re-executed test binary).
func TestAPISocketPrivate(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test must run as root to try the socket as another user")
	}
	base, err := os.MkdirTemp("", "gw-api")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) }) // runs after the node's own cleanup
	os.Chmod(base, 0o755)                    // so only the socket's own mode protects it
	tn := startTestNode(t, base, 4)
	st, err := os.Stat(tn.sock)
	if err != nil || st.Mode().Perm() != 0o600 || st.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket mode %v %v", st.Mode(), err)
	}
	exe, _ := os.Executable()
	bin := filepath.Join(base, "probe")
	b, _ := os.ReadFile(exe)
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run", "^TestHelperConnect$")
	cmd.Env = append(os.Environ(), "GW_PROBE_SOCKET="+tn.sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "probe: permission denied") {
		t.Fatalf("another user's connect did not fail with EACCES:\n%s", out)
	}
}

// TestHelperConnect is the probe TestAPISocketPrivate runs as another user.
func TestHelperConnect(t *testing.T) {
	sock := os.Getenv("GW_PROBE_SOCKET")
	if sock == "" {
		return // not a probe run: nothing to do
	}
	c, err := net.Dial("unix", sock)
	switch {
	case errors.Is(err, syscall.EACCES):
		fmt.Println("probe: permission denied")
	case err != nil:
		fmt.Println("probe: other error:", err)
	default:
		c.Close()
		fmt.Println("probe: CONNECTED")
	}
}

// TestCollectionWriters: who may write to a collection is set and read
// through the API (the CLI's 'collection writers' and 'collection list'),
// authors given by peer name or address.
func TestCollectionWriters(t *testing.T) {
	tn := startTestNode(t, t.TempDir(), 3)
	other, _ := identity.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{8}, 64)))
	if code, body := tn.req(t, "POST", "/v1/peers", "application/json", strings.NewReader(`{"onion":"`+other.ID().String()+`","name":"bob"}`)); code != 201 {
		t.Fatalf("add peer: %d %s", code, body)
	}
	code, body := tn.req(t, "GET", "/v1/collections", "", nil)
	if code != 200 || !strings.Contains(body, `"name": "default"`) || !strings.Contains(body, `"mode": "anyone"`) {
		t.Fatalf("collections before: %d %s", code, body)
	}
	code, body = tn.req(t, "PUT", "/v1/collections/default/writers", "application/json", strings.NewReader(`{"mode":"listed","authors":["bob"]}`))
	if code != 200 || !strings.Contains(body, other.ID().String()) {
		t.Fatalf("set writers: %d %s", code, body)
	}
	code, body = tn.req(t, "GET", "/v1/collections", "", nil)
	if code != 200 || !strings.Contains(body, `"mode": "listed"`) || !strings.Contains(body, other.ID().String()) {
		t.Fatalf("collections after: %d %s", code, body)
	}
}
