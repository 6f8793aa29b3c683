package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/node"
)

// TestE2EReputation: three `ghostwire run` processes on a private Tor
// network, alice–bob–carol in a line (alice never adds carol). bob rates
// carol good and alice's `ioc list --min-trust 0.5` shows carol's
// indicator; bob then marks it a false positive and rates carol bad, and
// alice's list leaves it out, `trust show carol` names bob as the one who
// vouched against her, and alice's STIX export gives it confidence 0.
func TestE2EReputation(t *testing.T) {
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
	pair(t, bob, carol)
	// Trust starts from verified contacts: alice checks bob's safety
	// number (here read from her own node, as she would from his screen).
	var peers []node.Peer
	alice.cli(t, &peers, "peer", "list")
	var number string
	for _, p := range peers {
		if p.Onion == bob.onion {
			number = p.SafetyNumber
		}
	}
	if number == "" {
		t.Fatalf("alice's peer list shows no safety number for bob: %+v", peers)
	}
	alice.cli(t, nil, "peer", "verify", "bob", "--safety-number", number)

	var evil, good node.IOC
	carol.cli(t, &evil, "ioc", "drop", "--type", "domain", "--value", "evil.example", "--tlp", "clear")
	bob.cli(t, &good, "ioc", "drop", "--type", "domain", "--value", "good.example", "--tlp", "clear")
	eventually(t, "bob holds carol's IOC", e2eSyncLimit, func() (bool, string) {
		var xs []node.IOC
		if err := bob.get("/v1/iocs", &xs); err != nil {
			return false, err.Error()
		}
		return len(xs) == 2, fmt.Sprintf("%d IOCs", len(xs))
	})
	// What bob relays reaches alice at their next sync; fetch asks for
	// one now. (A session that was starting while bob took carol's IOC in
	// may count as that sync, so fetch again until it brings it.)
	eventually(t, "alice fetches carol's IOC through bob", e2eSyncLimit, func() (bool, string) {
		r := gwBounded(t, e2eCLILimit, "ioc", "fetch", evil.ContentID, "--wait", "20s", "--data", alice.data, "--json")
		return r.code == 0 && strings.Contains(r.stdout, evil.ID), r.stdout + r.stderr
	})
	var rated apitype.Rating
	bob.cli(t, &rated, "peer", "rate", "carol", "--good")
	if rated.Subject != carol.onion || rated.Verdict != "good" {
		t.Fatalf("peer rate answered %+v", rated)
	}
	listed := func(min string) (map[string]float64, string) {
		var xs []node.IOC
		alice.cli(t, &xs, "ioc", "list", "--min-trust", min)
		out := map[string]float64{}
		for _, x := range xs {
			if x.SourceTrust == nil {
				t.Fatalf("alice lists %s without its source's trust", x.Value)
			}
			out[x.Value] = *x.SourceTrust
		}
		return out, fmt.Sprint(out)
	}
	eventually(t, "alice lists carol's IOC above 0.5, vouched for by bob", e2eSyncLimit, func() (bool, string) {
		got, state := listed("0.5")
		return got["evil.example"] >= 0.5 && got["good.example"] == 1, state
	})

	var s apitype.Sighting
	bob.cli(t, &s, "ioc", "sighting", evil.ID[:16], "--false-positive")
	if s.Target != evil.ID || s.Source != carol.onion || s.Verdict != "false-positive" {
		t.Fatalf("ioc sighting answered %+v", s)
	}
	bob.cli(t, &rated, "peer", "rate", "carol", "--bad")
	eventually(t, "alice leaves carol's IOC out above 0.5", e2eSyncLimit, func() (bool, string) {
		got, state := listed("0.5")
		_, bad := got["evil.example"]
		return !bad && got["good.example"] == 1, state
	})
	if got, _ := listed("0"); got["evil.example"] != 0 {
		t.Fatalf("alice lists %v with no minimum; want carol's IOC at trust 0", got)
	}

	var rep apitype.TrustReport
	alice.cli(t, &rep, "trust", "show", carol.onion)
	if len(rep.Scores) != 1 || rep.Scores[0].Score != 0 || len(rep.Scores[0].Vouchers) != 1 ||
		rep.Scores[0].Vouchers[0].Name != "bob" || rep.Scores[0].Vouchers[0].Bad != 6 {
		t.Fatalf("alice's trust show carol: %+v; want score 0, vouched against by bob (a false positive and a bad rating)", rep)
	}
	r := gwBounded(t, e2eCLILimit, "ioc", "list", "--min-trust", "0.5", "--data", alice.data)
	if r.code != 0 || !strings.Contains(r.stdout, "good.example") || !strings.Contains(r.stdout, "trust 1.00") || strings.Contains(r.stdout, "evil.example") {
		t.Fatalf("alice's ioc list --min-trust 0.5:\n%s%s", r.stdout, r.stderr)
	}
	r = gwBounded(t, e2eCLILimit, "trust", "show", "bob", "--data", alice.data)
	if r.code != 0 || !strings.Contains(r.stdout, "pre-trusted") {
		t.Fatalf("alice's trust show bob:\n%s%s", r.stdout, r.stderr)
	}
	r = gwBounded(t, e2eCLILimit, "ioc", "export", "--data", alice.data)
	var bundle struct {
		Objects []struct {
			Pattern    string `json:"pattern"`
			Confidence *int   `json:"confidence"`
		} `json:"objects"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &bundle); r.code != 0 || err != nil {
		t.Fatalf("alice's export (%v):\n%s%s", err, r.stdout, r.stderr)
	}
	exported := map[string]int{}
	for _, o := range bundle.Objects {
		if o.Confidence != nil {
			exported[o.Pattern] = *o.Confidence
		}
	}
	if c, ok := exported["[domain-name:value = 'evil.example']"]; !ok || c != 0 || exported["[domain-name:value = 'good.example']"] != 100 {
		t.Fatalf("alice exports confidences %v; want carol's indicator at 0 and bob's at 100 (trust × 100, none stated)", exported)
	}
	for _, n := range nodes {
		n.stop(t)
	}
}
