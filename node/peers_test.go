package node

import (
	"bytes"
	"testing"

	"github.com/ghostwire/ghostwire/identity"
)

// TestAddPeerNameRace: peers added at once under one name: exactly one gets
// it, every other is refused, and the name lists one peer.
func TestAddPeerNameRace(t *testing.T) {
	n, _ := bareNode(t, 0x71, nil)
	const racers = 8
	errs := make(chan error, racers)
	for i := range racers {
		k, err := identity.NewKeyFromSeed(bytes.Repeat([]byte{0x80 + byte(i)}, 32))
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			_, err := n.AddPeer(k.ID(), "carol")
			errs <- err
		}()
	}
	ok := 0
	for range racers {
		if err := <-errs; err == nil {
			ok++
		}
	}
	peers, err := n.Peers()
	if err != nil {
		t.Fatal(err)
	}
	named := 0
	for _, p := range peers {
		if p.Name == "carol" {
			named++
		}
	}
	if ok != 1 || named != 1 {
		t.Fatalf("%d of %d adds succeeded and %d peers are named carol; want 1 and 1", ok, racers, named)
	}
}
