package testnet

// Tests of the real-timing network (Config.RealTiming): that a node's own
// tor joining it keeps the Tor network's timing, checked through tor's own
// answers, and how long a peer takes to reach a node that comes back.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha3"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cretz/bine/control"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/onion"
	"github.com/ghostwire/ghostwire/onion/internal/torctl"
)

// Bounds of the real-timing tests. The network start is bounded by
// realNetLimit (keys, a fast full consensus, then one more vote on the
// 300 s schedule: 60–120 s on the loaded 2-core machine).
const (
	realNetLimit = 5 * time.Minute
	realTorLimit = 3 * time.Minute
	// dialEvery is the node's quickest redial (node/sessions.go minBackoff).
	dialEvery = 2 * time.Second
	// realRequery is tor's HSDir re-query block on the Tor network
	// (REND_HID_SERV_DIR_REQUERY_PERIOD; 5 s on a testing network).
	realRequery = 15 * time.Minute
	// realPeriod is the Tor network's onion-service time period in minutes
	// (consensus parameter hsdir_interval, default 1440).
	realPeriod = 1440
)

// TestRealTiming joins a real-timing network with two tors configured as a
// node configures its own (onion.RealNetworkTorrc plus JoinTorrc) and
// checks, through tor itself, that TestingTorNetwork is off and that the
// descriptor's HSDir indexes are those of a 24 h time period. Then it
// checks what makes tor's 15-minute HSDir re-query block harmless to a
// node (docs/tor.md, "The private network and the real one"): a dial that
// finds no descriptor ends tor's round of HSDirs, so the next dial asks them
// all again; and it measures how long a peer takes to reach a node that
// went offline and came back.
func TestRealTiming(t *testing.T) {
	checkGoroutines(t)
	nw := startTimed(t, true)
	a, b := joinTor(t, nw, "a"), joinTor(t, nw, "b")

	ctlB := controlOf(t, b)
	kv, err := ctlB.GetConf("TestingTorNetwork")
	if err != nil || len(kv) != 1 || kv[0].Val != "0" {
		t.Fatalf("GETCONF TestingTorNetwork on a joined tor: %v %v, want 0", kv, err)
	}

	key := newKey(t)
	evA := hsDescEvents(t, a)
	ln, err := a.Listen(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	checkTimePeriod(t, nw, evA, key.ID())
	ln.Close()

	absent := newKey(t).ID()
	evB := hsDescEvents(t, b)
	first := dialAsks(t, b, evB, absent)
	again := dialAsks(t, b, evB, absent)
	if first == 0 || again == 0 {
		t.Fatalf("dials of a service with no descriptor asked %d, then %d HSDirs: want both to ask (tor forgets a round that ran out of HSDirs)", first, again)
	}
	t.Logf("realtime: a dial of an absent service asked %d HSDirs, the next one, at once, %d", first, again)

	d, dials := returningPeer(t, nw, b, 10*time.Second)
	t.Logf("realtime: returning peer reached %.1fs after its descriptor upload (%d dials, one every %s), real timing", d.Seconds(), dials, dialEvery)
}

// startTimed starts a network with real or testing timing, stopped when the
// test ends.
func startTimed(t *testing.T, real bool) *Network {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), realNetLimit)
	defer cancel()
	nw, err := Start(ctx, Config{RealTiming: real, Timeout: realNetLimit})
	if err != nil {
		t.Fatalf("starting a private tor network (is tor installed? apt-get install tor): %v", err)
	}
	t.Cleanup(func() { nw.Stop() })
	return nw
}

// joinTor starts a managed tor exactly as `ghostwire run --testnet` does:
// the real network's client options followed by JoinTorrc.
func joinTor(t *testing.T, nw *Network, name string) *onion.Tor {
	t.Helper()
	dataDir := filepath.Join(t.TempDir(), name)
	tor, err := onion.Start(onion.Config{DataDir: dataDir, Torrc: onion.RealNetworkTorrc + nw.JoinTorrc()})
	if err != nil {
		t.Fatal(err)
	}
	cookies.Store(tor, filepath.Join(dataDir, "control_auth_cookie"))
	t.Cleanup(func() { tor.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), realTorLimit)
	defer cancel()
	if err := tor.WaitReady(ctx); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return tor
}

// cookies maps each tor joinTor started to its control cookie file.
var cookies sync.Map

// controlOf opens a control connection of the test's own to a tor joinTor
// started.
func controlOf(t *testing.T, tor *onion.Tor) *control.Conn {
	t.Helper()
	addr := tor.ControlAddr()
	cookie, _ := cookies.Load(tor)
	c, err := torctl.Dial(context.Background(), addr, torctl.Auth{CookieFile: cookie.(string)})
	if err != nil {
		t.Fatalf("control connection to %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// hsDescEvents subscribes to a tor's HS_DESC events on a connection of its
// own (bine's event loop holds the connection).
func hsDescEvents(t *testing.T, tor *onion.Tor) <-chan *control.HSDescEvent {
	t.Helper()
	c := controlOf(t, tor)
	raw := make(chan control.Event, 256)
	if err := c.AddEventListener(raw, control.EventCodeHSDesc); err != nil {
		t.Fatal(err)
	}
	out := make(chan *control.HSDescEvent, 256)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(raw)
		for c.HandleNextEvent() == nil {
		}
	})
	wg.Go(func() {
		for e := range raw {
			if ev, ok := e.(*control.HSDescEvent); ok {
				select {
				case out <- ev:
				default: // nobody is reading this kind now
				}
			}
		}
	})
	t.Cleanup(func() { c.Close(); wg.Wait() })
	return out
}

// dialAsks dials id, which has no descriptor anywhere, and returns how
// many HSDirs tor asked for it (HS_DESC REQUESTED) before the dial failed.
func dialAsks(t *testing.T, tor *onion.Tor, ev <-chan *control.HSDescEvent, id identity.ID) int {
	t.Helper()
	for len(ev) > 0 {
		<-ev
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if c, err := tor.Dial(ctx, id); err == nil {
		c.Close()
		t.Fatal("a dial of a service that never published succeeded")
	}
	n := 0
	quiet := time.After(time.Second) // the events come before the SOCKS reply; allow stragglers
	for {
		select {
		case e := <-ev:
			if e.Address == id.Onion() && e.Action == "REQUESTED" {
				n++
			}
		case <-quiet:
			return n
		}
	}
}

// checkTimePeriod reads the service's HS_DESC UPLOAD events and checks that
// each HSDir index tor used is that of a 24 h time period.
func checkTimePeriod(t *testing.T, nw *Network, ev <-chan *control.HSDescEvent, id identity.ID) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	checked := 0
	for checked < 2 {
		select {
		case e := <-ev:
			if e.Action != "UPLOAD" || e.Address != id.Onion() || e.HSDirIndex == "" {
				continue
			}
			length, num, ok := timePeriod(t, nw, e.HSDirIndex, time.Now())
			if !ok {
				t.Fatalf("HSDir index %s fits no time period of 4, 120 or 1440 minutes near now", e.HSDirIndex)
			}
			if length != realPeriod {
				t.Fatalf("the service's time period is %d minutes (number %d), want %d: the tor runs testing timing", length, num, realPeriod)
			}
			if checked == 0 {
				t.Logf("realtime: descriptor uploaded for time period %d of %d minutes (from its HSDir index)", num, length)
			}
			checked++
		case <-timeout:
			t.Fatalf("%d HS_DESC UPLOAD events with an HSDir index in 60 s, want 2", checked)
		}
	}
}

// timePeriod finds the time-period length (minutes) and number near now
// from which tor computed an HSDir's index, trying the real length and the
// testing ones (an SRV protocol run: 24 votes of 10 s or of 300 s).
// rend-spec-v3 §2.2.3: hsdir_index = SHA3-256("node-idx" | the HSDir's
// ed25519 identity | shared random value | INT_8(period_num) |
// INT_8(period_length)), where a network without a shared random value yet
// uses SHA3-256("shared-random-disaster" | INT_8(period_length) |
// INT_8(period_num)) (§2.3.1 of the shared-random spec).
func timePeriod(t *testing.T, nw *Network, indexHex string, now time.Time) (length, num uint64, ok bool) {
	t.Helper()
	index, err := hex.DecodeString(indexHex)
	if err != nil {
		t.Fatalf("HSDIR_INDEX %q: %v", indexHex, err)
	}
	var ids [][]byte
	for _, a := range nw.Authorities() {
		b, err := os.ReadFile(filepath.Join(a.DataDir, "keys", "ed25519_master_id_public_key"))
		if err != nil || len(b) != 64 {
			t.Fatalf("%s's ed25519 identity: %v (%d bytes)", a.Name, err, len(b))
		}
		ids = append(ids, b[32:]) // after tor's 32-byte "== ed25519v1-public: type0 ==" header
	}
	srvs := consensusSRVs(t, nw)
	minutes := uint64(now.Unix() / 60)
	for _, length := range []uint64{4, 120, realPeriod} {
		// The rotation offset is at most 12 votes of 300 s (60 min).
		for n := (minutes-61)/length - 1; n <= minutes/length+1; n++ {
			disaster := sha3.Sum256(slices.Concat([]byte("shared-random-disaster"), be64(length), be64(n)))
			for _, srv := range append(srvs, disaster[:]) {
				for _, id := range ids {
					h := sha3.Sum256(slices.Concat([]byte("node-idx"), id, srv, be64(n), be64(length)))
					if bytes.Equal(h[:], index) {
						return length, n, true
					}
				}
			}
		}
	}
	return 0, 0, false
}

// consensusSRVs returns the shared random values the first authority's
// consensus carries (none on a young network).
func consensusSRVs(t *testing.T, nw *Network) [][]byte {
	t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/tor/status-vote/current/consensus-microdesc", nw.Authorities()[0].DirPort)
	c := fetchConsensus(context.Background(), &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}, url)
	if c.routers == 0 {
		t.Fatal("no consensus from the first authority")
	}
	return c.srvs
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// returningPeer measures how long b takes to reach a node that went offline
// and came back: b reaches a new service; its tor stops; for offline, b
// dials it on the node's schedule (node/redial.go: 2 s, doubling up to
// 60 s), so b's tor holds a stale descriptor and has asked the HSDirs; a new
// tor publishes the same key; b then dials every dialEvery until it gets
// through. It returns the time from the new descriptor's first upload
// (HS_DESC UPLOADED) to b's first connection, and the dials that took.
func returningPeer(t *testing.T, nw *Network, b *onion.Tor, offline time.Duration) (time.Duration, int) {
	t.Helper()
	key := newKey(t)
	dial := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := b.Dial(ctx, key.ID())
		if err == nil {
			c.Close()
		}
		return err
	}
	listen := func(a *onion.Tor) *onion.Listener {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ln, err := a.Listen(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		go acceptAll(ln)
		if err := ln.WaitReachable(ctx); err != nil {
			t.Fatalf("the service's descriptor: %v", err)
		}
		return ln
	}
	a := joinTor(t, nw, "a-before")
	ln := listen(a)
	deadline := time.Now().Add(time.Minute)
	for dial() != nil {
		if time.Now().After(deadline) {
			t.Fatal("b never reached the service before it went offline")
		}
		time.Sleep(dialEvery)
	}
	ln.Close()
	a.Close()
	wait, gone := dialEvery, time.Now()
	for {
		if err := dial(); err == nil {
			t.Fatal("b reached the service while its tor was stopped")
		}
		if time.Since(gone)+wait > offline {
			break
		}
		time.Sleep(wait)
		wait = min(2*wait, time.Minute)
	}
	a2 := joinTor(t, nw, "a-after")
	ln2 := listen(a2)
	defer a2.Close()
	defer ln2.Close()
	back := time.Now()
	for dials := 1; ; dials++ {
		start := time.Now()
		err := dial()
		t.Logf("realtime:   dial %d after the return: %.1fs: %v", dials, time.Since(start).Seconds(), err)
		if err == nil {
			return time.Since(back), dials
		}
		if time.Since(back) > realTorLimit {
			t.Fatalf("b did not reach the service within %s of its return (%d dials)", realTorLimit, dials)
		}
		time.Sleep(dialEvery)
	}
}

func acceptAll(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

func newKey(t *testing.T) *identity.PrivateKey {
	t.Helper()
	k, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// checkGoroutines fails the test if it leaves goroutines behind.
func checkGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		for range 50 {
			if runtime.NumGoroutine() <= base {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines: %d at start, %d now\n%s", base, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
	})
}
