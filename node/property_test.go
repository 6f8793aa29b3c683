package node

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ghostwire/ghostwire/collection"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
)

// TestSyncProperty (issue 20): for random peerings, items, retractions and
// a hostile peer that forges tombstones naming every item it knows of and
// plants items in scopes they do not belong to, every session completes, no
// session ever hands a node an item outside what it may see, and every
// honest item reaches every honest node that may see it (a retracted one
// none). Real nodes, badger stores and sessions over 127.0.0.1.
func TestSyncProperty(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4}
	if *propSeeds > 0 {
		seeds = nil
		for i := range *propSeeds {
			seeds = append(seeds, uint64(100+i))
		}
	}
	if testing.Short() {
		seeds = seeds[:1]
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) { syncProperty(t, seed) })
	}
}

// propRun is one run's nodes and what the honest ones made.
type propRun struct {
	t       *testing.T
	r       *rand.Rand
	nodes   []*hnode // the last one is hostile
	edges   [][2]int // who dials whom
	made    []madeItem
	retired map[item.ID]bool // retracted by their authors
}

// madeItem is an item an honest node made, and who may see it.
type madeItem struct {
	it       *item.Item
	audience []int // the honest nodes that may hold it; nil: every node
}

const propHonest = 4

var propSeeds = flag.Int("prop.seeds", 0, "run TestSyncProperty with this many seeds (from 100) instead of its four")

func syncProperty(t *testing.T, seed uint64) {
	p := &propRun{t: t, r: rand.New(rand.NewPCG(seed, 0x6a05)), retired: map[item.ID]bool{}}
	for i := range propHonest + 1 {
		p.nodes = append(p.nodes, newHNode(t, byte(0xc0+i)))
	}
	hostile := propHonest
	// A ring of honest nodes (so every honest item has an honest path),
	// chords at random, and the hostile node peered with most of them.
	link := func(a, b int) {
		pairUp(t, p.nodes[a], p.nodes[b])
		p.edges = append(p.edges, [2]int{a, b})
	}
	for i := range propHonest {
		link(i, (i+1)%propHonest)
	}
	if p.r.IntN(2) == 0 {
		link(0, 2)
	}
	for i := range propHonest {
		if p.r.IntN(4) != 0 {
			link(hostile, i)
		}
	}
	p.syncAll() // recipient keys
	for range 12 {
		p.act()
	}
	p.attack()
	for range propHonest + 1 {
		p.syncAll()
	}
	p.check()
}

func (p *propRun) peered(a, b int) bool {
	return slices.ContainsFunc(p.edges, func(e [2]int) bool { return e == [2]int{a, b} || e == [2]int{b, a} })
}

// act has a random honest node make something: an indicator (CLEAR,
// GREEN, or AMBER to a peer), a direct message to a peer, or a retraction.
func (p *propRun) act() {
	t, r := p.t, p.r
	a := r.IntN(propHonest)
	h := p.nodes[a]
	var peers []int
	for b := range propHonest {
		if b != a && p.peered(a, b) {
			peers = append(peers, b)
		}
	}
	b := peers[r.IntN(len(peers))]
	switch r.IntN(5) {
	case 0, 1:
		tlp := []string{"clear", "green"}[r.IntN(2)]
		p.made = append(p.made, madeItem{it: dropIOC(t, h, fmt.Sprintf("p%d-%d.example", a, len(p.made)), tlp)})
	case 2:
		it := dropIOC(t, h, fmt.Sprintf("amber%d-%d.example", a, len(p.made)), "amber", p.nodes[b].ID().String())
		p.made = append(p.made, madeItem{it: it, audience: []int{a, b}})
	case 3:
		m, err := h.dm.Send(p.nodes[b].ID(), fmt.Sprintf("dm %d", len(p.made)))
		if err != nil {
			t.Fatal(err)
		}
		p.made = append(p.made, madeItem{it: storedItem(t, h, m.ID), audience: []int{a, b}})
	case 4:
		for _, m := range p.made {
			if m.it.Author() == h.ID() && m.it.Kind() == item.KindIOC && !p.retired[m.it.ID()] {
				if _, err := h.coll.Retract(m.it.ID().String()); err != nil {
					t.Fatal(err)
				}
				p.retired[m.it.ID()] = true
				break
			}
		}
	}
}

// attack has the hostile node forge a tombstone for every item made, in
// the target's space and in the default collection, and plant each in
// every scope it shares with a peer; and plant every item it holds in
// every such scope.
func (p *propRun) attack() {
	t := p.t
	m := p.nodes[propHonest]
	var scopes []item.Scope
	for i := range propHonest {
		if p.peered(propHonest, i) {
			scopes = append(scopes, m.scopesFor(p.nodes[i].ID())...)
		}
	}
	for k, x := range p.made {
		for _, sp := range []item.Space{x.it.Space(), item.CollectionSpace(collection.Default)} {
			plant(t, m, forgeTombstone(t, x.it.ID(), sp, byte(k)), scopes...)
		}
		if holds(m, x.it.ID()) {
			plant(t, m, x.it, scopes...)
		}
	}
}

// syncAll runs one session over every edge, in a random order. Every one
// must complete, and everything received must be the receiver's to see.
func (p *propRun) syncAll() {
	for _, k := range p.r.Perm(len(p.edges)) {
		e := p.edges[k]
		a, b := p.nodes[e[0]], p.nodes[e[1]]
		res := syncOnce(p.t, a, b)
		if res.err != nil {
			p.t.Fatalf("session %d → %d: %v", e[0], e[1], res.err)
		}
		// What the hostile node sends is its own affair (it may send
		// anything; the receiver checks it); what honest nodes send is
		// checked here.
		if e[1] != propHonest {
			p.checkSeen(e[0], e[1], res.gotA)
		}
		if e[0] != propHonest {
			p.checkSeen(e[1], e[0], res.gotB)
		}
	}
}

// checkSeen fails the test if node at received from node from an item
// that at may not see, or in a scope it does not belong to.
func (p *propRun) checkSeen(at, from int, got []received) {
	t := p.t
	checkPlacement(t, p.nodes[at], p.nodes[from].ID(), got)
	for _, r := range got {
		if !p.maySee(at, r.it) {
			t.Errorf("node %d was sent kind %d item %s by node %d, which it may not see", at, r.it.Kind(), r.it.ID().String()[:8], from)
		}
	}
}

// maySee is the oracle: what node k may hold, by the rules of §10.1 and
// docs/ioc.md, computed from the items themselves.
func (p *propRun) maySee(k int, it *item.Item) bool {
	me := p.nodes[k].ID()
	switch it.Kind() {
	case item.KindMessage, item.KindReceipt:
		return p.partyOf(me, it.Space())
	case item.KindRecipientKey:
		return true // a public key, certified; pair scopes carry the pair's own
	case item.KindIOCSealed:
		ids, err := recipient.Recipients(it.Payload())
		return err == nil && (it.Author() == me || slices.Contains(ids, me))
	}
	return true // CLEAR and GREEN indicators (every node here is a peer of its neighbours), tombstones
}

// partyOf reports whether id is one of the two parties of a direct space.
func (p *propRun) partyOf(id identity.ID, sp item.Space) bool {
	for _, o := range p.nodes {
		if item.DirectSpace(id, o.ID()) == sp {
			return true
		}
	}
	return false
}

// check: every honest item is held by the honest nodes that may see it,
// unless retracted, in which case by none.
func (p *propRun) check() {
	t := p.t
	for _, x := range p.made {
		for k := range propHonest {
			want := (x.audience == nil || slices.Contains(x.audience, k)) && !p.retired[x.it.ID()]
			if got := holds(p.nodes[k], x.it.ID()); got != want {
				t.Errorf("node %d holds kind %d item %s: %v, want %v (retracted %v)", k, x.it.Kind(), x.it.ID().String()[:8], got, want, p.retired[x.it.ID()])
			}
		}
	}
}
