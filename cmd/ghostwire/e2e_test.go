package main

// End-to-end tests: the built binary as separate `ghostwire run` processes
// over a private Tor network the test starts itself, driven through the CLI
// and the local API exactly as a user or a script would. Assertions are on
// API results (JSON), never on log text.

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/localapi"
	"github.com/ghostwire/ghostwire/node"
	"github.com/ghostwire/ghostwire/onion/testnet"
)

// Bounds of the end-to-end waits (nothing here is a timing assertion: a
// wait that runs out fails with the state it last saw).
const (
	e2eNetLimit   = 120 * time.Second // private network up
	e2eReachLimit = 90 * time.Second  // a node's onion service published
	e2eSyncLimit  = 90 * time.Second  // an item crosses between two nodes
	e2eStopLimit  = 20 * time.Second  // SIGTERM → exit
	e2eCLILimit   = 30 * time.Second  // one CLI call
	e2eAPILimit   = 10 * time.Second  // one API request
	e2ePollEvery  = 100 * time.Millisecond
)

// e2eNode is one node the end-to-end tests run: a data directory and,
// while it runs, its `ghostwire run` process.
type e2eNode struct {
	name, data, onion string
	runArgs           []string // after "run --data DIR"
	wrap              []string // runs the binary through this command (ip netns exec NS), if set
	api               *localapi.Client

	log    string // every run's stderr, shown when the test fails
	cmd    *exec.Cmd
	stderr *bytes.Buffer // of the current run; read only after done
	done   chan struct{}
	code   int
}

// startNetwork starts a private Tor network with clients client tors and
// stops it when the test ends.
func startNetwork(t testing.TB, clients int) *testnet.Network {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eNetLimit)
	defer cancel()
	nw, err := testnet.Start(ctx, testnet.Config{Dir: filepath.Join(t.TempDir(), "net"), Clients: clients})
	if err != nil {
		t.Fatalf("private tor network: %v (is tor installed? Debian: apt-get install tor)", err)
	}
	t.Cleanup(func() {
		if err := nw.Stop(); err != nil {
			t.Errorf("stopping the private network: %v", err)
		}
	})
	return nw
}

// newE2ENode makes an identity (no passphrase) in a fresh data directory.
func newE2ENode(t testing.TB, name string, runArgs ...string) *e2eNode {
	t.Helper()
	n := &e2eNode{name: name, data: filepath.Join(t.TempDir(), name), runArgs: runArgs}
	var id idJSON
	cliJSON(t, nil, &id, "init", "--data", n.data, "--no-passphrase", "--json")
	n.onion, n.api = id.Onion, newAPIClient(n.data)
	n.log = n.data + ".log"
	t.Cleanup(func() {
		if n.running() {
			n.cmd.Process.Kill()
			<-n.done
		}
		if t.Failed() {
			b, _ := os.ReadFile(n.log)
			if len(b) > 16<<10 {
				b = b[len(b)-16<<10:]
			}
			t.Logf("%s's log (tail):\n%s", n.name, b)
		}
	})
	return n
}

// start runs the node in the background.
func (n *e2eNode) start(t testing.TB) {
	t.Helper()
	if n.running() {
		t.Fatalf("%s is already running", n.name)
	}
	args := append(append(append([]string{}, n.wrap...), binPath, "run", "--data", n.data), n.runArgs...)
	n.cmd = exec.Command(args[0], args[1:]...)
	n.stderr = new(bytes.Buffer)
	logf, err := os.OpenFile(n.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	n.cmd.Stderr = io.MultiWriter(n.stderr, logf)
	if err := n.cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	n.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		cmd.Wait()
		logf.Close() // after Wait: the copy into it has ended
		n.code = cmd.ProcessState.ExitCode()
		close(done)
	}(n.cmd, n.done)
}

func (n *e2eNode) running() bool {
	if n.done == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and requires a clean exit: code 0 within e2eStopLimit
// and nothing on stderr that looks like a crash.
func (n *e2eNode) stop(t testing.TB) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("%s: SIGTERM: %v", n.name, err)
	}
	select {
	case <-n.done:
	case <-time.After(e2eStopLimit):
		n.cmd.Process.Signal(syscall.SIGQUIT) // a goroutine dump, to see where it hung
		<-n.done
		t.Fatalf("%s did not exit within %s of SIGTERM\n%s", n.name, e2eStopLimit, n.stderr)
	}
	n.checkExit(t)
}

// checkExit fails the test unless the finished run exited 0 without a
// panic, a fatal runtime error or a data race report.
func (n *e2eNode) checkExit(t testing.TB) {
	t.Helper()
	errs := n.stderr.String()
	for _, bad := range []string{"panic", "fatal error:", "DATA RACE"} {
		if strings.Contains(errs, bad) {
			t.Fatalf("%s: %q on stderr:\n%s", n.name, bad, errs)
		}
	}
	if n.code != 0 {
		t.Fatalf("%s exited %d, want 0\n%s", n.name, n.code, errs)
	}
}

// get decodes a GET of the node's API into out; errors are returned, not
// fatal, so polls can wait for a node still starting.
func (n *e2eNode) get(path string, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), e2eAPILimit)
	defer cancel()
	return n.api.Do(ctx, http.MethodGet, path, nil, out)
}

// raw sends a request to the node's API and returns the HTTP status and
// the body, for checking refusals.
func (n *e2eNode) raw(t testing.TB, method, path string, body any) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(context.Background(), e2eAPILimit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://ghostwire"+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.api.DoRequest(req)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", n.name, method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, out
}

// cli runs the binary with the node's --data and decodes its JSON output.
func (n *e2eNode) cli(t testing.TB, out any, args ...string) {
	t.Helper()
	cliJSON(t, n, out, append(args, "--data", n.data, "--json")...)
}

func cliJSON(t testing.TB, n *e2eNode, out any, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eCLILimit)
	defer cancel()
	var o, e bytes.Buffer
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("ghostwire %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, o.String(), e.String())
	}
	if out != nil {
		if err := json.Unmarshal(o.Bytes(), out); err != nil {
			t.Fatalf("ghostwire %s: output is not the expected JSON: %v\n%s", strings.Join(args, " "), err, o.String())
		}
	}
}

// eventually polls cond every e2ePollEvery until it holds; after limit it
// fails with cond's last description of the state.
func eventually(t testing.TB, what string, limit time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not done within %s; last state: %s", what, limit, state)
		}
		time.Sleep(e2ePollEvery)
	}
}

func (n *e2eNode) waitReachable(t testing.TB) {
	t.Helper()
	eventually(t, n.name+" reachable", e2eReachLimit, func() (bool, string) {
		if !n.running() {
			t.Fatalf("%s exited %d while starting:\n%s", n.name, n.code, n.stderr)
		}
		var st node.Status
		if err := n.get("/v1/status", &st); err != nil {
			return false, err.Error()
		}
		return st.Transport.Reachable, fmt.Sprintf("%+v", st.Transport)
	})
}

// messages lists n's conversation with peer (by name) keyed by text.
func (n *e2eNode) messages(peer string) (map[string]node.Message, error) {
	var ms []node.Message
	if err := n.get("/v1/messages?peer="+peer, &ms); err != nil {
		return nil, err
	}
	out := map[string]node.Message{}
	for _, m := range ms {
		out[m.Text] = m
	}
	return out, nil
}

// waitMessage waits until n holds a message with text from or to peer in
// one of the states.
func (n *e2eNode) waitMessage(t testing.TB, peer, text string, states ...string) node.Message {
	t.Helper()
	var got node.Message
	eventually(t, fmt.Sprintf("%s sees %q with %s as %v", n.name, text, peer, states), e2eSyncLimit, func() (bool, string) {
		ms, err := n.messages(peer)
		if err != nil {
			return false, err.Error()
		}
		m, ok := ms[text]
		if !ok {
			return false, "absent"
		}
		got = m
		for _, s := range states {
			if m.State == s {
				return true, ""
			}
		}
		return false, "state " + m.State
	})
	return got
}

func (n *e2eNode) peers(t testing.TB) map[string]node.Peer {
	t.Helper()
	var ps []node.Peer
	n.cli(t, &ps, "peer", "list")
	out := map[string]node.Peer{}
	for _, p := range ps {
		out[p.Onion] = p
	}
	return out
}

// pair has every node add every other, by name, through the CLI.
func pair(t testing.TB, nodes ...*e2eNode) {
	t.Helper()
	for _, p := range nodes {
		for _, q := range nodes {
			if p != q {
				var got node.Peer
				p.cli(t, &got, "peer", "add", q.onion, "--name", q.name)
				if got.Onion != q.onion || got.Name != q.name {
					t.Fatalf("%s peer add %s: got %+v", p.name, q.name, got)
				}
			}
		}
	}
}

// TestE2EDemoRestartRemove runs the demo's scenario over a private Tor
// network with each node on its own tor, then a restart of bob with
// messages queued at alice while he was down, then alice removing bob.
func TestE2EDemoRestartRemove(t *testing.T) {
	parallelTor(t)
	checkBaseline(t)
	nw := startNetwork(t, 0)
	var alice, bob, carol *e2eNode
	nodes := []*e2eNode{}
	for _, name := range []string{"alice", "bob", "carol"} {
		n := newE2ENode(t, name, "--testnet", nw.Dir)
		n.start(t)
		nodes = append(nodes, n)
	}
	alice, bob, carol = nodes[0], nodes[1], nodes[2]
	for _, n := range nodes {
		n.waitReachable(t)
	}
	pair(t, nodes...)

	// The demo: alice → bob, bob → alice, carol's GREEN IOC reaches both.
	var sent node.Message
	alice.cli(t, &sent, "msg", "send", "bob", "hello bob")
	if sent.Direction != "out" || sent.Text != "hello bob" || sent.Peer != bob.onion {
		t.Fatalf("msg send answered %+v", sent)
	}
	in := bob.waitMessage(t, "alice", "hello bob", node.StateReceived, node.StateRead)
	if in.Direction != "in" || in.Peer != alice.onion || in.PeerName != "alice" {
		t.Fatalf("bob holds %+v", in)
	}
	// bob listed it (waitMessage did), so alice sees it read.
	alice.waitMessage(t, "bob", "hello bob", node.StateRead)
	bob.cli(t, &sent, "msg", "send", "alice", "hi alice")
	alice.waitMessage(t, "bob", "hi alice", node.StateReceived, node.StateRead)
	bob.waitMessage(t, "alice", "hi alice", node.StateRead)

	var drop node.IOC
	carol.cli(t, &drop, "ioc", "drop", "--type", "domain", "--value", "Login-Update.Example.", "--tlp", "green", "--tag", "phishing")
	if drop.ID == "" || drop.TLP != "green" || drop.Value != "login-update.example" {
		t.Fatalf("ioc drop answered %+v", drop)
	}
	for _, n := range []*e2eNode{alice, bob} {
		eventually(t, n.name+" holds carol's IOC", e2eSyncLimit, func() (bool, string) {
			var xs []node.IOC
			if err := n.get("/v1/iocs", &xs); err != nil {
				return false, err.Error()
			}
			for _, x := range xs {
				if x.ID == drop.ID {
					if x.Author != carol.onion || x.Value != drop.Value || x.TLP != "green" {
						t.Fatalf("%s holds a different IOC under carol's ID: %+v", n.name, x)
					}
					return true, ""
				}
			}
			return false, fmt.Sprintf("%d IOCs", len(xs))
		})
	}

	// bob stops cleanly; alice's messages to him wait, queued.
	bob.stop(t)
	queued := []string{"while you were out 1", "while you were out 2", "while you were out 3"}
	for _, text := range queued {
		var m node.Message
		alice.cli(t, &m, "msg", "send", "bob", text)
		if m.State != node.StateQueued {
			t.Fatalf("a message to a stopped peer is %q, want %q", m.State, node.StateQueued)
		}
	}
	ms, err := alice.messages("bob")
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range queued {
		if ms[text].State != node.StateQueued {
			t.Fatalf("alice lists %q as %q while bob is down, want queued", text, ms[text].State)
		}
	}
	// Status counts them too: they were sent as items (alice knows bob's
	// key), not parked in the outbox, and still wait (issue 15).
	var waiting node.Status
	alice.cli(t, &waiting, "status")
	if waiting.Queued < len(queued) {
		t.Fatalf("alice's status shows %d queued while %d messages wait for bob", waiting.Queued, len(queued))
	}

	// bob comes back: the queued messages reach him, alice sees them
	// delivered and (once bob lists them) read.
	bob.start(t)
	bob.waitReachable(t)
	for _, text := range queued {
		alice.waitMessage(t, "bob", text, node.StateDelivered, node.StateRead)
		bob.waitMessage(t, "alice", text, node.StateReceived, node.StateRead)
	}
	for _, text := range queued {
		alice.waitMessage(t, "bob", text, node.StateRead)
	}
	// What bob held before the restart is still there.
	ms, err = bob.messages("alice")
	if err != nil {
		t.Fatal(err)
	}
	if ms["hello bob"].Direction != "in" || ms["hi alice"].Direction != "out" {
		t.Fatalf("bob lost messages across the restart: %v", ms)
	}

	// alice removes bob: the API refuses a further message, and bob gets
	// no session from alice even though he still knows her.
	gwBounded(t, e2eCLILimit, "peer", "remove", "bob", "--data", alice.data).ok(t, "alice peer remove bob")
	if _, ok := alice.peers(t)[bob.onion]; ok {
		t.Fatal("bob is still in alice's peer list after peer remove")
	}
	code, body := alice.raw(t, http.MethodPost, "/v1/messages", map[string]string{"peer": bob.onion, "text": "after remove"})
	var apiErr localapi.ErrorBody
	if code != http.StatusNotFound || json.Unmarshal(body, &apiErr) != nil || !strings.Contains(apiErr.Error, "unknown peer") {
		t.Fatalf("sending to a removed peer: HTTP %d %s, want 404 unknown peer", code, body)
	}
	// A follow stream about a peer that is gone fails at once, as a usage
	// error naming it, instead of streaming the error reply as a message.
	gwBounded(t, e2eCLILimit, "msg", "list", "--peer", bob.onion, "--follow", "--data", alice.data).expect(t, exitUsage, "", "unknown peer")
	bob.cli(t, &sent, "msg", "send", "alice", "are you there?")
	eventually(t, "bob's session with alice ends", e2eSyncLimit, func() (bool, string) {
		var ps []node.Peer
		if err := bob.get("/v1/peers", &ps); err != nil {
			return false, err.Error()
		}
		for _, p := range ps {
			if p.Onion == alice.onion {
				return !p.Connected, fmt.Sprintf("connected %v", p.Connected)
			}
		}
		t.Fatal("bob forgot alice")
		return false, ""
	})
	// bob keeps dialling alice (his dialer retries from 2 s); for 8 s he
	// must never hold a session with her, and his message stays queued.
	for end := time.Now().Add(8 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		for _, p := range bob.peers(t) {
			if p.Onion == alice.onion && p.Connected {
				t.Fatal("bob got a session with alice after she removed him")
			}
		}
	}
	ms, err = bob.messages("alice")
	if err != nil {
		t.Fatal(err)
	}
	if m := ms["are you there?"]; m.State != node.StateQueued {
		t.Fatalf("bob's message to alice, who removed him, is %q, want queued", m.State)
	}
	var st node.Status
	alice.cli(t, &st, "status")
	if st.Peers != 1 {
		t.Fatalf("alice's status shows %d peers, want 1 (carol)", st.Peers)
	}
	for _, n := range nodes {
		n.stop(t)
	}
}

// sigtermSeed makes the random stop moments of TestSIGTERMDuringSync
// repeatable; a failure names the iteration and its delay.
const sigtermSeed = 20261123

// TestSIGTERMDuringSync stops a receiving node with SIGTERM at random
// moments while it syncs, 20 times: every stop must exit 0 without a panic,
// and every message the sender saw acknowledged must be in the receiver's
// store when it exits — checked by opening the store directly, before any
// later sync could send a lost item again and hide the loss.
func TestSIGTERMDuringSync(t *testing.T) {
	parallelTor(t)
	const (
		iterations = 20
		perRound   = 100 // messages alice queues for bob before each start
	)
	checkBaseline(t)
	nw := startNetwork(t, 2)
	cl := nw.Clients()
	alice := newE2ENode(t, "alice", "--tor-control", cl[0].ControlAddr(), "--tor-cookie", cl[0].CookieFile())
	bob := newE2ENode(t, "bob", "--tor-control", cl[1].ControlAddr(), "--tor-cookie", cl[1].CookieFile())
	alice.start(t)
	bob.start(t)
	alice.waitReachable(t)
	bob.waitReachable(t)
	pair(t, alice, bob)
	// The first sync exchanges recipient keys; after it alice seals each
	// message at once, so its item ID is fixed from the moment it is sent.
	eventually(t, "alice has bob's key", e2eSyncLimit, func() (bool, string) {
		p := alice.peers(t)[bob.onion]
		return p.HasKey, fmt.Sprintf("%+v", p)
	})
	bob.stop(t)

	rng := rand.New(rand.NewPCG(sigtermSeed, 0))
	seq := 0
	queue := func() {
		for range perRound {
			seq++
			var m node.Message
			if err := alice.api.Do(context.Background(), http.MethodPost, "/v1/messages",
				map[string]string{"peer": "bob", "text": fmt.Sprintf("item %04d", seq)}, &m); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Calibrate: how long from bob's start until his session with alice is
	// up, and from then until a round is acknowledged.
	queue()
	t0 := time.Now()
	bob.start(t)
	waitConnected(t, bob, alice)
	startup := time.Since(t0)
	t1 := time.Now()
	acked := waitAcked(t, alice, seq)
	window := time.Since(t1)
	bob.stop(t)
	checkStored(t, bob, acked)
	t.Logf("calibration: start → session %s, session → %d messages acknowledged %s", startup, perRound, window)

	// Every third stop comes at a random moment after the process starts
	// (tor attach, onion publication, dial, handshake); the others at a
	// random moment after the session is up, across the transfer, the
	// storing and the acknowledgement of the round, and a little after.
	phases := map[string]int{}
	for i := range iterations {
		queue()
		before := len(acked)
		bob.start(t)
		connected := false
		var delay time.Duration
		if i%3 == 0 {
			delay = time.Duration(rng.Int64N(int64(startup + window)))
		} else {
			waitConnected(t, bob, alice)
			connected = true
			delay = time.Duration(rng.Int64N(int64(window * 13 / 10)))
		}
		time.Sleep(delay)
		if !bob.running() {
			t.Fatalf("iteration %d: bob exited on his own (%d):\n%s", i, bob.code, bob.stderr)
		}
		bob.stop(t)
		// bob is gone: no acknowledgement can arrive any more. Give alice
		// a moment to finish recording one that was already in flight.
		time.Sleep(200 * time.Millisecond)
		acked = ackedAt(t, alice)
		checkStored(t, bob, acked)
		phase := "before the session"
		switch {
		case len(acked) == seq:
			phase = "after the round was acknowledged"
		case connected || len(acked) > before:
			phase = "during the sync"
		}
		phases[phase]++
		t.Logf("iteration %2d: SIGTERM %-6s after %s: %3d of %3d acknowledged, all in bob's store (%s)", i,
			delay.Round(time.Millisecond), map[bool]string{true: "session", false: "start"}[connected], len(acked), seq, phase)
	}
	t.Logf("stops: %v", phases)

	// Finally everything arrives, and bob still holds every message.
	bob.start(t)
	acked = waitAcked(t, alice, seq)
	bob.stop(t)
	checkStored(t, bob, acked)
	alice.stop(t)
}

// ackedAt returns the IDs of alice's outgoing messages bob acknowledged.
func ackedAt(t testing.TB, alice *e2eNode) []string {
	t.Helper()
	ms, err := alice.messages("bob")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range ms {
		if m.Direction == "out" && (m.State == node.StateDelivered || m.State == node.StateRead) {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

// waitConnected waits until n's peer list shows a session with peer (one
// in which the peer has spoken).
func waitConnected(t testing.TB, n, peer *e2eNode) {
	t.Helper()
	eventually(t, n.name+" connected to "+peer.name, e2eSyncLimit, func() (bool, string) {
		var ps []node.Peer
		if err := n.get("/v1/peers", &ps); err != nil {
			return false, err.Error()
		}
		for _, p := range ps {
			if p.Onion == peer.onion {
				return p.Connected, fmt.Sprintf("%+v", p)
			}
		}
		return false, "not a peer"
	})
}

// waitAcked waits until alice sees all n of her messages acknowledged.
func waitAcked(t testing.TB, alice *e2eNode, n int) []string {
	t.Helper()
	var ids []string
	eventually(t, fmt.Sprintf("%d messages acknowledged", n), e2eSyncLimit, func() (bool, string) {
		ids = ackedAt(t, alice)
		return len(ids) == n, fmt.Sprintf("%d acknowledged", len(ids))
	})
	return ids
}

// checkStored opens the stopped node's store in this process (as `run`
// does, with its identity) and requires every item in ids to be there.
func checkStored(t testing.TB, n *e2eNode, ids []string) {
	t.Helper()
	if n.running() {
		t.Fatalf("%s is running; its store is locked", n.name)
	}
	d := dataDir{n.data}
	secrets := testSecrets(t, d, "", "")
	defer secrets.Destroy()
	db, err := d.openStore(secrets, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range ids {
		var id item.ID
		if b, err := hex.DecodeString(s); err != nil || len(b) != len(id) {
			t.Fatalf("message ID %q is not an item ID", s)
		} else {
			copy(id[:], b)
		}
		if _, _, err := db.GetItem(id); err != nil {
			t.Fatalf("%s acknowledged item %s but it is not in its store: %v", n.name, s, err)
		}
	}
}
