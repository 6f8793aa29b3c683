package node

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/cloak"
	"github.com/ghostwire/ghostwire/collection"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/ioc"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recon"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/syncproto"
)

// Fault test parameters (issue 6): three nodes with 10k items each, the
// path's one-way delay 500 ± 300 ms per frame.
const (
	faultNodes   = 3
	faultItems   = 10_000
	faultLatency = 500 * time.Millisecond
	faultJitter  = 300 * time.Millisecond
	// faultMaxAttempts bounds the sessions one pair tries per case.
	faultMaxAttempts = 400
	// faultAttemptTimeout bounds one session: a dozen one-way delays of at
	// most 800 ms plus verifying and storing 20k items on a busy machine.
	faultAttemptTimeout = 30 * time.Second
	// faultCaseTimeout bounds one drop rate's whole run (-fault.fulldelay
	// allows faultCaseTimeoutFull).
	faultCaseTimeout = 3 * time.Minute
	// faultForgeEvery: the hostile node forges a tombstone for, and
	// replays into the wrong scope, every 100th item (300 of each): enough
	// to partition, censor and disclose before the fix, and little enough
	// that the honest nodes' work stays the convergence under loss.
	faultForgeEvery      = 100
	faultCaseTimeoutFull = 8 * time.Minute
)

// faultFullDelay runs every drop rate with the full 500 ± 300 ms delay.
var faultFullDelay = flag.Bool("fault.fulldelay", false, "run the 20 % drop case of TestFaultProxyConvergence with the full 500 ± 300 ms delay (several minutes; give go test a -timeout of 15m)")

// TestFaultProxyConvergence runs three nodes, each holding 10k IOC items of
// its own in the default collection's public scope, through a proxy that
// delays every frame by 500 ± 300 ms and loses 1 %, 5 % or 20 % of frames,
// each loss resetting the connection. Every pair of nodes retries sessions
// (real handshake and channel over 127.0.0.1 through the proxy, the node's
// own SyncStore over badger) until all three hold the same 30k items. Then
// every store is closed and reopened and must hold each item exactly once,
// with its original bytes: 0 lost, 0 duplicated. Every acknowledgement is
// also checked against the acknowledging node's store when it arrives: an
// item acknowledged is an item stored.
//
// Delay scaling, to keep the package's suite well under two minutes: at
// 20 % loss most sessions are cut in the handshake and the pairs need 20 to
// 40 sessions each, which at the full delay took 45 s on the 2-core test
// machine (once; the count of sessions varies a lot from run to run), so by
// default that case runs with the delay scaled tenfold down (50 ± 30 ms);
// -fault.fulldelay runs it at the full delay too. With -short every case is
// scaled. The drop rates and the data are the same in every mode.
//
// A fourth, hostile node (issue 20) is every honest node's peer and dials
// each of them directly, again and again, while they converge: it holds a
// forged tombstone (by throwaway keys) for every 100th item, in the public
// and the trusted scope, and replays those honest CLEAR items into the
// trusted scope. Honest nodes must still converge with 0 lost, no session may end
// in a protocol error (the hostile one's included: refused items cost only
// themselves), and no honest node may send an item into a scope it does
// not belong to (0 leaked).
//
// That an acknowledgement reached a sender at all is required only at 1 %
// and 5 %: at 20 % with the full delay a run once stored every item with
// no acknowledgement ever surviving the way back (75 resets in 389 frames).
func TestFaultProxyConvergence(t *testing.T) {
	checkBaseline(t)
	corpus := newFaultCorpus(t)
	for i, drop := range []float64{0.01, 0.05, 0.20} {
		latency, jitter := faultLatency, faultJitter
		if testing.Short() || (drop > 0.1 && !*faultFullDelay) {
			latency, jitter = latency/10, jitter/10
		}
		t.Run(fmt.Sprintf("drop %g%%", drop*100), func(t *testing.T) {
			runFaultCase(t, corpus, drop, latency, jitter, uint64(i+1))
		})
	}
}

// faultCorpus is the nodes' secrets and the items each one authored.
type faultCorpus struct {
	secrets [faultNodes]*identity.Secrets
	items   [faultNodes][]*item.Item
	bytes   map[item.ID][]byte // every item, by ID
}

func newFaultCorpus(t *testing.T) *faultCorpus {
	t.Helper()
	c := &faultCorpus{bytes: map[item.ID][]byte{}}
	sp := item.CollectionSpace(collection.Default)
	now := time.Now()
	for k := range faultNodes {
		s, err := identity.GenerateSecrets(bytes.NewReader(bytes.Repeat([]byte{0xf0 + byte(k)}, 128)))
		if err != nil {
			t.Fatal(err)
		}
		c.secrets[k] = s
		for i := range faultItems {
			rec, err := ioc.NewRecord(ioc.TypeIPv4, fmt.Sprintf("10.%d.%d.%d", k, i/256, i%256), ioc.TLPClear)
			if err != nil {
				t.Fatal(err)
			}
			it, err := ioc.NewItem(s.Key, sp, now.Add(-time.Duration(i)*time.Millisecond), &rec)
			if err != nil {
				t.Fatal(err)
			}
			c.items[k] = append(c.items[k], it)
			c.bytes[it.ID()] = it.Bytes()
		}
	}
	if len(c.bytes) != faultNodes*faultItems {
		t.Fatalf("corpus has %d distinct items, want %d", len(c.bytes), faultNodes*faultItems)
	}
	return c
}

// faultRun is one drop rate's three nodes, their listeners and proxies.
type faultRun struct {
	t      *testing.T
	corpus *faultCorpus
	nodes  [faultNodes]*Node
	dbs    [faultNodes]*store.DB
	dirs   [faultNodes]string
	byID   map[identity.ID]int
	scope  item.Scope // the public scope of the default collection

	// proxies[i][j], i < j: node i dials node j through it.
	proxies [faultNodes][faultNodes]*faultProxy

	acked     atomic.Int64 // item IDs acknowledged to a sender
	ackMu     sync.Mutex
	ackMissed []string // acknowledgements of items the acknowledger did not hold

	mu       sync.Mutex
	outcomes map[string]int // per pair and outcome: how attempts ended

	hostile   *hnode
	forged    map[item.ID]bool // the hostile node's own items
	leaked    atomic.Int64     // items an honest node sent into a scope they do not belong to
	hostileOK atomic.Int64     // the hostile node's sessions that synced
}

func runFaultCase(t *testing.T, corpus *faultCorpus, drop float64, latency, jitter time.Duration, seed uint64) {
	start := time.Now()
	r := &faultRun{t: t, corpus: corpus, byID: map[identity.ID]int{}, outcomes: map[string]int{},
		scope: collection.ClassScope(item.CollectionSpace(collection.Default), ioc.Class{Level: ioc.ClassPublic})}
	for k := range faultNodes {
		r.openNode(k)
		r.byID[r.nodes[k].ID()] = k
	}
	for k := range faultNodes {
		for j := range faultNodes {
			if j != k {
				if _, err := r.nodes[k].AddPeer(r.nodes[j].ID(), fmt.Sprintf("n%d", j)); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i := 0; i < faultItems; i += 1000 {
			if err := r.nodes[k].coll.Add(collection.Default, corpus.items[k][i:i+1000]...); err != nil {
				t.Fatal(err)
			}
		}
	}

	r.plantHostile()

	limit := faultCaseTimeout
	if *faultFullDelay {
		limit = faultCaseTimeoutFull
	}
	if raceEnabled {
		// The race detector makes every session's CPU work several times
		// slower, and the suite runs this beside every other package on a
		// shared machine: alone, 20% loss converged in 1m49s; in the full
		// race suite it once did not within 3 minutes. The bound is for
		// failure detection, not speed.
		limit *= 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var serveWG sync.WaitGroup
	var listeners [faultNodes]net.Listener
	for k := range faultNodes {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners[k] = ln
		t.Cleanup(func() { ln.Close() })
		serveWG.Add(1)
		go func() { defer serveWG.Done(); r.acceptLoop(ctx, k, ln, &serveWG) }()
	}
	for i := range faultNodes {
		for j := i + 1; j < faultNodes; j++ {
			p, err := newFaultProxy(listeners[j].Addr().String(), drop, latency, jitter, seed*100+uint64(i*10+j))
			if err != nil {
				t.Fatal(err)
			}
			r.proxies[i][j] = p
			t.Cleanup(p.Close) // on an early failure; Close is idempotent
		}
	}
	ready := time.Now()

	var pairWG sync.WaitGroup
	pairWG.Add(1)
	go func() { defer pairWG.Done(); r.harass(ctx, listeners) }()
	for i := range faultNodes {
		for j := i + 1; j < faultNodes; j++ {
			pairWG.Add(1)
			go func() { defer pairWG.Done(); r.syncPair(ctx, i, j) }()
		}
	}
	pairWG.Wait()
	converged := r.converged()
	took := time.Since(ready)
	cancel()
	for k := range faultNodes {
		listeners[k].Close()
	}
	var frames, dropped, conns int64
	for i := range faultNodes {
		for j := i + 1; j < faultNodes; j++ {
			p := r.proxies[i][j]
			p.Close()
			frames, dropped, conns = frames+p.frames.Load(), dropped+p.dropped.Load(), conns+p.conns.Load()
		}
	}
	serveWG.Wait()

	t.Logf("drop %g%%, delay %v ± %v: converged=%v in %v (setup %v); %d connections, %d frames, %d lost; %d item IDs acknowledged; attempts: %v",
		drop*100, latency, jitter, converged, took.Round(time.Millisecond), ready.Sub(start).Round(time.Millisecond),
		conns, frames, dropped, r.acked.Load(), r.outcomes)
	if !converged {
		t.Errorf("not converged after %v", took)
	}
	if dropped == 0 {
		t.Errorf("the proxy lost no frame: the case tested nothing")
	}
	if n := r.leaked.Load(); n > 0 {
		t.Errorf("honest nodes sent %d items into scopes they do not belong to", n)
	}
	// The hostile node's sessions may not all complete under the race
	// detector's slowdown; that it attacked is shown by its forged
	// tombstones having reached an honest node.
	reached := 0
	for k := range faultNodes {
		for id := range r.forged {
			if _, _, err := r.dbs[k].GetItem(id); err == nil {
				reached++
			}
		}
	}
	if reached == 0 {
		t.Errorf("none of the hostile node's forged tombstones reached an honest node: it attacked nothing (%d of its sessions synced)", r.hostileOK.Load())
	}
	r.ackMu.Lock()
	if len(r.ackMissed) > 0 {
		t.Errorf("%d acknowledged items were not in the acknowledger's store, e.g. %s", len(r.ackMissed), r.ackMissed[0])
	}
	r.ackMu.Unlock()
	if r.acked.Load() == 0 && drop < 0.1 {
		t.Errorf("no item was ever acknowledged")
	}

	// Close and reopen every store: what the nodes acknowledged must have
	// been durable, and each holds every item exactly once.
	// The nodes are checked side by side: decoding 30k items each is most
	// of a case's teardown.
	var checkWG sync.WaitGroup
	for k := range faultNodes {
		checkWG.Add(1)
		go func() {
			defer checkWG.Done()
			if err := r.dbs[k].Close(); err != nil {
				t.Error(err)
				return
			}
			db, err := store.Open(filepath.Join(r.dirs[k], "store"), corpus.secrets[k].StoreKey[:], nil)
			if err != nil {
				t.Error(err)
				return
			}
			r.checkHolds(k, db)
			if err := db.Close(); err != nil {
				t.Error(err)
			}
		}()
	}
	checkWG.Wait()
}

func (r *faultRun) openNode(k int) {
	t := r.t
	r.dirs[k] = t.TempDir()
	s := r.corpus.secrets[k]
	db, err := store.Open(filepath.Join(r.dirs[k], "store"), s.StoreKey[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{Secrets: s, Store: db, Mode: cloak.ModeTor, Transport: unusedTransport{}})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	r.nodes[k], r.dbs[k] = n, db
	t.Cleanup(func() { db.Close() }) // on an early failure; Close is idempotent
}

// checkHolds checks a reopened store against the corpus: the public scope
// is exactly the 30k IDs, each once, and the collection's space lists
// each item once with its original bytes.
func (r *faultRun) checkHolds(k int, db *store.DB) {
	t := r.t
	seen := map[item.ID]bool{}
	dup, extra := 0, 0
	err := db.ScopeIDs(r.scope, func(id item.ID) error {
		if r.forged[id] {
			return nil // the hostile node's own items: inert
		}
		if seen[id] {
			dup++
		}
		if _, ok := r.corpus.bytes[id]; !ok {
			extra++
		}
		seen[id] = true
		return nil
	})
	if err != nil {
		t.Error(err)
		return
	}
	lost := 0
	for id := range r.corpus.bytes {
		if !seen[id] {
			lost++
		}
	}
	listed, changed := map[item.ID]int{}, 0
	err = db.SpaceItems(item.CollectionSpace(collection.Default), func(it *item.Item) error {
		if r.forged[it.ID()] {
			return nil
		}
		listed[it.ID()]++
		if !bytes.Equal(it.Bytes(), r.corpus.bytes[it.ID()]) {
			changed++
		}
		return nil
	})
	if err != nil {
		t.Error(err)
		return
	}
	listedDup := 0
	for _, c := range listed {
		listedDup += c - 1
	}
	if lost != 0 || dup != 0 || extra != 0 || changed != 0 || listedDup != 0 || len(listed) != len(r.corpus.bytes) {
		t.Errorf("node %d after reopening: scope holds %d IDs (%d lost, %d duplicated, %d unknown); space lists %d items (%d duplicated, %d with other bytes), want %d",
			k, len(seen), lost, dup, extra, len(listed), listedDup, changed, len(r.corpus.bytes))
	}
}

// converged reports whether every node holds all the corpus's items in the
// public scope (checkHolds then checks they are exactly those).
func (r *faultRun) converged() bool {
	for k := range faultNodes {
		n := 0
		count := func(id item.ID) error {
			if !r.forged[id] {
				n++
			}
			return nil
		}
		if err := r.dbs[k].ScopeIDs(r.scope, count); err != nil {
			r.t.Error(err)
			return false
		}
		if n < len(r.corpus.bytes) {
			return false
		}
	}
	return true
}

// syncPair has node i dial node j through the proxy until every node holds
// everything, within faultMaxAttempts sessions and the case's deadline. A
// pair already in sync keeps trying, as a node's redial does: the third
// node may still bring news.
func (r *faultRun) syncPair(ctx context.Context, i, j int) {
	for range faultMaxAttempts {
		if ctx.Err() != nil || r.converged() {
			return
		}
		out := r.attempt(ctx, i, j)
		r.mu.Lock()
		r.outcomes[fmt.Sprintf("%d-%d %s", i, j, out)]++
		r.mu.Unlock()
		if out == "synced" {
			// Nothing new here for now; give the other pairs a moment.
			select {
			case <-ctx.Done():
			case <-time.After(r.proxies[i][j].latency):
			}
		}
	}
}

// attempt runs one session from node i to node j through their proxy. It
// ends when the session reports both directions complete (then it closes
// the session, as a node ends an idle one), when the connection breaks,
// or at faultAttemptTimeout.
func (r *faultRun) attempt(ctx context.Context, i, j int) string {
	actx, cancel := context.WithTimeout(ctx, faultAttemptTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(actx, "tcp", r.proxies[i][j].Addr())
	if err != nil {
		return "dial failed"
	}
	conn, err := syncproto.Client(actx, c, r.nodes[i].handshakeConfig(), r.nodes[j].ID())
	if err != nil {
		return "handshake cut"
	}
	obs := r.observe(i)
	sess := syncproto.NewSession(conn, obs, true)
	done := make(chan error, 1)
	go func() { done <- sess.Run(actx) }()
	select {
	case <-obs.synced:
		cancel()
		<-done
		return "synced"
	case err := <-done:
		if actx.Err() != nil {
			return "timed out"
		}
		if errors.Is(err, syncproto.ErrSession) {
			r.t.Errorf("session %d→%d: %v", i, j, err)
			return "protocol error"
		}
		return "session cut"
	}
}

// acceptLoop serves node k's inbound connections: the node's handshake
// (which admits only its peers), then a responder session.
func (r *faultRun) acceptLoop(ctx context.Context, k int, ln net.Listener, wg *sync.WaitGroup) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			hctx, cancel := context.WithTimeout(ctx, faultAttemptTimeout)
			conn, err := syncproto.Server(hctx, c, r.nodes[k].handshakeConfig())
			cancel()
			if err != nil {
				return
			}
			err = syncproto.NewSession(conn, r.observe(k), false).Run(ctx)
			if errors.Is(err, syncproto.ErrSession) {
				r.t.Errorf("session at node %d: %v", k, err)
			}
		}()
	}
}

// observedStore is node k's own SyncStore, observed: Synced also closes a
// channel, and each acknowledgement is checked against the acknowledging
// peer's store at the moment it arrives.
type observedStore struct {
	syncStore
	r      *faultRun
	synced chan struct{}
	once   sync.Once
}

// Accept checks, before the node does, that an honest sender put every item
// in a scope it belongs to.
func (s *observedStore) Accept(peer identity.ID, sc item.Scope, raw [][]byte) ([]recon.ID, error) {
	r := s.r
	if _, honest := r.byID[peer]; honest {
		fits := s.n.scopeCheck(peer, sc)
		for _, b := range raw {
			if it, err := item.Decode(b); err == nil && !fits(it) {
				r.leaked.Add(1)
			}
		}
	}
	return s.syncStore.Accept(peer, sc, raw)
}

func (r *faultRun) observe(k int) *observedStore {
	return &observedStore{syncStore: syncStore{r.nodes[k]}, r: r, synced: make(chan struct{})}
}

func (s *observedStore) Acked(peer identity.ID, ids, refused []recon.ID) {
	r := s.r
	k, honest := r.byID[peer]
	if !honest { // the hostile node: its word is not checked
		s.syncStore.Acked(peer, ids, refused)
		return
	}
	db := r.dbs[k]
	for _, id := range ids {
		if _, _, err := db.GetItem(item.ID(id)); err != nil {
			r.ackMu.Lock()
			r.ackMissed = append(r.ackMissed, fmt.Sprintf("%x at %s: %v", id[:4], peer.Short(), err))
			r.ackMu.Unlock()
		}
	}
	r.acked.Add(int64(len(ids)))
	s.syncStore.Acked(peer, ids, refused)
}

func (s *observedStore) Synced(peer identity.ID) {
	s.syncStore.Synced(peer)
	s.once.Do(func() { close(s.synced) })
}

// unusedTransport satisfies Config for tests that run the nodes' sessions
// themselves (the fault test, over its proxy) or only need the node's API:
// it never listens, dials or becomes ready, like a tor that never starts.
type unusedTransport struct{}

var errUnusedTransport = errors.New("node: this test's node has no transport")

func (unusedTransport) Mode() cloak.Mode { return cloak.ModeTor }
func (unusedTransport) Listen(context.Context, *identity.PrivateKey) (cloak.Listener, error) {
	return nil, errUnusedTransport
}
func (unusedTransport) Dial(context.Context, identity.ID) (net.Conn, error) {
	return nil, errUnusedTransport
}
func (unusedTransport) Status() cloak.Status { return cloak.Status{Mode: "test"} }
func (unusedTransport) Close() error         { return nil }

// checkBaseline fails the test if goroutines or file descriptors are not
// back to their starting counts shortly after it ends. Call it first, so
// that its cleanup runs last.
func checkBaseline(t *testing.T) {
	t.Helper()
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatalf("counting fds: %v", err)
		}
		return len(ents)
	}
	g0, f0 := runtime.NumGoroutine(), fds()
	t.Cleanup(func() {
		var g, f int
		for range 300 { // bounded: at most 3 s
			if g, f = runtime.NumGoroutine(), fds(); g <= g0 && f <= f0 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		buf := make([]byte, 1<<16)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("leak: goroutines %d -> %d, fds %d -> %d\n%s", g0, g, f0, f, buf)
	})
}

// plantHostile makes the hostile node, every honest node's peer, and fills
// its store: forged tombstones for every faultForgeEvery-th item of the
// corpus in the public and trusted scopes, and those items replayed into
// the trusted scope.
func (r *faultRun) plantHostile() {
	t := r.t
	r.hostile = newHNode(t, 0xfe)
	r.forged = map[item.ID]bool{}
	for k := range faultNodes {
		if _, err := r.nodes[k].AddPeer(r.hostile.ID(), "mallory"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.hostile.AddPeer(r.nodes[k].ID(), ""); err != nil {
			t.Fatal(err)
		}
	}
	trusted := collection.ClassScope(item.CollectionSpace(collection.Default), ioc.Class{Level: ioc.ClassTrusted})
	var entries []store.Entry
	for k := range faultNodes {
		for i := 0; i < faultItems; i += faultForgeEvery {
			it := r.corpus.items[k][i]
			f := forgeTombstone(t, it.ID(), it.Space(), byte(i%7))
			r.forged[f.ID()] = true
			entries = append(entries, store.Entry{Item: f, Scopes: []item.Scope{r.scope, trusted}},
				store.Entry{Item: it, Scopes: []item.Scope{trusted}})
		}
	}
	if _, err := r.hostile.db.PutItems(entries); err != nil {
		t.Fatal(err)
	}
}

// harass has the hostile node dial each honest node directly, in turn,
// until ctx ends or the honest nodes have converged.
func (r *faultRun) harass(ctx context.Context, listeners [faultNodes]net.Listener) {
	for round := 0; round < faultMaxAttempts && ctx.Err() == nil && !r.converged(); round++ {
		k := round % faultNodes
		if r.hostileSession(ctx, k, listeners[k].Addr().String()) {
			r.hostileOK.Add(1)
		}
		select { // as a node's redial would, not in a tight loop
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// hostileSession runs one session from the hostile node to node k and
// reports whether it synced.
func (r *faultRun) hostileSession(ctx context.Context, k int, addr string) bool {
	actx, cancel := context.WithTimeout(ctx, faultAttemptTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(actx, "tcp", addr)
	if err != nil {
		return false
	}
	conn, err := syncproto.Client(actx, c, r.hostile.handshakeConfig(), r.nodes[k].ID())
	if err != nil {
		return false
	}
	st := &watchedStore{syncStore: syncStore{r.hostile.Node}, synced: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- syncproto.NewSession(conn, st, true).Run(actx) }()
	select {
	case <-st.synced:
		cancel()
		<-done
		return true
	case <-done:
		return false
	}
}
