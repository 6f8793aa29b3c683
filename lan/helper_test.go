//go:build linux

package lan

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ghostwire/ghostwire/cloak"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recon"
	"github.com/ghostwire/ghostwire/syncproto"
)

// helperEnv carries a helperConfig to the test binary re-executed inside a
// network namespace: a goroutine cannot move a whole Go process into
// another namespace, a fresh process started by `ip netns exec` is in it
// from its first instruction.
const helperEnv = "GHOSTWIRE_LAN_HELPER"

// helperConfig is what a helper process runs.
type helperConfig struct {
	Role  string // "node" or "capture"
	Seed  byte   // node: the identity key's seed byte
	Peers []byte // node: the seed bytes of the peers it knows
	Items []string
	Out   string // capture: file to write packets to
	// RefreshMs, if set, is how often the node's advert is checked for
	// rotation; "jump SECONDS" moves its clock forward.
	RefreshMs int
}

// helperEvent is one line a helper prints.
type helperEvent struct {
	Ev       string   `json:"ev"`
	Addr     string   `json:"addr,omitempty"`
	Ms       int64    `json:"ms,omitempty"`
	Peers    []string `json:"peers,omitempty"`
	Items    []string `json:"items,omitempty"`
	Instance string   `json:"instance,omitempty"`
	Text     []string `json:"text,omitempty"`
	Err      string   `json:"err,omitempty"`
	Leaked   []string `json:"leaked,omitempty"`
}

// runHelper is the whole of a helper process; it returns the exit code.
func runHelper(cfgJSON string) int {
	var cfg helperConfig
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "helper config:", err)
		return 2
	}
	switch cfg.Role {
	case "node":
		return runNodeHelper(cfg)
	case "capture":
		return runCaptureHelper(cfg)
	}
	fmt.Fprintln(os.Stderr, "unknown helper role", cfg.Role)
	return 2
}

func seedKey(b byte) *identity.PrivateKey {
	k, err := identity.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		panic(err)
	}
	return k
}

// labScope is the one scope the helpers sync.
var labScope = item.Scope{0x1a}

// labStore is a SyncStore of opaque items in one scope, whose ID is their
// SHA-256: enough for a real sync session to carry them both ways.
type labStore struct {
	mu     sync.Mutex
	items  map[recon.ID][]byte
	synced chan struct{}
	once   sync.Once
}

func (s *labStore) Scopes(identity.ID) []item.Scope { return []item.Scope{labScope} }
func (s *labStore) Set(item.Scope) (recon.Set, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []recon.ID
	for id := range s.items {
		ids = append(ids, id)
	}
	return recon.NewMemSet(ids), nil
}
func (s *labStore) Item(_ item.Scope, id recon.ID) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.items[id]
}
func (s *labStore) Accept(_ identity.ID, _ item.Scope, items [][]byte) ([]recon.ID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range items {
		s.items[sha256.Sum256(b)] = bytes.Clone(b)
	}
	return nil, nil
}
func (s *labStore) Acked(identity.ID, []recon.ID, []recon.ID) {}
func (s *labStore) Synced(identity.ID)                        { s.once.Do(func() { close(s.synced) }) }
func (s *labStore) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, b := range s.items {
		out = append(out, string(b))
	}
	return out
}

// runNodeHelper runs a lan.Transport on gw0 and obeys commands on stdin:
// "dial SEED" (wait for the peer's advert, dial, handshake, sync),
// "seen", "items", "browse TYPE SECONDS". It answers with JSON lines.
func runNodeHelper(cfg helperConfig) int {
	out := json.NewEncoder(os.Stdout)
	var outMu sync.Mutex
	say := func(e helperEvent) {
		outMu.Lock()
		defer outMu.Unlock()
		out.Encode(e)
	}
	key := seedKey(cfg.Seed)
	var peers []identity.ID
	for _, p := range cfg.Peers {
		peers = append(peers, seedKey(p).ID())
	}
	started := time.Now() // discovery is timed from here: a node starting
	baseline := runtime.NumGoroutine()
	st := &labStore{items: map[recon.ID][]byte{}, synced: make(chan struct{})}
	for _, it := range cfg.Items {
		st.items[sha256.Sum256([]byte(it))] = []byte(it)
	}
	var skew atomic.Int64 // seconds the clock was moved forward
	tr, err := New(Config{Interface: "gw0", Peers: func() []identity.ID { return peers },
		Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load()) * time.Second) }})
	if err != nil {
		say(helperEvent{Ev: "error", Err: err.Error()})
		return 1
	}
	if cfg.RefreshMs > 0 {
		tr.refresh = time.Duration(cfg.RefreshMs) * time.Millisecond
	}
	defer tr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln, err := tr.Listen(ctx, key)
	if err != nil {
		say(helperEvent{Ev: "error", Err: err.Error()})
		return 1
	}
	if err := ln.WaitReachable(ctx); err != nil {
		say(helperEvent{Ev: "error", Err: err.Error()})
		return 1
	}
	say(helperEvent{Ev: "listening", Addr: ln.Addr().String()})
	// cur is the open listener; the accept loop replaces it when the
	// transport closes it (the interface's address changed), as the
	// node's listen loop does, and says "relistened".
	var lnMu sync.Mutex
	cur := ln
	var wg sync.WaitGroup
	defer wg.Wait()
	defer func() {
		lnMu.Lock()
		cur.Close()
		lnMu.Unlock()
	}()
	// Watch for each peer's advert from the start, so the discovery time
	// reported is when it was first recognised, not when a test asked.
	var seenMu sync.Mutex
	firstSeen := map[identity.ID]time.Duration{}
	noteSeen := func(p identity.ID) {
		seenMu.Lock()
		defer seenMu.Unlock()
		if _, ok := firstSeen[p]; !ok {
			firstSeen[p] = time.Since(started)
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ctx.Err() == nil && n < len(peers); {
			n = 0
			for _, p := range peers {
				if _, ok := tr.find(p); ok {
					noteSeen(p)
					n++
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		l := ln
		for {
			c, err := l.Accept()
			if err != nil {
				l.Close()
				for ctx.Err() == nil {
					nl, err := tr.Listen(ctx, key)
					if err == nil {
						lnMu.Lock()
						cur, l = nl, nl
						lnMu.Unlock()
						say(helperEvent{Ev: "relistened", Addr: nl.Addr().String()})
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if ctx.Err() != nil {
					return
				}
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				sc, err := syncproto.Server(ctx, c, &syncproto.Config{Key: key})
				if err != nil {
					say(helperEvent{Ev: "error", Err: err.Error()})
					return
				}
				syncproto.NewSession(sc, st, false).Run(ctx)
			}()
		}
	}()

	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "dial":
			n, _ := strconv.Atoi(f[1])
			peer := seedKey(byte(n)).ID()
			e := dialAndSync(ctx, tr, key, peer, st, noteSeen)
			seenMu.Lock()
			if d, ok := firstSeen[peer]; ok {
				e.Ms = max(1, d.Milliseconds())
			}
			seenMu.Unlock()
			say(e)
		case "seen":
			var names []string
			for _, s := range tr.Sightings() {
				names = append(names, s.Peer.String())
			}
			say(helperEvent{Ev: "seen", Peers: names})
		case "items":
			say(helperEvent{Ev: "items", Items: st.list()})
		case "jump":
			n, _ := strconv.Atoi(f[1])
			skew.Add(int64(n))
			say(helperEvent{Ev: "jumped"})
		case "checks":
			say(helperEvent{Ev: "checks", Text: policyChecks(ctx, tr)})
		case "close":
			// Everything the transport started must be gone once Close
			// returns (zeroconf's readers may need a moment after their
			// sockets close).
			cancel()
			lnMu.Lock()
			cur.Close()
			lnMu.Unlock()
			tr.Close()
			wg.Wait()
			e := helperEvent{Ev: "closed"}
			for end := time.Now().Add(3 * time.Second); runtime.NumGoroutine() > baseline+1 && time.Now().Before(end); {
				time.Sleep(50 * time.Millisecond)
			}
			if n := runtime.NumGoroutine(); n > baseline+1 { // +1: the stdin scanner's
				buf := make([]byte, 1<<16)
				e.Leaked = []string{fmt.Sprintf("%d goroutines, %d before", n, baseline), string(buf[:runtime.Stack(buf, true)])}
			}
			say(e)
		case "pairadv": // pairadv NAMEPLATE: advertise a pairing attempt
			stop, err := tr.AdvertisePairing(f[1])
			e := helperEvent{Ev: "pairadv"}
			if err != nil {
				e.Err = err.Error()
			} else {
				defer stop()
			}
			say(e)
		case "findpair": // findpair NAMEPLATE SECONDS
			secs, _ := strconv.Atoi(f[2])
			fctx, fcancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second)
			addr, err := tr.FindPairing(fctx, f[1])
			fcancel()
			e := helperEvent{Ev: "foundpair"}
			if err != nil {
				e.Err = err.Error()
			} else {
				e.Addr = addr.String()
			}
			say(e)
		case "status":
			say(helperEvent{Ev: "status", Text: []string{tr.Status().Phase}})
		case "browse":
			secs, _ := strconv.Atoi(f[2])
			bctx, bcancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second)
			err := tr.Browse(bctx, f[1], func(s Service) {
				var addrs []string
				for _, a := range s.Addrs {
					addrs = append(addrs, a.String())
				}
				say(helperEvent{Ev: "service", Instance: s.Instance, Text: s.Text, Peers: addrs})
			})
			bcancel()
			e := helperEvent{Ev: "browsed"}
			if err != nil {
				e.Err = err.Error()
			}
			say(e)
		}
	}
	return 0
}

// policyChecks runs the transport's refusals inside the lab and returns
// one line per check that did not behave.
func policyChecks(ctx context.Context, tr *Transport) []string {
	var bad []string
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, a := range []string{"10.78.0.1:4000", "127.0.0.1:4000", "8.8.8.8:53", "[fe80::1%lo]:4000"} {
		if c, err := tr.DialAddr(dctx, netip.MustParseAddrPort(a)); !errors.Is(err, cloak.ErrForbidden) {
			bad = append(bad, fmt.Sprintf("DialAddr(%s) = %v, %v; want a refusal", a, c, err))
		}
		if err := tr.AddPeer(seedKey(9).ID(), netip.MustParseAddrPort(a)); !errors.Is(err, cloak.ErrForbidden) {
			bad = append(bad, fmt.Sprintf("AddPeer(%s) = %v; want a refusal", a, err))
		}
	}
	stranger := seedKey(8).ID()
	if _, err := tr.Dial(dctx, stranger); !errors.Is(err, ErrNotSeen) {
		bad = append(bad, fmt.Sprintf("Dial(a peer never seen) = %v; want ErrNotSeen", err))
	}
	// A manual address on the link is used: port 1 of bob's address is
	// closed, so the dial reaches it and is refused by bob's kernel.
	if err := tr.AddPeer(stranger, netip.MustParseAddrPort("10.77.0.2:1")); err != nil {
		bad = append(bad, fmt.Sprintf("AddPeer(on the link) = %v", err))
	}
	if _, err := tr.Dial(dctx, stranger); err == nil || !strings.Contains(err.Error(), "10.77.0.2:1") || errors.Is(err, cloak.ErrForbidden) {
		bad = append(bad, fmt.Sprintf("Dial(a peer added at 10.77.0.2:1) = %v; want a refused connection there", err))
	}
	if _, err := tr.Publish(PairingServiceType, "pairing-test", []string{"n=1"}); err != nil {
		bad = append(bad, fmt.Sprintf("Publish = %v", err))
	}
	return bad
}

// dialAndSync waits (up to 10 s) for peer's advert, then dials it, runs
// the handshake and a sync session to completion.
func dialAndSync(ctx context.Context, tr *Transport, key *identity.PrivateKey, peer identity.ID, st *labStore, noteSeen func(identity.ID)) helperEvent {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := tr.find(peer); ok {
			noteSeen(peer)
			break
		}
		if time.Now().After(deadline) {
			return helperEvent{Ev: "dialed", Err: "not seen within 10 s"}
		}
		time.Sleep(20 * time.Millisecond)
	}
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c, err := tr.Dial(dctx, peer)
	if err != nil {
		return helperEvent{Ev: "dialed", Err: err.Error()}
	}
	sc, err := syncproto.Client(dctx, c, &syncproto.Config{Key: key}, peer)
	if err != nil {
		return helperEvent{Ev: "dialed", Err: err.Error()}
	}
	sctx, scancel := context.WithCancel(dctx)
	done := make(chan error, 1)
	go func() { done <- syncproto.NewSession(sc, st, true).Run(sctx) }()
	select {
	case <-st.synced:
	case err := <-done:
		scancel()
		return helperEvent{Ev: "dialed", Err: fmt.Sprintf("session ended before sync: %v", err)}
	case <-dctx.Done():
	}
	scancel()
	<-done
	if dctx.Err() != nil {
		return helperEvent{Ev: "dialed", Err: "sync timed out"}
	}
	return helperEvent{Ev: "dialed", Addr: c.RemoteAddr().String()}
}

// runCaptureHelper records every frame on every interface of its
// namespace with a raw AF_PACKET socket until stdin closes, and writes
// them to cfg.Out as length-prefixed records.
func runCaptureHelper(cfg helperConfig) int {
	const ethPAll = 0x0003
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, int(htons(ethPAll)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "raw socket:", err)
		return 1
	}
	defer syscall.Close(fd)
	tv := syscall.Timeval{Usec: 100_000}
	syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	f, err := os.Create(cfg.Out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer f.Close()
	stop := make(chan struct{})
	go func() {
		bufio.NewReader(os.Stdin).ReadString('\n')
		close(stop)
	}()
	fmt.Println(`{"ev":"capturing"}`)
	buf := make([]byte, 65536)
	for {
		select {
		case <-stop:
			return 0
		default:
		}
		n, _, err := syscall.Recvfrom(fd, buf, 0)
		if err != nil || n <= 0 {
			continue
		}
		var l [4]byte
		l[0], l[1], l[2], l[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
		f.Write(l[:])
		f.Write(buf[:n])
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
