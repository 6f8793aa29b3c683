package room

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
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
