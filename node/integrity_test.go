package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/collection"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/ioc"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recon"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/syncproto"
	"github.com/ghostwire/ghostwire/wire"
)

// Sync integrity against a hostile peer (issue 20). Each test runs real
// nodes over real badger stores, and their sessions over 127.0.0.1 with the
// real handshake and channel; the hostile peer is a node whose own store the
// test writes into directly, as a modified client would.

// hnode is a node of these tests with a clock the test can move.
type hnode struct {
	*Node
	db   *store.DB
	skew atomic.Int64 // added to the wall clock, nanoseconds
}

func newHNode(t testing.TB, seed byte, tune ...func(*Config)) *hnode {
	t.Helper()
	h := &hnode{}
	h.Node, h.db = bareNode(t, seed, func() time.Time { return time.Now().Add(time.Duration(h.skew.Load())) }, tune...)
	return h
}

func (h *hnode) setSkew(d time.Duration) { h.skew.Store(int64(d)) }

// pairUp makes a and b each other's peers.
func pairUp(t testing.TB, a, b *hnode) {
	t.Helper()
	if _, err := a.AddPeer(b.ID(), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddPeer(a.ID(), ""); err != nil {
		t.Fatal(err)
	}
}

// received is an item one side of a session received, and its scope.
type received struct {
	scope item.Scope
	it    *item.Item
}

// watchedStore is a node's own SyncStore that records every item it is sent
// and signals Synced.
type watchedStore struct {
	syncStore
	mu     sync.Mutex
	got    []received
	synced chan struct{}
	once   sync.Once
}

func (s *watchedStore) Accept(peer identity.ID, sc item.Scope, raw [][]byte) ([]recon.ID, error) {
	s.mu.Lock()
	for _, b := range raw {
		if it, err := item.Decode(b); err == nil {
			s.got = append(s.got, received{sc, it})
		}
	}
	s.mu.Unlock()
	return s.syncStore.Accept(peer, sc, raw)
}

func (s *watchedStore) Synced(peer identity.ID) {
	s.syncStore.Synced(peer)
	s.once.Do(func() { close(s.synced) })
}

// sessionResult is how one session between two nodes went.
type sessionResult struct {
	err        error      // nil if both sides reported the sync complete
	gotA, gotB []received // what the initiator and the responder received
}

// sessionTimeout bounds one session of these tests (a few items over
// loopback; most of it is the handshake).
const sessionTimeout = 30 * time.Second

// syncOnce runs one session, a dialing b over 127.0.0.1, until both sides
// report the sync complete (then it closes it, as an idle node does), a
// side ends it, or sessionTimeout passes.
func syncOnce(t testing.TB, a, b *hnode) sessionResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), sessionTimeout)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sa := &watchedStore{syncStore: syncStore{a.Node}, synced: make(chan struct{})}
	sb := &watchedStore{syncStore: syncStore{b.Node}, synced: make(chan struct{})}
	errs := make(chan error, 2) // each side's end, nil once both synced
	go func() {
		c, err := ln.Accept()
		if err != nil {
			errs <- fmt.Errorf("accept: %w", err)
			return
		}
		conn, err := syncproto.Server(ctx, c, b.handshakeConfig())
		if err != nil {
			errs <- fmt.Errorf("responder handshake: %w", err)
			return
		}
		errs <- sideEnded("responder", syncproto.NewSession(conn, sb, false).Run(ctx), ctx)
	}()
	go func() {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			errs <- fmt.Errorf("dial: %w", err)
			return
		}
		conn, err := syncproto.Client(ctx, c, a.handshakeConfig(), b.ID())
		if err != nil {
			errs <- fmt.Errorf("initiator handshake: %w", err)
			return
		}
		errs <- sideEnded("initiator", syncproto.NewSession(conn, sa, true).Run(ctx), ctx)
	}()
	bothSynced := make(chan struct{})
	go func() {
		for _, ch := range []chan struct{}{sa.synced, sb.synced} {
			select {
			case <-ch:
			case <-ctx.Done():
				return
			}
		}
		close(bothSynced)
	}()
	var res sessionResult
	select {
	case <-bothSynced:
		cancel()
		<-errs
		<-errs
	case err := <-errs:
		// One side ended first; the other's reason (often the real
		// one: the side that refused something closes without a word)
		// follows once the closed connection reaches it.
		other := <-errs
		cancel()
		res.err = errors.Join(err, other)
	case <-ctx.Done():
		<-errs
		<-errs
		res.err = errors.New("session timed out")
	}
	res.gotA, res.gotB = sa.got, sb.got
	return res
}

// sideEnded describes how one side's session ended: a session Run returns
// nil when its context ended or the peer closed it.
func sideEnded(side string, err error, ctx context.Context) error {
	switch {
	case ctx.Err() != nil:
		return nil
	case err == nil:
		return fmt.Errorf("%s: the peer closed the session before it synced", side)
	}
	return fmt.Errorf("%s: %w", side, err)
}

// mustSync runs sessions between a and b until one completes, failing the
// test if any fails: every session of an honest pair must complete.
func mustSync(t testing.TB, a, b *hnode) sessionResult {
	t.Helper()
	res := syncOnce(t, a, b)
	if res.err != nil {
		t.Fatalf("session %s → %s: %v", a.ID().Short(), b.ID().Short(), res.err)
	}
	return res
}

// dropIOC drops a CLEAR (or GREEN) indicator at h and returns its item.
func dropIOC(t *testing.T, h *hnode, value, tlp string, to ...string) *item.Item {
	t.Helper()
	x, err := h.coll.Drop(collection.DropRequest{Type: "domain", Value: value, TLP: tlp, To: to})
	if err != nil {
		t.Fatal(err)
	}
	return storedItem(t, h, x.ID)
}

func storedItem(t *testing.T, h *hnode, hexID string) *item.Item {
	t.Helper()
	raw, err := hex.DecodeString(hexID)
	if err != nil || len(raw) != item.IDSize {
		t.Fatalf("bad item ID %q", hexID)
	}
	id := item.ID(raw)
	it, dead, err := h.db.GetItem(id)
	if err != nil || dead {
		t.Fatalf("item %s not held (dead %v): %v", hexID, dead, err)
	}
	return it
}

// holds reports whether h stores id as a live item.
func holds(h *hnode, id item.ID) bool {
	_, dead, err := h.db.GetItem(id)
	return err == nil && !dead
}

// forgeTombstone signs, with a key that is not the target's author, a
// tombstone naming target, in target's space: what anyone can make who
// has seen the target's ID.
func forgeTombstone(t *testing.T, target item.ID, sp item.Space, seed byte) *item.Item {
	t.Helper()
	key := testKey(t, seed)
	payload, err := wire.Marshal(&struct {
		Target []byte `cbor:"1,keyasint"`
	}{target[:]})
	if err != nil {
		t.Fatal(err)
	}
	f, err := item.New(key, item.KindTombstone, sp, time.Now(), payload)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func testKey(t testing.TB, seed byte) *identity.PrivateKey {
	t.Helper()
	s, err := identity.GenerateSecrets(constReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	return s.Key
}

type constReader byte

func (r constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// plant stores an item at a hostile node in the scopes the test names, as a
// modified client would (its own store is its own business).
func plant(t *testing.T, h *hnode, it *item.Item, scopes ...item.Scope) {
	t.Helper()
	if _, err := h.db.PutItems([]store.Entry{{Item: it, Scopes: scopes}}); err != nil {
		t.Fatal(err)
	}
}

func publicScope() item.Scope {
	return collection.ClassScope(item.CollectionSpace(collection.Default), ioc.Class{Level: ioc.ClassPublic})
}

func trustedScope() item.Scope {
	return collection.ClassScope(item.CollectionSpace(collection.Default), ioc.Class{Level: ioc.ClassTrusted})
}

// inScope counts the items received in scope s.
func inScope(got []received, s item.Scope) int {
	n := 0
	for _, r := range got {
		if r.scope == s {
			n++
		}
	}
	return n
}

// gotID reports whether a session side received the item with this ID.
func gotID(got []received, id item.ID) bool {
	for _, r := range got {
		if r.it.ID() == id {
			return true
		}
	}
	return false
}

// TestForgedTombstonePartition: mallory publishes a CLEAR indicator X, lets
// it spread to h and p, then hands h a GREEN-scope tombstone of X signed by
// a throwaway key. Before the fix h then sent X in the GREEN scope to every
// peer lacking the tombstone, which refused it and ended the whole session
// (direct messages included) on every redial. Five redials must complete,
// carry the direct message, and send nothing into a scope it does not
// belong to.
func TestForgedTombstonePartition(t *testing.T) {
	mallory, h, p := newHNode(t, 0x31), newHNode(t, 0x32), newHNode(t, 0x33)
	pairUp(t, mallory, h)
	pairUp(t, h, p)
	x := dropIOC(t, mallory, "login-update.example", "clear")
	mustSync(t, mallory, h)
	mustSync(t, h, p)
	if !holds(h, x.ID()) || !holds(p, x.ID()) {
		t.Fatal("X did not spread")
	}
	f := forgeTombstone(t, x.ID(), x.Space(), 0x3f)
	plant(t, mallory, f, trustedScope())
	mustSync(t, mallory, h)

	if _, err := h.dm.Send(p.ID(), "still talking"); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		res := syncOnce(t, h, p)
		if res.err != nil {
			t.Fatalf("redial %d of h → p: %v", i+1, res.err)
		}
		checkPlacement(t, p, h.ID(), res.gotA)
		checkPlacement(t, p, h.ID(), res.gotB)
	}
	if n := countMessages(t, p, "still talking"); n != 1 {
		t.Fatalf("p holds %d copies of h's message, want 1", n)
	}
	if !holds(h, x.ID()) || !holds(p, x.ID()) {
		t.Fatal("the forged tombstone deleted X")
	}
}

// checkPlacement fails the test if a received item is not one the scope it
// came in may carry: every item must be among the scopes the receiver
// itself would put it in (or a tombstone, in its target's space).
func checkPlacement(t *testing.T, at *hnode, from identity.ID, got []received) {
	t.Helper()
	for _, r := range got {
		if !at.scopeCheck(from, r.scope)(r.it) {
			t.Errorf("%s was sent kind %d item %x in scope %x, where it does not belong",
				at.ID().Short(), r.it.Kind(), r.it.ID().String()[:8], r.scope[:4])
		}
	}
}

func countMessages(t *testing.T, h *hnode, text string) int {
	t.Helper()
	msgs, err := h.dm.List(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range msgs {
		if m.Text == text {
			n++
		}
	}
	return n
}

// TestForgedTombstoneCensorship: a forged tombstone naming an indicator
// reaches p before the indicator does. Before the fix its target's ID
// joined p's set, so reconciliation took p to hold X already and X never
// arrived by sync.
func TestForgedTombstoneCensorship(t *testing.T) {
	author, mallory, p := newHNode(t, 0x41), newHNode(t, 0x42), newHNode(t, 0x43)
	pairUp(t, author, p)
	pairUp(t, mallory, p)
	x := dropIOC(t, author, "update-check.example", "clear")
	plant(t, mallory, forgeTombstone(t, x.ID(), x.Space(), 0x4f), publicScope())
	mustSync(t, mallory, p)
	mustSync(t, author, p)
	if !holds(p, x.ID()) {
		t.Fatal("a forged tombstone that arrived first kept X from p")
	}
}

// TestForgedTombstoneDisclosure: a forged tombstone naming the ID of a
// direct message, or of a sealed AMBER indicator, reaches a holder h in the
// public scope. Before the fix h then sent the item itself to a third peer
// c outside its audience (c refused it, but had received it).
func TestForgedTombstoneDisclosure(t *testing.T) {
	h, b, mallory, c := newHNode(t, 0x51), newHNode(t, 0x52), newHNode(t, 0x53), newHNode(t, 0x54)
	pairUp(t, h, b)
	pairUp(t, h, mallory)
	pairUp(t, h, c)
	mustSync(t, h, b) // recipient keys both ways
	dm, err := h.dm.Send(b.ID(), "for b only")
	if err != nil {
		t.Fatal(err)
	}
	dmItem := storedItem(t, h, dm.ID)
	amber := dropIOC(t, h, "internal-only.example", "amber", b.ID().String())
	mustSync(t, h, b)
	for _, target := range []*item.Item{dmItem, amber} {
		plant(t, mallory, forgeTombstone(t, target.ID(), item.CollectionSpace(collection.Default), 0x5f), publicScope())
		plant(t, mallory, forgeTombstone(t, target.ID(), target.Space(), 0x5e), publicScope())
	}
	mustSync(t, mallory, h)
	for i := range 2 {
		res := syncOnce(t, h, c)
		if res.err != nil {
			t.Errorf("session %d h → c: %v", i+1, res.err)
		}
		for _, target := range []*item.Item{dmItem, amber} {
			if gotID(res.gotA, target.ID()) || gotID(res.gotB, target.ID()) {
				t.Errorf("session %d: c received kind %d item %s, which only h and b may see", i+1, target.Kind(), target.ID().String()[:8])
			}
		}
	}
	if !holds(h, dmItem.ID()) || !holds(h, amber.ID()) || !holds(b, dmItem.ID()) || !holds(b, amber.ID()) {
		t.Error("a forged tombstone deleted a direct message or an AMBER indicator")
	}
}

// TestRestoredIdentity: a node restored from its key file onto an empty
// store (same identity, nothing else) syncs with its old peer and reads its
// old messages, both ways. Before the fix it made a new recipient-key
// certificate and refused its own old one when the peer sent it back, so
// every session failed.
func TestRestoredIdentity(t *testing.T) {
	a, b := newHNode(t, 0x61), newHNode(t, 0x62)
	pairUp(t, a, b)
	mustSync(t, a, b)
	if _, err := a.dm.Send(b.ID(), "from a, before"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.dm.Send(a.ID(), "from b, before"); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a, b)

	restored := newHNode(t, 0x61) // same seed: the same key file, an empty store
	restored.setSkew(time.Minute) // restored later: its new certificate differs
	if _, err := restored.AddPeer(b.ID(), ""); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if res := syncOnce(t, restored, b); res.err != nil {
			t.Fatalf("session %d of the restored node: %v", i+1, res.err)
		}
	}
	for _, text := range []string{"from a, before", "from b, before"} {
		if n := countMessages(t, restored, text); n != 1 {
			t.Errorf("the restored node reads %q %d times, want 1", text, n)
		}
	}
	if _, err := restored.dm.Send(b.ID(), "from a, after"); err != nil {
		t.Fatal(err)
	}
	mustSync(t, restored, b)
	if n := countMessages(t, b, "from a, after"); n != 1 {
		t.Errorf("b reads the restored node's new message %d times, want 1", n)
	}
}

// TestRetractEveryVersion: an indicator stated twice (an update) and then
// retracted is gone at its author and at a peer; before the fix only the
// newest version was tombstoned and the older one became current again.
func TestRetractEveryVersion(t *testing.T) {
	a, b := newHNode(t, 0x71), newHNode(t, 0x72)
	pairUp(t, a, b)
	dropIOC(t, a, "twice.example", "clear")
	a.setSkew(time.Second)
	v2 := dropIOC(t, a, "twice.example", "clear")
	mustSync(t, a, b)
	if _, err := a.coll.Retract(v2.ID().String()); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a, b)
	for _, h := range []*hnode{a, b} {
		list, err := h.coll.List(collection.Filter{IncludeExpired: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range list {
			if x.Value == "twice.example" {
				t.Errorf("%s still lists the retracted indicator (item %s)", h.ID().Short(), x.ID[:8])
			}
		}
	}
}

// TestFutureItemWaits: an item dated inside the author's allowed clock skew
// but beyond a slower peer's arrives in a session with other items. Before
// the fix it ended the session (so nothing else arrived either, on every
// redial); now the others arrive, the session completes, and the item is
// stored once the peer's clock allows it.
func TestFutureItemWaits(t *testing.T) {
	a, b := newHNode(t, 0x81), newHNode(t, 0x82)
	pairUp(t, a, b)
	mustSync(t, a, b)
	before := dropIOC(t, a, "before.example", "clear")
	a.setSkew(item.MaxFutureSkew - time.Minute) // a's clock runs 9 min ahead …
	b.setSkew(-2 * time.Minute)                 // … and b's 2 min behind
	early := dropIOC(t, a, "early.example", "clear")
	a.setSkew(0)
	after := dropIOC(t, a, "after.example", "clear")
	if _, err := a.dm.Send(b.ID(), "sent with it"); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a, b)
	if !holds(b, before.ID()) || !holds(b, after.ID()) || countMessages(t, b, "sent with it") != 1 {
		t.Fatal("the items sent with a future-dated one did not arrive")
	}
	if holds(b, early.ID()) {
		t.Fatal("b stored an item 11 minutes ahead of its clock")
	}
	b.setSkew(0) // b's clock catches up
	deadline := time.Now().Add(sessionTimeout)
	for !holds(b, early.ID()) {
		if time.Now().After(deadline) {
			t.Fatal("the future-dated item never arrived once b's clock allowed it")
		}
		mustSync(t, a, b)
	}
}

// TestFloodedScope: mallory, a peer, hands h more valid indicators than
// h's limit for a scope admits, from a hundred throwaway keys. Before, a
// scope past the limit a session reconciles was left out of every session
// (and anyone could push it there). Now h admits up to its limit, refuses
// the rest item by item, says so in its status, and every session
// completes; the scope keeps syncing what it holds, other scopes and
// direct messages are untouched, and h's own new indicators get a clear
// error. A collection that admits only peers refuses the throwaway keys'
// items and takes mallory's own.
func TestFloodedScope(t *testing.T) {
	const limit = 40
	lim := func(c *Config) { c.ScopeLimit = limit }
	mallory, h, p := newHNode(t, 0x91), newHNode(t, 0x92, lim), newHNode(t, 0x93, lim)
	pairUp(t, mallory, h)
	pairUp(t, h, p)
	sp := item.CollectionSpace(collection.Default)
	for i := range 100 {
		rec, err := ioc.NewRecord(ioc.TypeDomain, fmt.Sprintf("flood-%d.example", i), ioc.TLPClear)
		if err != nil {
			t.Fatal(err)
		}
		it, err := ioc.NewItem(testKey(t, byte(i)), sp, time.Now(), &rec)
		if err != nil {
			t.Fatal(err)
		}
		plant(t, mallory, it, publicScope())
	}
	for i := range 2 {
		res := mustSync(t, mallory, h)
		if n := inScope(res.gotB, publicScope()); i == 0 && n != 100 {
			t.Fatalf("h was sent %d items in the public scope, want the 100", n)
		}
	}
	set, err := h.sets.Get(publicScope())
	if err != nil {
		t.Fatal(err)
	}
	if set.Len() != limit {
		t.Fatalf("h's public scope holds %d items, want its limit %d", set.Len(), limit)
	}
	st, err := h.Status()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Full) != 1 || st.Full[0].Collection != collection.Default || st.Full[0].Class != "public" {
		t.Fatalf("status shows full scopes %+v, want the default collection's public one", st.Full)
	}
	if _, err := h.coll.Drop(collection.DropRequest{Type: "domain", Value: "mine.example"}); err == nil || !strings.Contains(err.Error(), "full") {
		t.Fatalf("dropping into the full collection: %v, want an error saying it is full", err)
	}
	if _, err := h.dm.Send(p.ID(), "the flood does not reach us"); err != nil {
		t.Fatal(err)
	}
	green := dropIOC(t, h, "green-still-flows.example", "green")
	for i := range 3 {
		if res := syncOnce(t, h, p); res.err != nil {
			t.Fatalf("session %d h → p: %v", i+1, res.err)
		}
	}
	if countMessages(t, p, "the flood does not reach us") != 1 || !holds(p, green.ID()) {
		t.Fatal("the direct message or the GREEN indicator did not reach p")
	}
	if set, err := p.sets.Get(publicScope()); err != nil || set.Len() != limit {
		t.Fatalf("p's public scope holds %v items (%v), want %d", set.Len(), err, limit)
	}

	// A collection that admits peers only.
	q := newHNode(t, 0x94)
	pairUp(t, mallory, q)
	if err := q.coll.SetWriters(collection.Default, collection.Writers{Mode: collection.WritersPeers}); err != nil {
		t.Fatal(err)
	}
	own := dropIOC(t, mallory, "mallory-herself.example", "clear")
	mustSync(t, mallory, q)
	if set, err := q.sets.Get(publicScope()); err != nil || set.Len() != 1 || !holds(q, own.ID()) {
		t.Fatalf("q admits %v items (%v); want only mallory's own", set.Len(), err)
	}
}

// TestBackdatedMessageListedOnArrival: a peer that dates a message an hour
// back cannot slip it in among earlier ones: a conversation lists incoming
// messages in the order they arrived, with both times shown.
func TestBackdatedMessageListedOnArrival(t *testing.T) {
	a, b := newHNode(t, 0xa1), newHNode(t, 0xa2)
	pairUp(t, a, b)
	mustSync(t, a, b)
	if _, err := b.dm.Send(a.ID(), "first"); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a, b)
	b.setSkew(-time.Hour)
	if _, err := b.dm.Send(a.ID(), "backdated"); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a, b)
	msgs, err := a.dm.List(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, m := range msgs {
		texts = append(texts, m.Text)
		if m.Received == nil {
			t.Errorf("%q has no arrival time", m.Text)
		} else if m.Text == "backdated" && m.Received.Sub(m.Created) < 59*time.Minute {
			t.Errorf("backdated: created %v, received %v; want the hour between them shown", m.Created, *m.Received)
		}
	}
	if fmt.Sprint(texts) != "[first backdated]" {
		t.Fatalf("a lists %q, want the arrival order [first backdated]", texts)
	}
}
