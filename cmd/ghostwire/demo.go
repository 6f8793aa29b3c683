package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ghostwire/ghostwire/localapi"
	"github.com/ghostwire/ghostwire/node"
	"github.com/ghostwire/ghostwire/onion/testnet"
)

func demoCommand() *command {
	return &command{
		name:    "demo",
		summary: "three peers on a private Tor network exchange messages and an IOC",
		usage: `Usage: ghostwire demo [--lan] [--keep] [--dir D]

Starts a private Tor network on 127.0.0.1, three real 'ghostwire run' processes
(alice, bob, carol), pairs them, has alice message bob and bob reply, has carol
drop an IOC that the others receive, and prints what happened with the time
each step took. Then it stops everything and removes it. With --keep it leaves
the network and the nodes running and prints the commands to talk to them.
Nothing leaves the machine: every byte between the peers goes through tor.

With --lan there is no tor: as root, it builds a private network of Linux
network namespaces joined by a bridge (nothing outside the machine, nothing
on its own network), runs the three nodes in LAN mode, one per namespace, and
shows them discover each other, pair by code, message and share an IOC.

Example:
  ghostwire demo --keep`,
		run: runDemo,
	}
}

// demoPeer is one node the demo runs.
type demoPeer struct {
	name  string
	dir   string
	onion string
	cmd   *exec.Cmd
	api   *localapi.Client
}

// demoTimeout bounds each wait in the demo.
const demoTimeout = 120 * time.Second

func runDemo(e *env, c *command, args []string) error {
	fs := newFlags(c)
	keep := fs.Bool("keep", false, "leave the network and the nodes running")
	dirFlag := fs.String("dir", "", "work in `D` (must not exist; default: a new temporary directory)")
	lanMode := fs.Bool("lan", false, "LAN mode, no tor: three nodes in network namespaces discover and pair (needs root)")
	if err := parse(e, c, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError("demo takes no arguments")
	}
	if *lanMode {
		return runDemoLAN(e, *keep, *dirFlag)
	}
	self, dir, err := demoSetup(*dirFlag)
	if err != nil {
		return err
	}
	out := newDemoOut(e)
	say, progress, lap, start := out.say, out.progress, out.lap, out.start

	var peers []*demoPeer
	var nw *testnet.Network
	success := false
	defer func() {
		out.cleanUp(peers, dir, success, *keep, func() {
			if nw != nil {
				nw.Stop()
			}
		})
	}()

	nw, err = testnet.Start(e.ctx, testnet.Config{Dir: filepath.Join(dir, "net"), Progress: func(s string) { progress("tor network: %s", s) }})
	if err != nil {
		return fail(exitUnavailable, err, "is tor installed? (Debian: apt-get install tor)")
	}
	say("1. Private Tor network up on 127.0.0.1 (4 directory authorities)          %8s", lap())

	if err := startDemoPeers(e, self, dir, &peers, nil, "--testnet", nw.Dir); err != nil {
		return err
	}
	alice, bob, carol := peers[0], peers[1], peers[2]
	say("2. alice, bob and carol run, each reachable at its own onion address      %8s", lap())
	for _, p := range peers {
		say("     %-5s %s", p.name, p.onion)
	}

	for _, p := range peers {
		for _, q := range peers {
			if p != q {
				if _, err := p.api.AddPeer(e.ctx, q.onion, q.name); err != nil {
					return err
				}
			}
		}
	}
	say("3. Each adds the other two as peers (an onion address is all it takes)      %8s", lap())

	if err := demoMessage(e, alice, bob, "Hi bob, this went through three Tor circuits and nobody saw it."); err != nil {
		return err
	}
	say("4. alice → bob: message delivered and read, end-to-end encrypted          %8s", lap())
	firstMsg := time.Since(start)
	if err := demoMessage(e, bob, alice, "Got it. Carol has something for us."); err != nil {
		return err
	}
	say("5. bob → alice: reply delivered and read                                   %8s", lap())

	// One more message on the now-open session, to time delivery alone.
	t0 := time.Now()
	if err := demoMessage(e, alice, bob, "(timing a message on an open session)"); err != nil {
		return err
	}
	openSession := time.Since(t0)
	out.step = time.Now() // step 6 is timed without the timing message

	x, err := demoIOC(e, carol, alice, bob)
	if err != nil {
		return err
	}
	say("6. carol drops IOC %s (%s, TLP:%s); alice and bob both hold it %6s", x.Value, x.Type, strings.ToUpper(x.TLP), lap())
	say("")
	say("start → first message delivered: %s (target < 30 s, most of it tor's own start)", firstMsg.Round(100*time.Millisecond))
	say("message on an open session, send → read receipt back: %s (two onion round trips)", openSession.Round(time.Millisecond))
	success = true
	if *keep {
		say("")
		say("Left running in %s. Try:", dir)
		for _, p := range peers {
			say("  %s status --data %s", self, p.dir)
		}
		say("  %s msg send bob 'hello again' --data %s", self, alice.dir)
		say("  %s msg list --follow --data %s", self, bob.dir)
		say("  %s ioc list --data %s", self, alice.dir)
		say("  curl --unix-socket %s http://ghostwire/v1/status", filepath.Join(carol.dir, "api.sock"))
		say("Stop it all with:")
		for _, p := range peers {
			say("  kill %d", p.cmd.Process.Pid)
		}
		say("  %s testnet down --dir %s && rm -rf %s", self, nw.Dir, dir)
		return nil
	}
	progress("stopping the nodes and the network")
	return nil
}

// demoMessage sends text from p to q and waits until p sees it read.
func demoMessage(e *env, p, q *demoPeer, text string) error {
	if _, err := p.api.SendMessage(e.ctx, q.name, text); err != nil {
		return err
	}
	// q reads its messages (which sends the read receipt), p waits for it.
	return waitFor(e.ctx, func(ctx context.Context) (bool, error) {
		if _, err := q.api.Messages(ctx, p.name); err != nil {
			return false, err
		}
		out, err := p.api.Messages(ctx, q.name)
		if err != nil {
			return false, err
		}
		for _, o := range out {
			if o.Text == text && o.Direction == "out" && o.State == node.StateRead {
				return true, nil
			}
		}
		return false, nil
	})
}

// waitFor polls cond every 100 ms until it holds, it errs, or demoTimeout.
func waitFor(ctx context.Context, cond func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, demoTimeout)
	defer cancel()
	for {
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := cond(rctx)
		rcancel()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("timed out")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop ends a node with SIGTERM (a clean shutdown), then SIGKILL after 10 s.
func (p *demoPeer) stop() {
	if p.cmd == nil || p.cmd.Process == nil || p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// demoSetup finds this binary and makes the demo's directory: dirFlag, which
// must not exist, or a new temporary one.
func demoSetup(dirFlag string) (self, dir string, err error) {
	if self, err = os.Executable(); err != nil {
		return "", "", fail(exitFailure, err)
	}
	if dir = dirFlag; dir == "" {
		if dir, err = os.MkdirTemp("", "ghostwire-demo-"); err != nil {
			return "", "", fail(exitFailure, err)
		}
	} else if err := os.Mkdir(dir, 0o700); err != nil {
		return "", "", fail(exitUsage, err, "give a directory that does not exist yet")
	}
	return self, dir, nil
}

// startDemoPeer creates name's identity under dir and starts its node with
// runArgs, through wrap (ip netns exec NS) if given, logging to
// dir/name.log. A peer is returned once its process started, so the caller
// stops it even if a later step fails.
func startDemoPeer(self, dir, name string, wrap []string, runArgs ...string) (*demoPeer, error) {
	p := &demoPeer{name: name, dir: filepath.Join(dir, name)}
	out, err := exec.Command(self, "init", "--data", p.dir, "--no-passphrase", "--json").Output()
	if err != nil {
		return nil, fail(exitFailure, fmt.Errorf("init %s: %v", name, err))
	}
	var id idJSON
	if err := json.Unmarshal(out, &id); err != nil {
		return nil, fail(exitFailure, err)
	}
	p.onion, p.api = id.Onion, newAPIClient(p.dir)
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, fail(exitFailure, err)
	}
	defer logf.Close()
	argv := append(append(append([]string{}, wrap...), self, "run", "--data", p.dir), runArgs...)
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := p.cmd.Start(); err != nil {
		return nil, fail(exitFailure, err)
	}
	return p, nil
}

// startDemoPeers starts alice, bob and carol (node i through wrap(i), if
// wrap is set) with runArgs, adding each to peers as it starts, and waits
// until every one reports its service reachable (Tor: the onion
// descriptor is up; LAN: the advert is out).
func startDemoPeers(e *env, self, dir string, peers *[]*demoPeer, wrap func(i int) []string, runArgs ...string) error {
	for i, name := range []string{"alice", "bob", "carol"} {
		var w []string
		if wrap != nil {
			w = wrap(i)
		}
		p, err := startDemoPeer(self, dir, name, w, runArgs...)
		if p != nil {
			*peers = append(*peers, p)
		}
		if err != nil {
			return err
		}
	}
	for _, p := range *peers {
		if err := waitFor(e.ctx, func(ctx context.Context) (bool, error) {
			st, err := p.api.Status(ctx)
			if err != nil {
				return false, nil
			}
			return st.Transport.Reachable, nil
		}); err != nil {
			return fail(exitUnavailable, fmt.Errorf("%s never became reachable: %v", p.name, err), "see "+filepath.Join(dir, p.name+".log"))
		}
	}
	return nil
}

// demoIOC has from drop the demo's IOC and waits until every peer in to
// holds it.
func demoIOC(e *env, from *demoPeer, to ...*demoPeer) (*node.IOC, error) {
	drop := node.DropRequest{Type: "domain", Value: "Login-Update.Example.", TLP: "green", Tags: []string{"phishing"},
		Description: "credential phishing landing page"}
	x, err := from.api.DropIOC(e.ctx, drop)
	if err != nil {
		return nil, err
	}
	for _, p := range to {
		if err := waitFor(e.ctx, func(ctx context.Context) (bool, error) {
			xs, err := p.api.ListIOCs(ctx, localapi.IOCQuery{})
			if err != nil {
				return false, err
			}
			for _, y := range xs {
				if y.ID == x.ID {
					return true, nil
				}
			}
			return false, nil
		}); err != nil {
			return nil, fail(exitFailure, fmt.Errorf("%s never received %s's IOC: %v", p.name, from.name, err))
		}
	}
	return x, nil
}

// demoOut prints a demo's steps (stdout) and progress (stderr), and times
// each step from the end of the one before.
type demoOut struct {
	e           *env
	start, step time.Time
}

func newDemoOut(e *env) *demoOut {
	now := time.Now()
	return &demoOut{e: e, start: now, step: now}
}

func (o *demoOut) say(format string, a ...any) { printf(o.e.stdout, format+"\n", a...) }

func (o *demoOut) progress(format string, a ...any) {
	printf(o.e.stderr, "ghostwire: demo: "+format+"\n", a...)
}

// lap is the time since the last step ended, and starts the next.
func (o *demoOut) lap() time.Duration {
	d := time.Since(o.step)
	o.step = time.Now()
	return d.Round(10 * time.Millisecond)
}

// cleanUp stops what a demo started, unless it succeeded and keep is set:
// the nodes, then the network (stopNet), then the directory — kept if a
// step failed after a node started, since the nodes' logs say why (the
// hints printed point at them).
func (o *demoOut) cleanUp(peers []*demoPeer, dir string, success, keep bool, stopNet func()) {
	if success && keep {
		return
	}
	for _, p := range peers {
		p.stop()
	}
	stopNet()
	if success || len(peers) == 0 {
		os.RemoveAll(dir)
	} else {
		o.progress("the nodes' logs are kept in %s", dir)
	}
}
