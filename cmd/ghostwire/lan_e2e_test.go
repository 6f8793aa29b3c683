//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/lan/lantest"
	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/node"
)

// TestE2ELAN runs `ghostwire run --lan` processes in network namespaces
// on one bridge, with no tor anywhere: once they are each other's peers
// they find each other by their private adverts, a message and an IOC
// cross, and a restarted node is found again and gets what was queued.
func TestE2ELAN(t *testing.T) {
	nodes := startLANNodes(t, lantest.New(t, 2), "alice", "bob")
	alice, bob := nodes[0], nodes[1]
	for _, n := range nodes {
		n.waitReachable(t)
		var st node.Status
		if err := n.get("/v1/status", &st); err != nil {
			t.Fatal(err)
		}
		if st.Transport.Mode != "lan" {
			t.Fatalf("%s runs in mode %q, want lan", n.name, st.Transport.Mode)
		}
	}
	pair(t, nodes...)
	eventually(t, "alice's status shows bob seen on gw0", e2eSyncLimit, func() (bool, string) {
		r := gwBounded(t, e2eCLILimit, "status", "--data", alice.data)
		return strings.Contains(r.stdout, "lan         interface gw0, listening on 10.77.0.1:") &&
			strings.Contains(r.stdout, "1 known peers seen"), r.stdout
	})

	var sent node.Message
	alice.cli(t, &sent, "msg", "send", "bob", "hello over the lan")
	bob.waitMessage(t, "alice", "hello over the lan", node.StateReceived, node.StateRead)
	bob.cli(t, &sent, "msg", "send", "alice", "hi back")
	alice.waitMessage(t, "bob", "hi back", node.StateReceived, node.StateRead)

	dropAndWait(t, bob, alice, "lan-only.example")

	// bob restarts; what alice queued meanwhile reaches him once his new
	// advert (new name, same tokens within the hour) is seen.
	bob.stop(t)
	alice.cli(t, &sent, "msg", "send", "bob", "while you were out")
	bob.start(t)
	bob.waitReachable(t)
	bob.waitMessage(t, "alice", "while you were out", node.StateReceived, node.StateRead)

	alice.stop(t)
	bob.stop(t)
}

// TestE2ELANPair pairs two LAN nodes that know nothing of each other with
// the CLI, as two people would. alice runs `ghostwire pair`; bob types
// three wrong codes (each fails on both sides), and then the right one is
// refused too: alice's command reports the code dead. alice shows a new
// code; bob types it wrong once, then right. Both then hold the other as a
// paired contact under the name it gave, print the same safety number,
// and a message and an IOC cross at once.
func TestE2ELANPair(t *testing.T) {
	nodes := startLANNodes(t, lantest.New(t, 2), "alice", "bob")
	alice, bob := nodes[0], nodes[1]
	for _, n := range nodes {
		n.waitReachable(t)
	}
	// One source waits 2 s between tries (docs/protocol.md §12.5.5); a
	// person retyping a code takes longer than that.
	const retype = 2 * time.Second
	// wrongCode is code with its secret moved by k (1 to 999,999).
	wrongCode := func(code string, k int) string {
		np, secret, _ := strings.Cut(code, "-")
		return fmt.Sprintf("%s-%06d", np, (atoiOr(secret)+k)%1_000_000)
	}
	typeWrong := func(code string) {
		t.Helper()
		r := gwBounded(t, e2eCLILimit, "pair", code, "--as", "bob", "--data", bob.data)
		if r.code == 0 || !strings.Contains(r.stderr, "did not match") {
			t.Fatalf("a wrong code: exit %d, stderr %s", r.code, r.stderr)
		}
		time.Sleep(retype)
	}

	dead := showCode(t, alice)
	for k := range 3 {
		typeWrong(wrongCode(dead.offer.Code, k+1))
	}
	if _, err := dead.result(); err == nil || !strings.Contains(dead.stderr.String(), "the code is dead") {
		t.Fatalf("alice's pair after three wrong codes: %v\n%s", err, dead.stderr.String())
	}
	r := gwBounded(t, e2eCLILimit, "pair", dead.offer.Code, "--as", "bob", "--data", bob.data)
	if r.code == 0 {
		t.Fatalf("the right code after three wrong ones paired:\n%s", r.stdout)
	}
	t.Logf("the right code on the dead attempt: exit %d\n%s", r.code, r.stderr)
	if ps := bob.peers(t); len(ps) != 0 {
		t.Fatalf("bob holds %d contacts after a dead code", len(ps))
	}

	show := showCode(t, alice)
	start := time.Now()
	typeWrong(wrongCode(show.offer.Code, 1))
	var res apitype.PairResult
	bob.cli(t, &res, "pair", show.offer.Code, "--as", "bob")
	t.Logf("pairing took %v (a wrong try and the right one, discovery included)", time.Since(start).Round(time.Millisecond))
	shown, err := show.result()
	if err != nil {
		t.Fatalf("alice's ghostwire pair: %v\n%s", err, show.stderr.String())
	}
	if res.Peer.Onion != alice.onion || res.Peer.Name != "alice" || res.Peer.Paired == nil {
		t.Fatalf("bob paired with %+v, want alice", res.Peer)
	}
	if shown.Peer.Onion != bob.onion || shown.Peer.Name != "bob" || shown.Peer.Paired == nil {
		t.Fatalf("alice paired with %+v, want bob", shown.Peer)
	}
	if res.SafetyNumber == "" || res.SafetyNumber != shown.SafetyNumber {
		t.Fatalf("safety numbers %q and %q", res.SafetyNumber, shown.SafetyNumber)
	}

	var sent node.Message
	alice.cli(t, &sent, "msg", "send", "bob", "paired by code")
	bob.waitMessage(t, "alice", "paired by code", node.StateReceived, node.StateRead)
	dropAndWait(t, bob, alice, "paired.example")
	alice.stop(t)
	bob.stop(t)
}

// atoiOr reads a decimal string, 0 if it is not one.
func atoiOr(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// TestE2ELANManualAddress: on a network that carries no multicast, two
// nodes never see each other's adverts; bob reaches alice because he was
// given her address with `peer add --lan`, and a message crosses while
// both still see no advert.
func TestE2ELANManualAddress(t *testing.T) {
	l := lantest.New(t, 2)
	l.BlockMulticast(0)
	l.BlockMulticast(1)
	alice := newE2ENode(t, "alice", "--lan", "--interface", lantest.Interface, "--listen", "10.77.0.1:7700")
	bob := newE2ENode(t, "bob", "--lan", "--interface", lantest.Interface)
	for i, n := range []*e2eNode{alice, bob} {
		n.wrap = []string{"ip", "netns", "exec", l.Nodes[i]}
		n.start(t)
	}
	for _, n := range []*e2eNode{alice, bob} {
		n.waitReachable(t)
	}
	var p node.Peer
	alice.cli(t, &p, "peer", "add", bob.onion, "--name", "bob")
	bob.cli(t, &p, "peer", "add", alice.onion, "--name", "alice", "--lan", "10.77.0.1:7700")
	if p.LAN != "10.77.0.1:7700" {
		t.Fatalf("peer add --lan stored %+v", p)
	}
	var sent node.Message
	bob.cli(t, &sent, "msg", "send", "alice", "no multicast here")
	alice.waitMessage(t, "bob", "no multicast here", node.StateReceived, node.StateRead)
	// Adverts follow a change of peers within 5 s (docs/protocol.md
	// §12.4); past that, on a bridge that carried multicast, each would
	// recognise the other (TestE2ELAN's status check).
	time.Sleep(7 * time.Second)
	for _, n := range []*e2eNode{alice, bob} {
		var st node.Status
		if err := n.get("/v1/status", &st); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(st.Transport.Phase, " 0 known peers seen") {
			t.Fatalf("%s saw an advert through a bridge that carries no multicast: %s", n.name, st.Transport.Phase)
		}
	}
	// The address survives a restart: it is stored with the contact.
	bob.stop(t)
	bob.start(t)
	bob.waitReachable(t)
	bob.cli(t, &sent, "msg", "send", "alice", "after a restart")
	alice.waitMessage(t, "bob", "after a restart", node.StateReceived, node.StateRead)
	alice.stop(t)
	bob.stop(t)
}

// dropAndWait has from drop a TLP:GREEN domain IOC and waits until to
// holds it.
func dropAndWait(t *testing.T, from, to *e2eNode, domain string) {
	t.Helper()
	var drop node.IOC
	from.cli(t, &drop, "ioc", "drop", "--type", "domain", "--value", domain, "--tlp", "green")
	eventually(t, to.name+" holds "+from.name+"'s IOC", e2eSyncLimit, func() (bool, string) {
		var xs []node.IOC
		if err := to.get("/v1/iocs", &xs); err != nil {
			return false, err.Error()
		}
		for _, x := range xs {
			if x.ID == drop.ID {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d IOCs", len(xs))
	})
}

// startLANNodes starts `ghostwire run --lan` for each name, node i in the
// lab's namespace i.
func startLANNodes(t *testing.T, l *lantest.Lab, names ...string) []*e2eNode {
	t.Helper()
	var nodes []*e2eNode
	for i, name := range names {
		n := newE2ENode(t, name, "--lan", "--interface", lantest.Interface)
		n.wrap = []string{"ip", "netns", "exec", l.Nodes[i]}
		n.start(t)
		nodes = append(nodes, n)
	}
	return nodes
}

// shower is a running `ghostwire pair --json` on the showing side.
type shower struct {
	offer  apitype.PairOffer
	cmd    *exec.Cmd
	dec    *json.Decoder
	stderr *strings.Builder
}

// showCode runs `ghostwire pair` for n and reads the code it shows.
func showCode(t *testing.T, n *e2eNode) *shower {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	s := &shower{cmd: exec.CommandContext(ctx, binPath, "pair", "--as", n.name, "--data", n.data, "--json"), stderr: new(strings.Builder)}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.dec = json.NewDecoder(bufio.NewReader(out))
	if err := s.dec.Decode(&s.offer); err != nil {
		t.Fatalf("ghostwire pair printed no code: %v\n%s", err, s.stderr.String())
	}
	if np, secret, _ := strings.Cut(s.offer.Code, "-"); np != s.offer.Nameplate || len(secret) != 6 {
		t.Fatalf("offer %+v", s.offer)
	}
	return s
}

// result waits for the command to end and returns the pairing it printed.
func (s *shower) result() (apitype.PairResult, error) {
	var r apitype.PairResult
	decErr := s.dec.Decode(&r)
	if err := s.cmd.Wait(); err != nil {
		return r, err
	}
	return r, decErr
}
