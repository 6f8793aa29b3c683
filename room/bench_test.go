package room

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/wire"
)

// BenchmarkRekey measures what removing one member costs the owner at 10,
// 100 and 1,000 members: the bytes of the rekey (the state item and its key
// parts) and the CPU to make it, printed beside the naive reference, in
// which the owner sends the new key to each remaining member as a separate
// sealed direct message (one item per member, sealed to the member and to
// the owner as dm does).
func BenchmarkRekey(b *testing.B) {
	owner, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	ork, _ := recipient.Derive(owner)
	for _, n := range []int{10, 100, 1000} {
		members, pubs := []identity.ID{owner.ID()}, []*recipient.PublicKey{ork.Public()}
		for len(members) < n {
			k, _ := identity.GenerateKey(rand.Reader)
			rk, _ := recipient.Derive(k)
			members, pubs = append(members, k.ID()), append(pubs, rk.Public())
		}
		nonce := make([]byte, NonceSize)
		r := &record{space: Space(owner.ID(), nonce), owner: owner.ID(), nonce: nonce, name: "bench"}
		// The removal: the last member goes, the others get the new key.
		removed, members, pubs := members[n-1:], members[:n-1], pubs[:n-1]
		b.Run(fmt.Sprintf("members=%d/room", n), func(b *testing.B) {
			var size, items int
			for b.Loop() {
				st, parts, _, err := makeState(owner, rand.Reader, r, 1, members, pubs, removed, 0, time.Now())
				if err != nil {
					b.Fatal(err)
				}
				size, items = st.Size(), 1+len(parts)
				for _, p := range parts {
					size += p.Size()
				}
			}
			b.ReportMetric(float64(size), "bytes/rekey")
			b.ReportMetric(float64(items), "items/rekey")
		})
		b.Run(fmt.Sprintf("members=%d/naive-dm", n), func(b *testing.B) {
			var size, items int
			for b.Loop() {
				size, items = 0, 0
				key := make([]byte, KeySize)
				rand.Read(key)
				for i, id := range members[1:] {
					body, _ := wire.Marshal(wireBody{Text: string(key)})
					sp := item.DirectSpace(owner.ID(), id)
					sealed, err := recipient.Seal(rand.Reader, body, sp[:], []*recipient.PublicKey{pubs[i+1], ork.Public()})
					if err != nil {
						b.Fatal(err)
					}
					it, err := item.New(owner, item.KindMessage, sp, time.Now(), sealed)
					if err != nil {
						b.Fatal(err)
					}
					size, items = size+it.Size(), items+1
				}
			}
			b.ReportMetric(float64(size), "bytes/rekey")
			b.ReportMetric(float64(items), "items/rekey")
		})
	}
}

// BenchmarkRoomFrame prints what admitting one received room frame costs
// at 100 members (docs/protocol.md §13.3): Check for the room's scope,
// then its test on one new message. The room grew one invitation at a
// time (100 epochs, 99 joins) and holds 500 messages. "rebuilt" is how
// Check worked before the admission cache, reading and decoding the
// whole room from the store for every frame; "cached" is Check now. The
// figure is CPU per frame (ns/op on an idle machine; compare user+sys
// under load) and allocations.
func BenchmarkRoomFrame(b *testing.B) {
	w := newWorld(b)
	owner := w.node()
	defer owner.close()
	sp := space(b, mustB(b)(owner.svc.Create("bench", 0)))
	var keys []*identity.PrivateKey
	for range 99 {
		k, _ := identity.GenerateKey(rand.Reader)
		rk, _ := recipient.Derive(k)
		w.keys[k.ID()] = rk.Public()
		keys = append(keys, k)
		mustB(b)(owner.svc.Invite(sp, k.ID()))
	}
	cur := func() *model {
		r, _ := owner.svc.record(sp)
		m, err := owner.svc.load(r)
		if err != nil {
			b.Fatal(err)
		}
		return m
	}
	var joins []*item.Item
	m := cur()
	for _, k := range keys {
		payload, _ := wire.Marshal(wireMark{Epoch: m.since(k.ID())})
		it, _ := item.New(k, KindJoin, sp, w.now, payload)
		joins = append(joins, it)
	}
	if n := owner.deliver(keys[0].ID(), Scope(sp), joins); n != len(joins) {
		b.Fatalf("%d of %d joins stored", n, len(joins))
	}
	for i := range 500 {
		if _, err := owner.svc.Send(sp, fmt.Sprintf("message %d", i), Timer{}); err != nil {
			b.Fatal(err)
		}
	}
	// The frame: one message from a member, under the current epoch.
	m = cur()
	epoch := m.current().epoch
	key, err := owner.svc.epochKey(m, epoch)
	if err != nil {
		b.Fatal(err)
	}
	author := keys[42]
	body, _ := wire.Marshal(wireBody{Text: "a new message"})
	nonce, ct, err := sealBody(rand.Reader, key, sp, author.ID(), epoch, body)
	if err != nil {
		b.Fatal(err)
	}
	payload, _ := wire.Marshal(wireMessage{Epoch: epoch, Nonce: nonce, Ciphertext: ct})
	frame, err := item.New(author, KindMessage, sp, w.now, payload)
	if err != nil {
		b.Fatal(err)
	}
	peer := keys[7].ID()
	b.Run("members=100/rebuilt", func(b *testing.B) {
		for b.Loop() {
			r, err := owner.svc.record(sp)
			if err != nil {
				b.Fatal(err)
			}
			m, err := owner.svc.load(r)
			if err != nil || m.add(frame) != nil {
				b.Fatal("the frame is refused")
			}
		}
	})
	b.Run("members=100/cached", func(b *testing.B) {
		for b.Loop() {
			if !owner.svc.Check(peer, Scope(sp))(frame) {
				b.Fatal("the frame is refused")
			}
		}
	})
}

// mustB is must for benchmarks.
func mustB(b *testing.B) func(*apitype.Room, error) *apitype.Room {
	return func(r *apitype.Room, err error) *apitype.Room {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
}
