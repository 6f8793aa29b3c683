//go:build linux

package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ghostwire/ghostwire/lan/lantest"
	"github.com/ghostwire/ghostwire/node"
)

// TestE2ELAN runs `ghostwire run --lan` processes in network namespaces
// on one bridge, with no tor anywhere: once they are each other's peers
// they find each other by their private adverts, a message and an IOC
// cross, and a restarted node is found again and gets what was queued.
func TestE2ELAN(t *testing.T) {
	l := lantest.New(t, 2)
	var nodes []*e2eNode
	for i, name := range []string{"alice", "bob"} {
		n := newE2ENode(t, name, "--lan", "--interface", lantest.Interface)
		n.wrap = []string{"ip", "netns", "exec", l.Nodes[i]}
		n.start(t)
		nodes = append(nodes, n)
	}
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

	var drop node.IOC
	bob.cli(t, &drop, "ioc", "drop", "--type", "domain", "--value", "lan-only.example", "--tlp", "green")
	eventually(t, "alice holds bob's IOC", e2eSyncLimit, func() (bool, string) {
		var xs []node.IOC
		if err := alice.get("/v1/iocs", &xs); err != nil {
			return false, err.Error()
		}
		for _, x := range xs {
			if x.ID == drop.ID {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d IOCs", len(xs))
	})

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
