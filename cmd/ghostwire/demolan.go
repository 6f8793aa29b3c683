package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/ghostwire/ghostwire/node"
)

// demoLab is the LAN demo's private network: a hub namespace holding a
// bridge, and one namespace per node whose gw0 is a veth on it, with
// 10.77.0.N/24. No address in it exists outside the machine.
type demoLab struct {
	hub   string
	nodes []string
}

// demoLANIface is each node namespace's link to the bridge.
const demoLANIface = "gw0"

// newDemoLab builds a lab of n nodes, or fails and removes what it built.
func newDemoLab(n int) (*demoLab, error) {
	id := "gwdemo" + strings.ToLower(rand.Text()[:6])
	l := &demoLab{hub: id + "-h"}
	steps := [][]string{{"netns", "add", l.hub},
		{"netns", "exec", l.hub, "ip", "link", "add", "br0", "type", "bridge"},
		{"netns", "exec", l.hub, "ip", "link", "set", "br0", "up"}}
	for i := 1; i <= n; i++ {
		ns, port := fmt.Sprintf("%s-%d", id, i), fmt.Sprintf("p%d", i)
		l.nodes = append(l.nodes, ns)
		steps = append(steps,
			[]string{"netns", "add", ns},
			[]string{"link", "add", demoLANIface, "netns", ns, "type", "veth", "peer", "name", port, "netns", l.hub},
			[]string{"netns", "exec", l.hub, "ip", "link", "set", port, "master", "br0"},
			[]string{"netns", "exec", l.hub, "ip", "link", "set", port, "up"},
			[]string{"netns", "exec", ns, "ip", "addr", "add", fmt.Sprintf("10.77.0.%d/24", i), "dev", demoLANIface},
			[]string{"netns", "exec", ns, "ip", "link", "set", demoLANIface, "up"},
			[]string{"netns", "exec", ns, "ip", "link", "set", "lo", "up"})
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			l.remove()
			return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return l, nil
}

// remove deletes the lab's namespaces (their veths and bridge go with
// them). It is idempotent.
func (l *demoLab) remove() {
	for _, ns := range append([]string{l.hub}, l.nodes...) {
		exec.Command("ip", "netns", "delete", ns).Run()
	}
}

// runDemoLAN is `ghostwire demo --lan`: three nodes in LAN mode, each in
// its own namespace on one bridge, discover each other, pair by code,
// message and share an IOC, with each step timed.
func runDemoLAN(e *env, keep bool, dirFlag string) error {
	if os.Geteuid() != 0 {
		return fail(exitPermission, fmt.Errorf("the LAN demo builds network namespaces, which needs root"),
			"run it as root (sudo ./run demo --lan), or run the Tor demo: ./run demo")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fail(exitUnavailable, fmt.Errorf("the LAN demo needs the ip command"), "install iproute2 (Debian: apt-get install iproute2)")
	}
	self, dir, err := demoSetup(dirFlag)
	if err != nil {
		return err
	}
	out := newDemoOut(e)
	say, progress, lap, start := out.say, out.progress, out.lap, out.start

	var peers []*demoPeer
	var lab *demoLab
	success := false
	defer func() {
		out.cleanUp(peers, dir, success, keep, func() {
			if lab != nil {
				lab.remove()
			}
		})
	}()

	if lab, err = newDemoLab(3); err != nil {
		return fail(exitUnavailable, err, "the kernel must allow network namespaces and veth pairs")
	}
	say("1. A private LAN: three network namespaces on one bridge, 10.77.0.0/24       %8s", lap())
	inLab := func(i int) []string { return []string{"ip", "netns", "exec", lab.nodes[i]} }
	if err := startDemoPeers(e, self, dir, &peers, inLab, "--lan", "--interface", demoLANIface); err != nil {
		return err
	}
	alice, bob, carol := peers[0], peers[1], peers[2]
	say("2. alice, bob and carol run in LAN mode (no tor), each advertising privately %8s", lap())

	var pairTimes []time.Duration
	for _, pq := range [][2]*demoPeer{{alice, bob}, {alice, carol}, {bob, carol}} {
		t0 := time.Now()
		res, err := demoPair(e, pq[0], pq[1])
		if err != nil {
			return err
		}
		pairTimes = append(pairTimes, time.Since(t0))
		say("3. %-5s shows a code, %-5s types it: paired, safety number %s…", pq[0].name, pq[1].name, res.SafetyNumber[:11])
	}
	say("   three pairings                                                          %8s", lap())

	if err := waitFor(e.ctx, func(ctx context.Context) (bool, error) {
		for _, p := range peers {
			st, err := p.api.Status(ctx)
			if err != nil || !strings.Contains(st.Transport.Phase, "2 known peers seen") {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		return fail(exitFailure, fmt.Errorf("the nodes did not recognise each other's adverts: %v", err))
	}
	discovery := lap()
	say("4. Each recognises its two peers' adverts (random to anyone else)         %8s", discovery)

	if err := demoMessage(e, alice, bob, "Hi bob, this never left the LAN and never touched tor."); err != nil {
		return err
	}
	say("5. alice → bob: message delivered and read, end-to-end encrypted          %8s", lap())
	firstMsg := time.Since(start)

	x, err := demoIOC(e, carol, alice, bob)
	if err != nil {
		return err
	}
	say("6. carol drops IOC %s (%s, TLP:%s); alice and bob both hold it %6s", x.Value, x.Type, strings.ToUpper(x.TLP), lap())
	say("")
	say("start → first message delivered: %s (no tor to start; the namespaces, three pairings and discovery included)", firstMsg.Round(100*time.Millisecond))
	say("pairing (code shown → both contacts stored): %v, %v, %v", pairTimes[0].Round(time.Millisecond), pairTimes[1].Round(time.Millisecond), pairTimes[2].Round(time.Millisecond))
	say("discovery (paired → each recognises its peers' private adverts): %v (adverts are re-made every 5 s)", discovery)
	success = true
	if keep {
		say("")
		say("Left running in %s. Try:", dir)
		say("  %s status --data %s", self, alice.dir)
		say("  %s pair --data %s      # and on another node: %s pair <code> --data DIR", self, alice.dir, self)
		say("Stop it all with:")
		for _, p := range peers {
			say("  kill %d", p.cmd.Process.Pid)
		}
		say("  ip netns delete %s; rm -rf %s", strings.Join(append([]string{lab.hub}, lab.nodes...), "; ip netns delete "), dir)
		return nil
	}
	progress("stopping the nodes and removing the namespaces")
	return nil
}

// demoPair has p show a code and q type it, as two people would.
func demoPair(e *env, p, q *demoPeer) (*node.PairResult, error) {
	ctx, cancel := context.WithTimeout(e.ctx, demoTimeout)
	defer cancel()
	o, err := p.api.OfferPairing(ctx, p.name)
	if err != nil {
		return nil, err
	}
	shown := make(chan error, 1)
	go func() {
		_, err := p.api.WaitPairing(ctx)
		shown <- err
	}()
	res, err := q.api.JoinPairing(ctx, o.Code, q.name, "")
	if err != nil {
		cancel()
		<-shown
		return nil, fmt.Errorf("%s pairing with %s: %w", q.name, p.name, err)
	}
	if err := <-shown; err != nil {
		return nil, fmt.Errorf("%s pairing with %s: %w", p.name, q.name, err)
	}
	return res, nil
}
