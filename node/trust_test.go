package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/cloak"
	"github.com/ghostwire/ghostwire/contacts"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/syncproto"
)

// Contact states and requests (issue 18), on running nodes whose sessions go
// over 127.0.0.1 with the real handshake and channel. The same refusals on
// the private Tor network are in cmd/ghostwire's end-to-end test.

// mesh is where the test nodes' listeners are, by identity.
type mesh struct {
	mu    sync.Mutex
	addrs map[identity.ID]string
}

// meshTransport listens on 127.0.0.1 and dials the other nodes of its mesh
// there, counting, per peer, the dials and the bytes its dialled
// connections read (what the peer sent us).
type meshTransport struct {
	unusedTransport
	m    *mesh
	self identity.ID
	mu   sync.Mutex
	dial map[identity.ID]int
	read map[identity.ID]*atomic.Int64
}

func (t *meshTransport) Listen(_ context.Context, key *identity.PrivateKey) (cloak.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t.m.mu.Lock()
	t.m.addrs[key.ID()] = ln.Addr().String()
	t.m.mu.Unlock()
	return loopListener{ln}, nil
}

func (t *meshTransport) Dial(ctx context.Context, peer identity.ID) (net.Conn, error) {
	t.m.mu.Lock()
	addr, ok := t.m.addrs[peer]
	t.m.mu.Unlock()
	if !ok {
		return nil, errors.New("test mesh: peer not listening yet")
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.dial[peer]++
	if t.read[peer] == nil {
		t.read[peer] = new(atomic.Int64)
	}
	n := t.read[peer]
	t.mu.Unlock()
	return &countingConn{Conn: c, read: n}, nil
}

func (t *meshTransport) Status() cloak.Status {
	return cloak.Status{Mode: "test", Ready: true, Reachable: true}
}

func (t *meshTransport) dials(peer identity.ID) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dial[peer]
}

// countingConn counts the bytes read from it.
type countingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// meshNode is a running test node.
type meshNode struct {
	*hnode
	tr *meshTransport
}

// startMesh runs one node per seed on a shared mesh until the test ends.
func startMesh(t *testing.T, seeds ...byte) []*meshNode {
	t.Helper()
	m := &mesh{addrs: map[identity.ID]string{}}
	var out []*meshNode
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, s := range seeds {
		tr := &meshTransport{m: m, dial: map[identity.ID]int{}, read: map[identity.ID]*atomic.Int64{}}
		h := newHNode(t, s, func(c *Config) { c.Transport = tr; c.RedialInterval = time.Hour })
		tr.self = h.ID()
		out = append(out, &meshNode{hnode: h, tr: tr})
	}
	for _, n := range out {
		wg.Add(1)
		go func() { defer wg.Done(); n.Run(ctx) }()
	}
	return out
}

// eventually polls cond every 50 ms for up to 20 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting until %s", what)
}

// messages lists h's messages with peer, explained as the API shows them.
func messages(t *testing.T, h *hnode, peer identity.ID) []*Message {
	t.Helper()
	ms, err := h.dm.List(&peer, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.ExplainQueued(ms...)
	return ms
}

func hasMessage(ms []*Message, dir, text string) bool {
	for _, m := range ms {
		if m.Direction == dir && m.Text == text {
			return true
		}
	}
	return false
}

// handshakeBytes is what a responder sends before any record of the
// channel: messages 2 and 3 (docs/protocol.md §3.3.2, §3.3.3).
const handshakeBytes = 1136 + 125

// TestBlockedPeerRefusedAtHandshake: once a blocks b, b's dials end at the
// handshake with a typed error at a (contacts.RefusedError, "blocked", then
// "revoked" once b is marked revoked), b reads nothing past the handshake,
// a never dials b, a message b sends never arrives, and a's status says
// why. b's queued message reads "waiting for them to accept": a blocked
// sender learns no more than one whose request is pending.
func TestBlockedPeerRefusedAtHandshake(t *testing.T) {
	ns := startMesh(t, 0xA1, 0xA2)
	a, b := ns[0], ns[1]
	pairUp(t, a.hnode, b.hnode)
	if _, err := a.dm.Send(b.ID(), "before the block"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b has a's first message", func() bool { return hasMessage(messages(t, b.hnode, a.ID()), "in", "before the block") })

	if _, err := a.BlockPeer(b.ID()); err != nil {
		t.Fatal(err)
	}
	itemsBefore, _ := a.db.CountItems()
	dialsBefore := a.tr.dials(b.ID())
	b.tr.mu.Lock()
	readBefore := b.tr.read[a.ID()].Load()
	b.tr.mu.Unlock()
	if _, err := b.dm.Send(a.ID(), "after the block"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a refused b at the handshake", func() bool {
		st, _ := a.Status()
		return len(st.Contacts.Refused) == 1 && st.Contacts.Refused[0].State == "blocked" && st.Contacts.Refused[0].Peer == b.ID().String()
	})
	eventually(t, "b's message says it waits for acceptance", func() bool {
		for _, m := range messages(t, b.hnode, a.ID()) {
			if m.Text == "after the block" {
				return m.State == StateQueued && m.Waiting == WaitingAccept
			}
		}
		return false
	})
	// b's dials after the block: each read at most the handshake.
	b.tr.mu.Lock()
	dials, read := b.tr.dial[a.ID()], b.tr.read[a.ID()].Load()-readBefore
	b.tr.mu.Unlock()
	if read > int64(dials)*handshakeBytes {
		t.Fatalf("b read %d bytes from a over %d dials since the block; at most %d (the handshake) each", read, dials, handshakeBytes)
	}
	a.urge(b.ID()) // would make the dialer dial it at once, if it dialled blocked peers
	time.Sleep(time.Second)
	if d := a.tr.dials(b.ID()) - dialsBefore; d != 0 {
		t.Fatalf("a dialled blocked b %d times", d)
	}
	var re *contacts.RefusedError
	if err := a.dialPeer(context.Background(), b.ID()); !errors.As(err, &re) || re.State != contacts.Blocked {
		t.Fatalf("dialling a blocked peer: %v; want a RefusedError before any dial", err)
	}
	if hasMessage(messages(t, a.hnode, b.ID()), "in", "after the block") {
		t.Fatal("a blocked peer's message arrived")
	}
	if n, _ := a.db.CountItems(); n != itemsBefore {
		t.Fatalf("a stored %d items while b was blocked", n-itemsBefore)
	}

	// The typed error itself, from one handshake: b dialling a.
	res := syncOnce(t, b.hnode, a.hnode)
	if !errors.As(res.err, &re) || re.State != contacts.Blocked || len(res.gotA) != 0 || len(res.gotB) != 0 {
		t.Fatalf("b → a while blocked: %v, %d and %d items; want a RefusedError and no items", res.err, len(res.gotA), len(res.gotB))
	}
	var he *syncproto.HandshakeError
	if !errors.As(res.err, &he) || he.Stage != syncproto.StageAuthorize {
		t.Fatalf("b → a while blocked: %v; want a handshake error at %q", res.err, syncproto.StageAuthorize)
	}

	// Revoked: refused the same way, named as such, and never unblocked.
	if err := a.contacts.Revoke(b.ID()); err != nil {
		t.Fatal(err)
	}
	res = syncOnce(t, b.hnode, a.hnode)
	if !errors.As(res.err, &re) || re.State != contacts.Revoked {
		t.Fatalf("b → a once revoked: %v; want a RefusedError naming revoked", res.err)
	}
	if _, err := a.UnblockPeer(b.ID()); err == nil {
		t.Fatal("a revoked peer was unblocked")
	}
	if err := a.Refused(b.ID()); err == nil {
		t.Fatal("a message to a revoked peer would be queued")
	}
}

// TestUnblockRestoresSessions: unblocking makes the peer unverified and
// syncing again.
func TestUnblockRestoresSessions(t *testing.T) {
	a, b := newHNode(t, 0xA5), newHNode(t, 0xA6)
	pairUp(t, a, b)
	if _, err := a.BlockPeer(b.ID()); err != nil {
		t.Fatal(err)
	}
	if res := syncOnce(t, b, a); res.err == nil {
		t.Fatal("a blocked peer's session completed")
	}
	p, err := a.UnblockPeer(b.ID())
	if err != nil || p.State != "unverified" {
		t.Fatalf("unblock: %+v, %v", p, err)
	}
	mustSync(t, a, b)
	mustSync(t, b, a)
}

// TestContactRequestAccepted: a adds b and writes; b has not added a. b
// keeps a request (with the safety number) and nothing else; a's message
// says it waits for acceptance. Once b accepts, the message arrives and is
// delivered.
func TestContactRequestAccepted(t *testing.T) {
	ns := startMesh(t, 0xB1, 0xB2)
	a, b := ns[0], ns[1]
	itemsBefore, _ := b.db.CountItems()
	if _, err := a.AddPeer(b.ID(), "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.dm.Send(b.ID(), "hello, it is a"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b holds a's request", func() bool {
		rs, _ := b.Requests()
		return len(rs) == 1 && rs[0].Onion == a.ID().String() && rs[0].SafetyNumber == identity.SafetyNumber(a.ID(), b.ID())
	})
	eventually(t, "a's message waits for acceptance", func() bool {
		ms := messages(t, a.hnode, b.ID())
		return len(ms) == 1 && ms[0].Waiting == WaitingAccept
	})
	if n, _ := b.db.CountItems(); n != itemsBefore {
		t.Fatalf("b stored %d items from a peer it has not accepted", n-itemsBefore)
	}
	if st, _ := b.Status(); st.Contacts.Requests != 1 {
		t.Fatalf("b's status: %d requests; want 1", st.Contacts.Requests)
	}

	p, err := b.AcceptRequest(a.ID(), "a")
	if err != nil || p.State != "unverified" {
		t.Fatalf("accept: %+v, %v", p, err)
	}
	eventually(t, "b has a's message", func() bool { return hasMessage(messages(t, b.hnode, a.ID()), "in", "hello, it is a") })
	eventually(t, "a's message is delivered", func() bool {
		ms := messages(t, a.hnode, b.ID())
		return len(ms) == 1 && ms[0].State != StateQueued && ms[0].Waiting == ""
	})
	if rs, _ := b.Requests(); len(rs) != 0 {
		t.Fatalf("%d requests left after accepting", len(rs))
	}
}

// TestContactRequestIgnoredAndCapped: an ignored request is dropped and the
// peer's next handshakes store nothing; strangers past the cap and the
// rate are dropped and counted in status.
func TestContactRequestIgnoredAndCapped(t *testing.T) {
	b := newHNode(t, 0xC0)
	b.contacts.SetRequestLimits(contacts.RequestLimits{Max: 3, Burst: 2, Every: time.Hour})
	itemsBefore, _ := b.db.CountItems()
	var strangers []*hnode
	for i := range 4 {
		s := newHNode(t, 0xC1+byte(i))
		if _, err := s.AddPeer(b.ID(), ""); err != nil {
			t.Fatal(err)
		}
		if _, err := s.dm.Send(b.ID(), fmt.Sprintf("hello from %d", i)); err != nil {
			t.Fatal(err)
		}
		strangers = append(strangers, s)
	}
	for _, s := range strangers {
		if res := syncOnce(t, s, b); !errors.Is(res.err, contacts.ErrNotContact) && !errors.Is(res.err, contacts.ErrRequestRate) {
			t.Fatalf("a stranger's session: %v; want a refusal", res.err)
		}
	}
	rs, _ := b.Requests()
	st, _ := b.Status()
	if len(rs) != 2 || st.Contacts.Requests != 2 || st.Contacts.RequestsDropped != 2 {
		t.Fatalf("after 4 strangers with a burst of 2: %d requests, status %+v; want 2 kept, 2 dropped", len(rs), st.Contacts)
	}
	ignored := rs[0].Onion
	id, _ := identity.ParseID(ignored)
	if err := b.IgnoreRequest(id); err != nil {
		t.Fatal(err)
	}
	for _, s := range strangers {
		if s.ID() == id {
			if res := syncOnce(t, s, b); !errors.Is(res.err, contacts.ErrIgnored) {
				t.Fatalf("an ignored peer's session: %v; want ErrIgnored", res.err)
			}
		}
	}
	if rs, _ := b.Requests(); len(rs) != 1 {
		t.Fatalf("after ignoring one: %d requests; want 1", len(rs))
	}
	if n, _ := b.db.CountItems(); n != itemsBefore {
		t.Fatalf("b stored %d items from strangers", n-itemsBefore)
	}
}

// TestVerifyPeer: a wrong safety number is refused, the right one (in any
// spacing) verifies, and verified contacts are the pre-trusted set.
func TestVerifyPeer(t *testing.T) {
	a := newHNode(t, 0xD1)
	b := hnodeID(t, 0xD2)
	if _, err := a.AddPeer(b, "b"); err != nil {
		t.Fatal(err)
	}
	sn := identity.SafetyNumber(a.ID(), b)
	wrong := []byte(sn)
	wrong[0] = '0' + (wrong[0]-'0'+1)%10
	if _, err := a.VerifyPeer(b, string(wrong)); err == nil {
		t.Fatal("a wrong safety number verified the peer")
	}
	if got := a.VerifiedContacts(); len(got) != 0 {
		t.Fatalf("verified after a refusal: %v", got)
	}
	p, err := a.VerifyPeer(b, "  "+sn[:5]+sn[6:]+" ")
	if err != nil || p.State != "verified" || p.VerifiedAt == nil {
		t.Fatalf("verify: %+v, %v", p, err)
	}
	if got := a.VerifiedContacts(); len(got) != 1 || got[0] != b {
		t.Fatalf("VerifiedContacts = %v; want b", got)
	}
	if _, err := a.VerifyPeer(hnodeID(t, 0xD3), ""); err == nil {
		t.Fatal("verified a stranger")
	}
	if _, err := a.BlockPeer(b); err != nil {
		t.Fatal(err)
	}
	if _, err := a.VerifyPeer(b, sn); err == nil {
		t.Fatal("verifying a blocked peer unblocked it")
	}
	if got := a.VerifiedContacts(); len(got) != 0 {
		t.Fatalf("a blocked peer is still in the pre-trusted set: %v", got)
	}
}
