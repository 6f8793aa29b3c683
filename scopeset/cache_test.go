package scopeset

import (
	"slices"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recon"
)

// TestScopeSetsWork drives the cache alone, with a build that counts its
// calls: sessions asking at once share one build; IDs indexed during it
// reach the next set; an expiry removes its ID without a new build; a clock
// set back makes one.
func TestScopeSetsWork(t *testing.T) {
	c := cache{m: map[item.Scope]*entry{}}
	sc := item.Scope{1}
	id := func(b byte) recon.ID { return recon.ID{b} }
	t0 := time.Unix(1_800_000_000, 0)
	builds := 0
	release := make(chan struct{})
	build := func() ([]recon.ID, []item.Expiry, error) {
		builds++
		<-release
		return []recon.ID{id(1), id(2), id(3)}, []item.Expiry{{ID: item.ID(id(3)), Until: t0.Add(time.Hour)}}, nil
	}
	const sessions = 4
	sets := make(chan *recon.MemSet, sessions)
	for range sessions {
		go func() {
			s, err := c.get(sc, t0, build)
			if err != nil {
				t.Error(err)
			}
			sets <- s
		}()
	}
	for { // wait until the first session is building
		c.mu.Lock()
		e := c.m[sc]
		building := e != nil && e.busy != nil
		c.mu.Unlock()
		if building {
			break
		}
		time.Sleep(time.Millisecond)
	}
	c.Indexed(sc, []item.ID{item.ID(id(4))}) // committed during the build
	c.expiring([]item.Expiry{{ID: item.ID(id(4)), Until: t0.Add(2 * time.Hour)}})
	close(release)
	for range sessions {
		if s := <-sets; s == nil || s.Len() < 3 {
			t.Fatalf("a session got %v", s)
		}
	}
	if builds != 1 {
		t.Fatalf("%d sessions asking at once made %d builds, want 1", sessions, builds)
	}
	ids := func(at time.Time) []recon.ID {
		s, err := c.get(sc, at, build)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Collect(s.All())
	}
	if got := ids(t0); !slices.Equal(got, []recon.ID{id(1), id(2), id(3), id(4)}) {
		t.Fatalf("after the build: %x", got)
	}
	if got := ids(t0.Add(time.Hour)); !slices.Equal(got, []recon.ID{id(1), id(2), id(4)}) || builds != 1 {
		t.Fatalf("after the first expiry: %x, %d builds", got, builds)
	}
	if got := ids(t0.Add(3 * time.Hour)); !slices.Equal(got, []recon.ID{id(1), id(2)}) || builds != 1 {
		t.Fatalf("after the second expiry: %x, %d builds", got, builds)
	}
	if got := ids(t0); builds != 2 || !slices.Equal(got, []recon.ID{id(1), id(2), id(3)}) {
		t.Fatalf("clock set back: %x, %d builds; want a new build", got, builds)
	}
}
