package node

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/cloak"
	"github.com/ghostwire/ghostwire/collection"
	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/ioc"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/store"
)

// testNode runs a node whose transport never comes up (unusedTransport), so
// the node is in the "transport unavailable" state the whole time. (localapi's tests run one with its
// API.)
type testNode struct {
	n      *Node
	db     *store.DB
	cancel context.CancelFunc
	done   chan error
}

func startTestNode(t testing.TB, dir string, seed byte) *testNode {
	t.Helper()
	secrets, err := identity.GenerateSecrets(bytes.NewReader(bytes.Repeat([]byte{seed}, 128)))
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(dir, "store"), secrets.StoreKey[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{Secrets: secrets, Store: db, Mode: cloak.ModeTor, Transport: unusedTransport{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn := &testNode{n: n, db: db, cancel: cancel, done: make(chan error, 1)}
	go func() { tn.done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-tn.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Run did not return after cancel")
		}
		db.Close()
	})
	return tn
}

// indicators is what must survive a round trip: content ID → TLP.
func indicators(t *testing.T, tn *testNode, coll string) map[string]string {
	t.Helper()
	xs, err := tn.n.coll.List(IOCFilter{Collection: coll, IncludeExpired: true})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	out := map[string]string{}
	for _, x := range xs {
		out[x.ContentID] = x.TLP
	}
	return out
}

// fixtureDir holds the shared OASIS and MISP fixtures (ioc/fixtures_test.go).
const fixtureDir = "../../shared/fixtures"

// TestIOCExpiredNotOffered checks that the sets a sync session reconciles
// leave expired IOCs out, whether dropped or imported, and that listing
// hides them unless asked.
func TestIOCExpiredNotOffered(t *testing.T) {
	tn := startTestNode(t, t.TempDir(), 35)
	past := time.Now().Add(-time.Hour)
	future := time.Now().Add(time.Hour)
	for i, until := range []*time.Time{&past, &future, nil} {
		if _, err := tn.n.coll.Drop(DropRequest{Type: "ipv4", Value: fmt.Sprintf("198.51.100.%d", i+1), ValidUntil: until}); err != nil {
			t.Fatal(err)
		}
	}
	bundle := `{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","objects":[
	 {"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
	  "created":"2020-01-01T00:00:00.000Z","modified":"2020-01-01T00:00:00.000Z","pattern_type":"stix",
	  "pattern":"[domain-name:value = 'expired.example']","valid_from":"2020-01-01T00:00:00Z","valid_until":"2021-01-01T00:00:00Z"}]}`
	if res, err := tn.n.coll.Import(strings.NewReader(bundle), ImportRequest{TLP: "clear"}, nil); err != nil {
		t.Fatalf("import: %v %+v", err, res)
	}
	sc := collection.ClassScope(item.CollectionSpace(collection.Default), ioc.Class{Level: ioc.ClassPublic})
	n := 0
	tn.db.ScopeIDs(sc, func(item.ID) error { n++; return nil })
	set, err := syncStore{tn.n}.Set(sc)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 || set.Len() != 2 {
		t.Errorf("scope holds %d items and offers %d; want 4 held, 2 offered (the expired drop and import left out)", n, set.Len())
	}
	if l := len(indicators(t, tn, "default")); l != 4 {
		t.Errorf("expired=1 lists %d, want 4", l)
	}
	if xs, _ := tn.n.coll.List(IOCFilter{}); len(xs) != 2 {
		t.Errorf("default list shows %d, want 2", len(xs))
	}
}

// TestIOCImportProgressAndBatches imports 2500 indicators: it reports read
// progress (every 1000 objects) and one store progress per batch of
// collection.ImportProgressEvery records (and one at the end), and everything is
// stored. (The API sends each report as a line: localapi's import tests.)
func TestIOCImportProgressAndBatches(t *testing.T) {
	tn := startTestNode(t, t.TempDir(), 36)
	var b strings.Builder
	b.WriteString(`{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","objects":[`)
	const count = 2500
	for i := range count {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-%012d",
		 "created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern_type":"stix",
		 "pattern":"[domain-name:value = 'h%d.example']","valid_from":"2026-01-01T00:00:00Z"}`, i, i)
	}
	b.WriteString("]}")
	before, _ := tn.db.CountItems()
	phases := map[string]int{}
	res, err := tn.n.coll.Import(strings.NewReader(b.String()), ImportRequest{TLP: "green"}, func(p ImportProgress) { phases[p.Phase]++ })
	if err != nil || res == nil || res.Stored != count || res.ByType["domain"] != count {
		t.Fatalf("import: %v %+v", err, res)
	}
	if phases["read"] != count/1000 || phases["store"] != (count+collection.ImportProgressEvery-1)/collection.ImportProgressEvery {
		t.Errorf("progress lines %v; want %d read, %d store", phases, count/1000, (count+collection.ImportProgressEvery-1)/collection.ImportProgressEvery)
	}
	if after, _ := tn.db.CountItems(); after != before+count {
		t.Errorf("store holds %d items, want %d", after, before+count)
	}
}

// TestIOCExpiredReceivedNotOffered: an expired IOC a peer sends is stored
// (it verifies) but indexed, so this node does not offer it onwards.
func TestIOCExpiredReceivedNotOffered(t *testing.T) {
	tn := startTestNode(t, t.TempDir(), 38)
	pk, err := identity.NewKeyFromSeed(bytes.Repeat([]byte{39}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tn.n.AddPeer(pk.ID(), "bob"); err != nil {
		t.Fatal(err)
	}
	sp := item.CollectionSpace(collection.Default)
	sc := collection.ClassScope(sp, ioc.Class{Level: ioc.ClassPublic})
	var raw [][]byte
	for i, until := range []time.Time{time.Now().Add(-time.Minute), time.Now().Add(time.Hour)} {
		rec, err := ioc.NewRecord(ioc.TypeDomain, fmt.Sprintf("r%d.example", i), ioc.TLPClear)
		if err != nil {
			t.Fatal(err)
		}
		rec.ValidUntil = until
		if err := rec.Normalize(); err != nil {
			t.Fatal(err)
		}
		it, err := ioc.NewItem(pk, sp, time.Now().Add(-2*time.Minute), &rec)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, it.Bytes())
	}
	if refused, err := (syncStore{tn.n}).Accept(pk.ID(), sc, raw); err != nil || len(refused) > 0 {
		t.Fatalf("accept: %d refused, %v", len(refused), err)
	}
	set, err := syncStore{tn.n}.Set(sc)
	if err != nil {
		t.Fatal(err)
	}
	xs, _ := tn.n.coll.List(IOCFilter{IncludeExpired: true})
	if len(xs) != 2 || set.Len() != 1 {
		t.Errorf("received 2 (1 expired): %d held, %d offered; want 2 and 1", len(xs), set.Len())
	}
}

// FuzzIOCImportNode feeds arbitrary input through the node's import (with
// --partial and a default TLP, so whatever converts is signed and stored):
// it must never panic, and what it reports must add up.
func FuzzIOCImportNode(f *testing.F) {
	for _, name := range []string{
		"stix/cti-stix2-json-schemas/examples/indicators-for-C2-with-COA.json",
		"stix/cti-stix-elevator/idioms-json-2.1/141-TLP-marking-structures.json",
		"misp/misp-stix/tests/test_events_collection_2.json",
	} {
		b, err := os.ReadFile(filepath.Join(fixtureDir, name))
		if err != nil {
			f.Fatalf("fixture missing (see shared/fixtures/README.md): %v", err)
		}
		f.Add(b)
	}
	f.Add([]byte(`[{"Event":{"Attribute":[{"type":"ip-dst","value":"010.0.0.1"}]}}]`))
	tn := startTestNode(f, f.TempDir(), 40)
	f.Fuzz(func(t *testing.T, in []byte) {
		res, err := tn.n.coll.Import(bytes.NewReader(in), ImportRequest{TLP: "green", Partial: true}, nil)
		if err != nil {
			if res != nil || fault.As(err) == nil {
				t.Fatalf("error %v with result %+v", err, res)
			}
			return
		}
		sum := 0
		for _, n := range res.ByTLP {
			sum += n
		}
		if !res.Committed || sum != res.Records || res.Stored > res.Records {
			t.Fatalf("result does not add up: %+v", res)
		}
	})
}

// ownCert returns the node's recipient-key certificate.
func ownCert(t testing.TB, db *store.DB) *item.Item {
	t.Helper()
	var raw []byte
	db.View(func(tx *store.Tx) error {
		var err error
		raw, err = tx.Get(bucketMeta, []byte(metaOwnCert))
		return err
	})
	it, _, err := db.GetItem(item.ID(raw))
	if err != nil {
		t.Fatalf("own certificate: %v", err)
	}
	return it
}

// TestIOCImportAmberRoundTrip: restricted records are imported sealed to
// the named recipients (and readable here), and export → import at the
// recipient, addressed back, keeps the content IDs and the TLP.
func TestIOCImportAmberRoundTrip(t *testing.T) {
	a := startTestNode(t, t.TempDir(), 42)
	b := startTestNode(t, t.TempDir(), 43)
	for _, p := range [][2]*testNode{{a, b}, {b, a}} {
		if _, err := p[0].n.AddPeer(p[1].n.id, "x"); err != nil {
			t.Fatal(err)
		}
		// What a sync does when the peer's certificate arrives.
		cert := ownCert(t, p[1].db)
		if _, err := p[0].db.PutItems([]store.Entry{{Item: cert}}); err != nil {
			t.Fatal(err)
		}
		if err := p[0].n.rememberPeerKey(p[1].n.id, cert); err != nil {
			t.Fatal(err)
		}
	}
	// An unmarked bundle given AMBER+STRICT: the sealed path.
	bundle := `{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","objects":[
	 {"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
	  "created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern_type":"stix",
	  "pattern":"[ipv4-addr:value = '203.0.113.9'] OR [domain-name:value = 'Amber.Example.']","valid_from":"2026-01-01T00:00:00Z"}]}`
	res, err := a.n.coll.Import(strings.NewReader(bundle), ImportRequest{TLP: "amber+strict", To: []string{b.n.id.String()}}, nil)
	if err != nil || res.ByTLP["amber+strict"] != 2 || res.Stored != 2 {
		t.Fatalf("amber import: %v %+v", err, res)
	}
	want := indicators(t, a, "default")
	if len(want) != 2 {
		t.Fatalf("a lists %d", len(want))
	}
	xs, _ := a.n.coll.List(IOCFilter{})
	for _, x := range xs {
		if len(x.Recipients) != 1 || x.Recipients[0] != b.n.id.String() {
			t.Errorf("%s: recipients %v, want b", x.Value, x.Recipients)
		}
	}
	var doc bytes.Buffer
	if err := a.n.coll.Export(&doc, "stix", IOCFilter{}); err != nil {
		t.Fatal(err)
	}
	res, err = b.n.coll.Import(bytes.NewReader(doc.Bytes()), ImportRequest{}, nil)
	if fault.KindOf(err) != fault.ImportFailed || res.Failed != 2 {
		t.Fatalf("re-import of amber+strict without --to: %v %+v", err, res)
	}
	res, err = b.n.coll.Import(bytes.NewReader(doc.Bytes()), ImportRequest{To: []string{a.n.id.String()}}, nil)
	if err != nil || res.Stored != 2 {
		t.Fatalf("re-import with --to: %v %+v", err, res)
	}
	got := indicators(t, b, "default")
	for cid, tlp := range want {
		if got[cid] != tlp {
			t.Errorf("%s: TLP %q after the round trip, want %q", cid, got[cid], tlp)
		}
	}
}
