package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/localapi"
	"github.com/ghostwire/ghostwire/node"
	"github.com/ghostwire/ghostwire/onion/testnet"
)

// tlpNode is one `ghostwire run` process of the TLP test.
type tlpNode struct {
	name, dir, onion string
	api              *localapi.Client
	cmd              *exec.Cmd
	done             chan struct{}
}

// tlpWait polls cond every 200 ms until it holds or limit passes.
func tlpWait(t *testing.T, what string, limit time.Duration, cond func() (bool, string)) {
	t.Helper()
	state := ""
	for i := 0; i <= int(limit/(200*time.Millisecond)); i++ {
		var ok bool
		if ok, state = cond(); ok {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s; last: %s", what, limit, state)
}

func (n *tlpNode) call(t *testing.T, method, path string, body, out any) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return n.api.Do(ctx, method, path, body, out)
}

func (n *tlpNode) status(t *testing.T) node.Status {
	var st node.Status
	if err := n.call(t, "GET", "/v1/status", nil, &st); err != nil {
		t.Fatalf("%s status: %v", n.name, err)
	}
	return st
}

func (n *tlpNode) peers(t *testing.T) map[string]node.Peer {
	var ps []node.Peer
	if err := n.call(t, "GET", "/v1/peers", nil, &ps); err != nil {
		t.Fatalf("%s peers: %v", n.name, err)
	}
	out := map[string]node.Peer{}
	for _, p := range ps {
		out[p.Name] = p
	}
	return out
}

// iocs lists what n shows, by item ID.
func (n *tlpNode) iocs(t *testing.T) map[string]node.IOC {
	var xs []node.IOC
	if err := n.call(t, "GET", "/v1/iocs", nil, &xs); err != nil {
		t.Fatalf("%s iocs: %v", n.name, err)
	}
	out := map[string]node.IOC{}
	for _, x := range xs {
		out[x.ID] = x
	}
	return out
}

// TestTLPEndToEnd runs four real nodes as separate processes on a private
// Tor network: alice, bob and carol all paired; dave has alice as a peer,
// alice does not have dave. It checks that TLP holds where it matters: on
// the other nodes' disks and APIs.
func TestTLPEndToEnd(t *testing.T) {
	parallelTor(t)
	checkBaseline(t) // its cleanup runs last, after the nodes and the network stop
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nw, err := testnet.Start(ctx, testnet.Config{Dir: filepath.Join(t.TempDir(), "net")})
	if err != nil {
		t.Fatalf("private tor network: %v (is tor installed? Debian: apt-get install tor)", err)
	}
	t.Cleanup(func() {
		if err := nw.Stop(); err != nil {
			t.Errorf("stopping the private network: %v", err)
		}
	})
	base := t.TempDir()
	var nodes []*tlpNode
	for _, name := range []string{"alice", "bob", "carol", "dave"} {
		n := &tlpNode{name: name, dir: filepath.Join(base, name)}
		out := gwBounded(t, 30*time.Second, "init", "--data", n.dir, "--no-passphrase", "--json").ok(t, "init "+name)
		var id idJSON
		if err := json.Unmarshal([]byte(out), &id); err != nil {
			t.Fatal(err)
		}
		n.onion, n.api = id.Onion, newAPIClient(n.dir)
		logf, err := os.Create(filepath.Join(base, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		n.cmd = exec.Command(binPath, "run", "--data", n.dir, "--testnet", nw.Dir)
		n.cmd.Stdout, n.cmd.Stderr = logf, logf
		n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		if err := n.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		logf.Close()
		n.done = make(chan struct{})
		go func() { n.cmd.Wait(); close(n.done) }()
		t.Cleanup(func() {
			n.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-n.done:
			case <-time.After(15 * time.Second):
				t.Errorf("%s did not stop on SIGTERM", n.name)
				n.cmd.Process.Kill()
				<-n.done
			}
			if t.Failed() {
				b, _ := os.ReadFile(filepath.Join(base, n.name+".log"))
				if len(b) > 8<<10 {
					b = b[len(b)-8<<10:]
				}
				t.Logf("%s's log (tail):\n%s", n.name, b)
			}
		})
		nodes = append(nodes, n)
	}
	alice, bob, carol, dave := nodes[0], nodes[1], nodes[2], nodes[3]
	for _, n := range nodes {
		tlpWait(t, n.name+" reachable", 60*time.Second, func() (bool, string) {
			var st node.Status
			if err := n.call(t, "GET", "/v1/status", nil, &st); err != nil {
				return false, err.Error()
			}
			return st.Transport.Reachable, fmt.Sprintf("%+v", st.Transport)
		})
	}
	add := func(n, p *tlpNode) {
		if err := n.call(t, "POST", "/v1/peers", map[string]string{"onion": p.onion, "name": p.name}, nil); err != nil {
			t.Fatalf("%s adds %s: %v", n.name, p.name, err)
		}
	}
	for _, n := range []*tlpNode{alice, bob, carol} {
		for _, p := range []*tlpNode{alice, bob, carol} {
			if n != p {
				add(n, p)
			}
		}
	}
	add(dave, alice)
	// Everyone paired has synced with everyone and holds their keys.
	for _, n := range []*tlpNode{alice, bob, carol} {
		tlpWait(t, n.name+" synced with its peers", 60*time.Second, func() (bool, string) {
			ps := n.peers(t)
			for name, p := range ps {
				if !p.HasKey || p.LastSync == nil {
					return false, name + " not synced yet"
				}
			}
			return len(ps) == 2, fmt.Sprint(len(ps), " peers")
		})
	}
	carolBase := carol.status(t).Items

	// AMBER to bob: bob reads it; carol holds nothing of it.
	var amber node.IOC
	out := gwBounded(t, 30*time.Second, "ioc", "drop", "--data", alice.dir, "--json", "--type", "ipv4", "--value", "203.0.113.7",
		"--tlp", "amber", "--to", "bob").ok(t, "alice drops amber")
	if err := json.Unmarshal([]byte(out), &amber); err != nil {
		t.Fatal(err)
	}
	tlpWait(t, "bob reads alice's amber IOC", 30*time.Second, func() (bool, string) {
		x, ok := bob.iocs(t)[amber.ID]
		return ok && x.Value == "203.0.113.7" && x.TLP == "amber" && len(x.Recipients) == 1 && x.Recipients[0] == bob.onion, fmt.Sprint(x)
	})
	// AMBER imported into a collection only alice holds, to bob: bob holds
	// all three after his session, with nothing asked of him, under the
	// collection's name (issue 19: he held none of them until he wrote
	// into the collection himself); carol holds none.
	opsFile := filepath.Join(base, "ops-amber.json")
	if err := os.WriteFile(opsFile, []byte(`{"Event": {"info": "ops", "Tag": [{"name": "tlp:amber"}], "Attribute": [
		{"type": "ip-dst", "value": "198.51.100.21"}, {"type": "ip-dst", "value": "198.51.100.22"},
		{"type": "domain", "value": "ops-c2.example"}]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	gwBounded(t, 30*time.Second, "ioc", "import", "--data", alice.dir, "--collection", "ops-2026", "--to", "bob", opsFile).ok(t, "alice imports amber into ops-2026")
	tlpWait(t, "bob holds the 3 amber IOCs of ops-2026", 60*time.Second, func() (bool, string) {
		var xs []node.IOC
		if err := bob.call(t, "GET", "/v1/iocs?collection=ops-2026", nil, &xs); err != nil {
			return false, err.Error()
		}
		n := 0
		for _, x := range xs {
			if x.TLP == "amber" && x.Collection == "ops-2026" {
				n++
			}
		}
		return n == 3, fmt.Sprint(len(xs), " listed: ", xs)
	})
	// GREEN: bob and carol, not dave.
	var green node.IOC
	out = gwBounded(t, 30*time.Second, "ioc", "drop", "--data", alice.dir, "--json", "--type", "domain", "--value", "Login-Update.Example.",
		"--tlp", "green").ok(t, "alice drops green")
	if err := json.Unmarshal([]byte(out), &green); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*tlpNode{bob, carol} {
		tlpWait(t, n.name+" receives the green IOC", 30*time.Second, func() (bool, string) {
			x, ok := n.iocs(t)[green.ID]
			return ok && x.Value == "login-update.example", fmt.Sprint(x)
		})
	}
	// carol fetches the amber one by content ID: her node restarts its
	// sessions with alice and bob, both reconcile afresh, and still
	// nothing of it arrives.
	r := gwBounded(t, 60*time.Second, "ioc", "fetch", "--data", carol.dir, "--json", amber.ContentID)
	if r.code != exitUsage || !strings.Contains(r.stderr, "not found after syncing with 2 peers") {
		t.Fatalf("carol fetches the amber IOC: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if got := carol.status(t).Items; got != carolBase+1 {
		t.Errorf("carol holds %d items, want %d (her base and the green IOC only)", got, carolBase+1)
	}
	if _, ok := carol.iocs(t)[amber.ID]; ok {
		t.Error("carol lists the amber IOC")
	}
	for _, ref := range []string{amber.ID, amber.ContentID} {
		if err := carol.call(t, "GET", "/v1/iocs/"+ref, nil, nil); err == nil || !strings.Contains(err.Error(), "no IOC") {
			t.Errorf("carol GET /v1/iocs/%s: %v, want not found", ref[:8], err)
		}
	}
	// dave: alice refuses him, so he has no session and no IOC.
	r = gwBounded(t, 30*time.Second, "ioc", "fetch", "--data", dave.dir, "--wait", "5s", green.ContentID)
	if r.code != exitUsage {
		t.Errorf("dave fetches the green IOC: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if st := dave.status(t); st.Connected != 0 || len(dave.iocs(t)) != 0 {
		t.Errorf("dave: %d sessions, %d IOCs; want none", st.Connected, len(dave.iocs(t)))
	}
	// A fetch of something held answers at once, without a sync.
	var fr node.FetchResult
	if err := bob.call(t, "POST", "/v1/iocs/"+green.ContentID+"/fetch", nil, &fr); err != nil || !fr.Held || len(fr.IOCs) != 1 {
		t.Errorf("bob fetches a held IOC: %v %+v", err, fr)
	}
	// Retraction reaches bob and carol.
	gwBounded(t, 30*time.Second, "ioc", "retract", "--data", alice.dir, green.ID).ok(t, "alice retracts green")
	for _, n := range []*tlpNode{bob, carol} {
		tlpWait(t, n.name+" drops the retracted IOC", 30*time.Second, func() (bool, string) {
			_, ok := n.iocs(t)[green.ID]
			return !ok, "still listed"
		})
	}
	// A CLI import with failing objects stores nothing and names them all
	// (poisonivy.json: 3 fail; ioc/fixtures_test.go).
	fixtures := filepath.Join("..", "..", "..", "shared", "fixtures", "stix")
	bad := gwBounded(t, 30*time.Second, "ioc", "import", "--data", alice.dir, "--tlp", "green",
		filepath.Join(fixtures, "cti-stix2-json-schemas", "examples", "threat-reports", "poisonivy.json"))
	failed := 0
	for _, l := range strings.Split(bad.stderr, "\n") {
		if strings.HasPrefix(l, "failed ") {
			failed++
		}
	}
	if bad.code != exitFailure || failed != 3 || !strings.Contains(bad.stderr, "3 objects failed; nothing was stored") {
		t.Errorf("import with failures: exit %d, %d failures listed\nstderr: %s", bad.code, failed, bad.stderr)
	}
	// Input that is neither STIX nor MISP is the input's fault (exit 12),
	// not the command line's.
	junk := filepath.Join(base, "junk.json")
	if err := os.WriteFile(junk, []byte(`[{"value": "192.0.2.1"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := gwBounded(t, 30*time.Second, "ioc", "import", "--data", alice.dir, "--tlp", "green", junk); r.code != exitInput {
		t.Errorf("import of an unrecognised shape: exit %d, want %d\nstderr: %s", r.code, exitInput, r.stderr)
	}
	if n := len(alice.iocs(t)); n != 4 {
		t.Errorf("alice lists %d IOCs after a refused import; want 4 (her amber ones)", n)
	}
	// CLI import at alice travels to carol; CLI export at carol has it.
	imp := gwBounded(t, 30*time.Second, "ioc", "import", "--data", alice.dir, "--tlp", "green",
		filepath.Join(fixtures, "cti-stix2-json-schemas", "examples", "indicators-for-C2-with-COA.json"))
	if imp.ok(t, "alice imports"); !strings.Contains(imp.stdout, "2 indicators") {
		t.Errorf("import summary: %s", imp.stdout)
	}
	// The import is recorded (the refused one stored nothing, so it has no
	// record): --status lists it done, with its file's name, newest first,
	// before the amber import into ops-2026.
	st := gwBounded(t, 30*time.Second, "ioc", "import", "--status", "--data", alice.dir).ok(t, "alice's import status")
	first, _, _ := strings.Cut(st, "\n")
	if strings.Count(st, "\n") != 2 || !strings.Contains(first, " done ") || !strings.Contains(first, "2/2 records") ||
		!strings.Contains(first, "indicators-for-C2-with-COA.json") || !strings.Contains(st, "ops-amber.json") {
		t.Errorf("ioc import --status: %q; want a done import of 2 records from indicators-for-C2-with-COA.json, then ops-amber.json's", st)
	}
	tlpWait(t, "carol receives the 2 imported IOCs", 30*time.Second, func() (bool, string) {
		n := len(carol.iocs(t))
		return n == 2, fmt.Sprint(n, " IOCs")
	})
	exp := gwBounded(t, 30*time.Second, "ioc", "export", "--data", carol.dir, "--format", "misp").ok(t, "carol exports")
	if strings.Count(exp, `"to_ids"`) != 2 || !strings.Contains(exp, "tlp:green") {
		t.Errorf("carol's MISP export: %.400s", exp)
	}
}
