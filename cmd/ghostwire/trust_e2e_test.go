package main

import (
	"fmt"
	"testing"

	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/node"
)

// TestE2EContactsOverTor: contact states and requests between `ghostwire
// run` processes over a private Tor network (docs/trust.md). alice and bob
// add each other; alice verifies bob (a wrong safety number is refused),
// then blocks him: bob's message stays queued, reads "waiting for them to
// accept", alice stores nothing from him and her status names him as
// refused for being blocked; unblocking lets it through. carol, whom alice
// never added, writes to her: alice sees a request with the safety number
// and nothing else, until she accepts it and carol's message arrives.
func TestE2EContactsOverTor(t *testing.T) {
	parallelTor(t)
	checkBaseline(t)
	nw := startNetwork(t, 0)
	var nodes []*e2eNode
	for _, name := range []string{"alice", "bob", "carol"} {
		n := newE2ENode(t, name, "--testnet", nw.Dir)
		n.start(t)
		nodes = append(nodes, n)
	}
	alice, bob, carol := nodes[0], nodes[1], nodes[2]
	for _, n := range nodes {
		n.waitReachable(t)
	}
	pair(t, alice, bob)
	var sent node.Message
	alice.cli(t, &sent, "msg", "send", "bob", "hello bob")
	bob.waitMessage(t, "alice", "hello bob", node.StateReceived, node.StateRead)

	// Verify: a wrong number is refused, the right one verifies.
	sn := alice.peers(t)[bob.onion].SafetyNumber
	wrong := []byte(sn)
	wrong[0] = '0' + (wrong[0]-'0'+1)%10
	gw(t, "", "peer", "verify", "bob", "--safety-number", string(wrong), "--data", alice.data).expect(t, exitUsage, "", "the safety number does not match")
	gw(t, "", "peer", "verify", "bob", "--data", alice.data).expect(t, exitUsage, "", "hint: compare the number out of band, then pass the number the peer reads you: --safety-number N")
	var p node.Peer
	alice.cli(t, &p, "peer", "verify", "bob", "--safety-number", sn)
	if p.State != "verified" || p.VerifiedAt == nil {
		t.Fatalf("peer verify answered %+v", p)
	}

	// Block: refused at the handshake, nothing stored, status says why.
	alice.cli(t, &p, "peer", "block", "bob")
	if p.State != "blocked" {
		t.Fatalf("peer block answered %+v", p)
	}
	var before node.Status
	alice.cli(t, &before, "status")
	bob.cli(t, &sent, "msg", "send", "alice", "after the block")
	eventually(t, "alice refuses bob at the handshake", e2eSyncLimit, func() (bool, string) {
		var st node.Status
		if err := alice.get("/v1/status", &st); err != nil {
			return false, err.Error()
		}
		for _, r := range st.Contacts.Refused {
			if r.Peer == bob.onion && r.State == "blocked" && r.Count > 0 {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", st.Contacts)
	})
	eventually(t, "bob's message waits for alice to accept", e2eSyncLimit, func() (bool, string) {
		ms, err := bob.messages("alice")
		if err != nil {
			return false, err.Error()
		}
		m := ms["after the block"]
		return m.State == node.StateQueued && m.Waiting == apitype.WaitingAccept, fmt.Sprintf("%+v", m)
	})
	var after node.Status
	alice.cli(t, &after, "status")
	if after.Items != before.Items {
		t.Fatalf("alice stored %d items while bob was blocked", after.Items-before.Items)
	}
	if ms, _ := alice.messages("bob"); len(ms) != 1 {
		t.Fatalf("alice lists %d messages with bob; want only the one before the block", len(ms))
	}
	if ps := alice.peers(t); ps[bob.onion].Connected || ps[bob.onion].State != "blocked" {
		t.Fatalf("alice's view of bob while blocked: %+v", ps[bob.onion])
	}
	gw(t, "", "status", "--data", alice.data).expect(t, 0, "refused     "+shortID(bob.onion)+": blocked, ", "")
	alice.cli(t, &p, "peer", "unblock", "bob")
	alice.waitMessage(t, "bob", "after the block", node.StateReceived, node.StateRead)

	// A request: carol adds alice; alice has not added carol.
	var cp node.Peer
	carol.cli(t, &cp, "peer", "add", alice.onion, "--name", "alice")
	carol.cli(t, &sent, "msg", "send", "alice", "hello from carol")
	var reqs []node.ContactRequest
	eventually(t, "alice holds carol's request", e2eSyncLimit, func() (bool, string) {
		alice.cli(t, &reqs, "peer", "requests")
		return len(reqs) == 1 && reqs[0].Onion == carol.onion, fmt.Sprintf("%+v", reqs)
	})
	var carolSN struct {
		SafetyNumber string `json:"safety_number"`
	}
	cliJSON(t, nil, &carolSN, "id", "--data", carol.data, "--with", alice.onion, "--json")
	if reqs[0].SafetyNumber != carolSN.SafetyNumber {
		t.Fatalf("the request shows safety number %q; carol sees %q", reqs[0].SafetyNumber, carolSN.SafetyNumber)
	}
	eventually(t, "carol's message waits for alice to accept", e2eSyncLimit, func() (bool, string) {
		ms, err := carol.messages("alice")
		if err != nil {
			return false, err.Error()
		}
		m := ms["hello from carol"]
		return m.Waiting == apitype.WaitingAccept, fmt.Sprintf("%+v", m)
	})
	alice.cli(t, &p, "peer", "accept", carol.onion, "--name", "carol")
	if p.State != "unverified" || p.Name != "carol" {
		t.Fatalf("peer accept answered %+v", p)
	}
	alice.waitMessage(t, "carol", "hello from carol", node.StateReceived, node.StateRead)
	carol.waitMessage(t, "alice", "hello from carol", node.StateDelivered, node.StateRead)

	for _, n := range nodes {
		n.stop(t)
	}
}
