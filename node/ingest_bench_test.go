package node

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/collection"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/ioc"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/syncproto"
)

// Ingest benchmark parameters.
const (
	ingestItems   = 12_000
	ingestAuthors = 16 // items in a collection come from many authors
	ingestPeers   = 4  // concurrent sessions when ingesting on all cores
	ingestRepeats = 3  // segments of each contender, the best kept
)

// BenchmarkIngest measures what a node does with items a peer sends
// (decode, verify, hash, check the scope, store durably: syncStore.Accept
// on frames of up to 1 MiB, as a session delivers them) in items/s, on one
// core and on all cores, beside plain Ed25519 verification of messages the
// same size (the ceiling). Target (issue 6): ingest ≥ 0.8 × the ceiling.
// The contenders run in interleaved segments, the best of each kept, so a
// shared machine's bursts fall on all alike. One line sums it up:
//
//	go test -run '^$' -bench Ingest -benchtime 1x ./node
func BenchmarkIngest(b *testing.B) {
	items, frames := ingestCorpus(b)
	jobs := verifyJobs(items)
	cores := runtime.NumCPU()
	for range b.N {
		var best [4]float64 // ingest 1, ingest all, verify 1, verify all
		for range ingestRepeats {
			for i, f := range []func() float64{
				func() float64 { return onCores(1, func() float64 { return ingestRate(b, frames, 1) }) },
				func() float64 { return onCores(cores, func() float64 { return ingestRate(b, frames, ingestPeers) }) },
				func() float64 { return onCores(1, func() float64 { return verifyRate(jobs, 1) }) },
				func() float64 { return onCores(cores, func() float64 { return verifyRate(jobs, cores) }) },
			} {
				best[i] = max(best[i], f())
			}
		}
		b.ReportMetric(best[0], "ingest-1core-items/s")
		b.ReportMetric(best[1], "ingest-allcores-items/s")
		b.ReportMetric(best[2], "ed25519-1core-verify/s")
		b.ReportMetric(best[3], "ed25519-allcores-verify/s")
		fmt.Printf("ingest: 1 core %.0f items/s vs ed25519 verify %.0f/s = %.2fx; %d cores %.0f items/s vs %.0f/s = %.2fx (target >= 0.8x)\n",
			best[0], best[2], best[0]/best[2], cores, best[1], best[3], best[1]/best[3])
	}
}

// ingestCorpus signs the items (IOCs, CLEAR, default collection, from
// several authors) and packs them into frames as a session does.
func ingestCorpus(b *testing.B) ([]*item.Item, [][][]byte) {
	b.Helper()
	sp := item.CollectionSpace(collection.Default)
	now := time.Now()
	var keys []*identity.PrivateKey
	for a := range ingestAuthors {
		k, err := identity.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{0xa0 + byte(a)}, 64)))
		if err != nil {
			b.Fatal(err)
		}
		keys = append(keys, k)
	}
	var items []*item.Item
	for i := range ingestItems {
		rec, err := ioc.NewRecord(ioc.TypeIPv4, fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255), ioc.TLPClear)
		if err != nil {
			b.Fatal(err)
		}
		it, err := ioc.NewItem(keys[i%ingestAuthors], sp, now, &rec)
		if err != nil {
			b.Fatal(err)
		}
		items = append(items, it)
	}
	// The session's batching: as many items as fit in one frame.
	const room = syncproto.MaxPayload - 64
	var frames [][][]byte
	var cur [][]byte
	size := 0
	for _, it := range items {
		if size+it.Size()+8 > room && len(cur) > 0 {
			frames, cur, size = append(frames, cur), nil, 0
		}
		cur = append(cur, it.Bytes())
		size += it.Size() + 8
	}
	return items, append(frames, cur)
}

// onCores runs f with GOMAXPROCS set to n.
func onCores(n int, f func() float64) float64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))
	return f()
}

// ingestRate feeds every frame to a fresh node's syncStore.Accept, from
// `sessions` peers at once, and returns items stored per second.
func ingestRate(b *testing.B, frames [][][]byte, sessions int) float64 {
	b.Helper()
	n, db := bareNode(b, 0x99, nil)
	defer db.Close() // now, not at cleanup: the repeats would hold every store open
	var peers []identity.ID
	for p := range sessions {
		k, err := identity.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{0x10 + byte(p)}, 64)))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := n.AddPeer(k.ID(), ""); err != nil {
			b.Fatal(err)
		}
		peers = append(peers, k.ID())
	}
	sc := item.Scope(collection.ClassScope(item.CollectionSpace(collection.Default), ioc.Class{Level: ioc.ClassPublic}))
	st := syncStore{n}
	total := 0
	for _, f := range frames {
		total += len(f)
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for p, peer := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p; i < len(frames); i += sessions {
				if refused, err := st.Accept(peer, sc, frames[i]); err != nil || len(refused) > 0 {
					errs <- fmt.Errorf("accept: %d refused, %v", len(refused), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	got, err := db.CountItems()
	if err != nil || got < total {
		b.Fatalf("store holds %d items (%v), want at least %d", got, err, total)
	}
	return float64(total) / elapsed.Seconds()
}

// verifyJob is one plain Ed25519 verification.
type verifyJob struct {
	pub      ed25519.PublicKey
	msg, sig []byte
}

// verifyJobs gives each item a plain Ed25519 signature over a message as
// long as the item, by one key per author: what verifying the items costs
// with crypto/ed25519 alone, and nothing else.
func verifyJobs(items []*item.Item) []verifyJob {
	keys := map[identity.ID]ed25519.PrivateKey{}
	jobs := make([]verifyJob, len(items))
	for i, it := range items {
		k, ok := keys[it.Author()]
		if !ok {
			k = ed25519.NewKeyFromSeed(it.Author().Bytes())
			keys[it.Author()] = k
		}
		msg := it.Bytes()
		jobs[i] = verifyJob{pub: k.Public().(ed25519.PublicKey), msg: msg, sig: ed25519.Sign(k, msg)}
	}
	return jobs
}

// verifyRate verifies every job on `workers` goroutines and returns
// verifications per second: the ceiling for ingest.
func verifyRate(jobs []verifyJob, workers int) float64 {
	start := time.Now()
	var wg sync.WaitGroup
	var failed sync.Once
	ok := true
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(jobs); i += workers {
				if !ed25519.Verify(jobs[i].pub, jobs[i].msg, jobs[i].sig) {
					failed.Do(func() { ok = false })
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if !ok {
		panic("bug: a benchmark signature did not verify")
	}
	return float64(len(jobs)) / elapsed.Seconds()
}
