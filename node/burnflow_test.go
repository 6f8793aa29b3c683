package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/dm"
	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recon"
	"github.com/ghostwire/ghostwire/vault"
)

// burnPair opens two peers with vaults at the clock *now, b's key known
// to a.
func burnPair(t *testing.T, now *time.Time) (a, b *burnNode) {
	t.Helper()
	clock := func() time.Time { return *now }
	var err error
	if a, err = openBurnNode(t.TempDir(), burnSeedA, clock, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	if b, err = openBurnNode(t.TempDir(), burnSeedB, clock, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.close)
	a.AddPeer(b.id, "b")
	b.AddPeer(a.id, "a")
	deliver(t, b, a)
	return a, b
}

// TestBurnAfterRead: the recipient sees the message once, with its timer
// and who set it; then it is gone there, and from the sender once the
// receipt arrives; offered again by a sender that still holds it, it is
// not stored again.
func TestBurnAfterRead(t *testing.T) {
	now := burnT0
	a, b := burnPair(t, &now)
	sent, err := a.dm.SendTimed(b.id, "read me once", dm.Timer{AfterRead: true})
	if err != nil {
		t.Fatal(err)
	}
	if sent.Burn == nil || !sent.Burn.AfterRead || sent.Burn.TTL != "365d" || sent.Burn.SetBy != a.id.String() {
		t.Fatalf("sent message shows burn %+v", sent.Burn)
	}
	plain, _ := a.dm.Send(b.id, "an ordinary message")
	deliver(t, a, b)
	first, err := b.dm.List(nil, nil)
	if err != nil || len(first) != 2 {
		t.Fatalf("b's first listing: %d messages, %v", len(first), err)
	}
	for _, m := range first {
		switch m.ID {
		case sent.ID:
			if m.Text != "read me once" || m.Burn == nil || m.Burn.SetBy != a.id.String() || !m.Burn.Deadline.Equal(sent.Created.Add(dm.MaxTTL)) {
				t.Fatalf("b sees %q with burn %+v", m.Text, m.Burn)
			}
		case plain.ID:
			if m.Burn != nil {
				t.Fatalf("an ordinary message shows a burn timer %+v", m.Burn)
			}
		}
	}
	again, _ := b.dm.List(nil, nil)
	if len(again) != 1 || again[0].ID != plain.ID {
		t.Fatalf("b lists %d messages after reading the burnable one, want only the ordinary one", len(again))
	}
	// a has not had the receipt yet: it still offers the item; b drops it.
	deliver(t, a, b)
	if again, _ := b.dm.List(nil, nil); len(again) != 1 {
		t.Fatalf("the burnt message came back to b: %d listed", len(again))
	}
	if b.v.Used() != 0 {
		t.Fatalf("b's vault holds %d keys after the burn", b.v.Used())
	}
	deliver(t, b, a) // the receipt
	ms, _ := a.dm.List(nil, nil)
	if len(ms) != 1 || ms[0].ID != plain.ID || a.v.Used() != 0 {
		t.Fatalf("a after the receipt: %d messages listed, %d keys in its vault; want the ordinary one and none", len(ms), a.v.Used())
	}
	if set, _ := a.sets.Get(item.PairScope(a.id, b.id)); set.Contains(recon.ID(mustID(t, sent.ID))) {
		t.Fatal("a still offers the burnt message to sync")
	}
}

func mustID(t *testing.T, s string) item.ID {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != item.IDSize {
		t.Fatalf("message ID %q: %v", s, err)
	}
	return item.ID(b)
}

// TestBurnTimer: a message burns at its deadline by the node's clock,
// unread, on both sides; one that arrives after its deadline is refused.
func TestBurnTimer(t *testing.T) {
	now := burnT0
	a, b := burnPair(t, &now)
	m, err := a.dm.SendTimed(b.id, "ten minutes", dm.Timer{TTL: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	deliver(t, a, b)
	now = burnT0.Add(9 * time.Minute)
	if next := b.dm.BurnDue(); !next.Equal(m.Created.Add(10 * time.Minute)) {
		t.Fatalf("next burn at %v, want the ten-minute message's deadline", next)
	}
	if ms, _ := b.dm.List(nil, nil); len(ms) != 1 || ms[0].Burn.TTL != "10m" {
		t.Fatalf("b at 9 minutes lists %d messages; want the ten-minute one", len(ms))
	}
	now = burnT0.Add(10*time.Minute + time.Millisecond)
	for _, n := range []*burnNode{a, b} {
		n.dm.BurnDue()
		if ms, _ := n.dm.List(nil, nil); len(ms) != 0 || n.v.Used() != 0 {
			t.Fatalf("%s after the deadline: %d listed, %d keys", n.id.Short(), len(ms), n.v.Used())
		}
	}
	// A message whose deadline passed before it arrived is refused.
	now = burnT0
	c, err := a.dm.SendTimed(b.id, "arrives late", dm.Timer{TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	now = burnT0.Add(2 * time.Minute)
	raw, _ := a.db.ScopeItem(item.PairScope(a.id, b.id), mustID(t, c.ID))
	refused, err := syncStore{b.Node}.Accept(a.id, item.PairScope(a.id, b.id), [][]byte{raw})
	if err != nil || len(refused) != 1 {
		t.Fatalf("a message past its deadline: refused %d, %v", len(refused), err)
	}
}

// TestBurnBadInput: a TTL outside the range, a timer changed after
// signing, a node without a vault, and a damaged vault slot; each is a
// clear error or a refusal, and nothing else is lost.
func TestBurnBadInput(t *testing.T) {
	now := burnT0
	a, b := burnPair(t, &now)
	for _, tm := range []dm.Timer{{TTL: 30 * time.Second}, {TTL: 366 * 24 * time.Hour}, {AfterRead: true, TTL: time.Second}} {
		_, err := a.dm.SendTimed(b.id, "x", tm)
		if fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), "1m to 365d") {
			t.Errorf("timer %+v: %v, want an invalid-request error naming the range", tm, err)
		}
	}
	if ms, _ := a.dm.List(nil, nil); len(ms) != 0 {
		t.Fatalf("refused sends stored %d messages", len(ms))
	}

	// A forged change of the flag: the payload's after-read byte flipped
	// in the signed bytes. The item no longer verifies; nothing is stored.
	m, err := a.dm.SendTimed(b.id, "ttl only", dm.Timer{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	sc := item.PairScope(a.id, b.id)
	raw, _ := a.db.ScopeItem(sc, mustID(t, m.ID))
	// {1: 3600, 3: …} → {1: 3600, 2: true, …} cannot be made in place;
	// lowering the TTL (3600 → 60, same length in CBOR) is the same forgery.
	forged := bytes.Replace(raw, []byte{0x01, 0x19, 0x0e, 0x10}, []byte{0x01, 0x19, 0x00, 0x3c}, 1)
	if bytes.Equal(forged, raw) {
		t.Fatal("test bug: the TTL's encoding was not found in the item")
	}
	refused, err := syncStore{b.Node}.Accept(a.id, sc, [][]byte{forged})
	if err == nil && len(refused) != 1 {
		t.Fatalf("a forged timer was accepted (refused %d)", len(refused))
	}
	// The after-read flag turned off (true → false) in a message that has it.
	ar, err := a.dm.SendTimed(b.id, "after read", dm.Timer{AfterRead: true, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = a.db.ScopeItem(sc, mustID(t, ar.ID))
	forged = bytes.Replace(raw, []byte{0x02, 0xf5, 0x03}, []byte{0x02, 0xf4, 0x03}, 1)
	if bytes.Equal(forged, raw) {
		t.Fatal("test bug: the after-read flag was not found in the item")
	}
	refused, err = syncStore{b.Node}.Accept(a.id, sc, [][]byte{forged})
	if err == nil && len(refused) != 1 {
		t.Fatalf("a forged after-read flag was accepted (refused %d)", len(refused))
	}
	if ms, _ := b.dm.List(nil, nil); len(ms) != 0 {
		t.Fatalf("a forged timer was stored: %d messages", len(ms))
	}

	// A node without a vault refuses to send, and refuses to keep, them.
	plainNode, _ := bareNode(t, 0xc1, func() time.Time { return now })
	plainNode.AddPeer(a.id, "a")
	if _, err := plainNode.dm.SendTimed(a.id, "x", dm.Timer{AfterRead: true}); fault.KindOf(err) != fault.Invalid {
		t.Fatalf("send without a vault: %v", err)
	}

	// A damaged slot costs its own message only.
	if _, err := a.dm.SendTimed(b.id, "kept", dm.Timer{TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	a.close()
	p := filepath.Join(a.dir, "vault")
	raw, _ = os.ReadFile(p)
	raw[vault.HeaderSize+30] ^= 0xff // slot 0: the first message
	os.WriteFile(p, raw, 0o600)
	a2, err := openBurnNode(a.dir, burnSeedA, func() time.Time { return now }, true)
	if err != nil {
		t.Fatalf("a damaged slot stopped the node: %v", err)
	}
	defer a2.close()
	ms, err := a2.dm.List(nil, nil)
	if err != nil || len(ms) != 2 || ms[0].Text == "ttl only" || ms[1].Text == "ttl only" {
		t.Fatalf("after damaging the first message's slot: %d messages, %v; want the other two", len(ms), err)
	}
	if a2.v.Used() != 2 {
		t.Fatalf("the vault holds %d keys after the start-up sweep, want 2: the damaged slot is zeroed", a2.v.Used())
	}
	// The header damaged: a clear error, and the store is untouched.
	a2.close()
	raw, _ = os.ReadFile(p)
	raw[0] = 'X'
	os.WriteFile(p, raw, 0o600)
	if _, err := vault.Open(p, bytes.Repeat([]byte{1}, 32), rand.Reader); err == nil || !strings.Contains(err.Error(), "not a vault file") {
		t.Fatalf("a damaged header: %v", err)
	}
}

// TestBurnLoop: a running node burns a message when its clock passes the
// deadline (the loop wakes on the next stored change, or at the deadline
// by its own timer), and Run still returns promptly when stopped.
func TestBurnLoop(t *testing.T) {
	var clock atomic.Int64
	clock.Store(burnT0.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	a, err := openBurnNode(t.TempDir(), burnSeedA, now, true)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	b, err := openBurnNode(t.TempDir(), burnSeedB, now, true)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	a.AddPeer(b.id, "b")
	b.AddPeer(a.id, "a")
	deliver(t, b, a)
	if _, err := a.dm.SendTimed(b.id, "one minute", dm.Timer{TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	clock.Store(burnT0.Add(time.Minute + time.Millisecond).UnixNano())
	a.notifyChanged()
	for i := 0; a.v.Used() != 0; i++ {
		if i == 1000 {
			t.Fatal("the running node did not burn the message past its deadline within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if ms, _ := a.dm.List(nil, nil); len(ms) != 0 {
		t.Fatalf("%d messages listed after the burn", len(ms))
	}
}
