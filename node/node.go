package node

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/store"
)

// Transport is how the node reaches peers and is reached. In Tor mode it is
// an onion service and a SOCKS dialer (onion.go); nothing else may be used.
type Transport interface {
	// Listen publishes the service and returns its listener; it may return
	// before the service is reachable.
	Listen(ctx context.Context, key *identity.PrivateKey) (net.Listener, error)
	// Dial connects to a peer. It fails, never falls back, when the
	// transport is not ready.
	Dial(ctx context.Context, peer identity.ID) (net.Conn, error)
	// Status reports the transport's state for `ghostwire status`.
	Status() TransportStatus
	// Close stops the transport.
	Close() error
}

// Config configures a node. The node does not modify it.
type Config struct {
	// Secrets are the unlocked identity and store key.
	Secrets *identity.Secrets
	// Store is the open database; the caller closes it after Run returns.
	Store *store.DB
	// Transport reaches peers.
	Transport Transport
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the randomness source; nil means crypto/rand.
	Rand io.Reader
	// OnReachable, if set, is called once when the service is first
	// reported reachable (for the CLI's "reachable at" line).
	OnReachable func()
	// RedialInterval is how often a known peer with nothing pending is
	// re-synced; zero means 5 minutes. Peers with pending work are dialled
	// at once and retried with backoff.
	RedialInterval time.Duration
}

// Node is a running peer. Its methods are safe for concurrent use.
type Node struct {
	cfg  Config
	key  *identity.PrivateKey
	id   identity.ID
	rkey *recipient.PrivateKey
	db   *store.DB
	log  *slog.Logger

	// wake is signalled (non-blocking) when there is new outbound work,
	// so the dialer and sessions react without polling.
	wake chan struct{}

	mu       sync.Mutex
	sessions map[identity.ID]*peerSession // at most one live session per peer
	stopping bool                         // set by closeSessions: no new sessions
	sessWG   sync.WaitGroup               // live sessions
	peerSync map[identity.ID]time.Time    // last completed sync per peer
	// urgent and urgentAll record user actions for the dialer (urge).
	urgent    map[identity.ID]bool
	urgentAll bool
	// sessionSeq numbers sessions as they start; synced is the number of
	// the latest session that completed a sync with each peer (FetchIOC
	// waits for one that started after it).
	sessionSeq uint64
	synced     map[identity.ID]uint64
	pairSnap   map[identity.ID][]item.ID // pair scope IDs a live session reconciles (Synced marks them delivered)
	lastSync   time.Time
	changed    chan struct{} // closed and replaced on every stored change (for --follow)

	sets scopeSets // the sync engine's sets, kept current by the store

	addPeerMu sync.Mutex // serialises AddPeer (peers.go)

	reachOnce sync.Once
	bg        sync.WaitGroup // small helper goroutines Run waits for
}

// New prepares a node; it starts nothing.
func New(cfg Config) (*Node, error) {
	if cfg.Secrets == nil || cfg.Store == nil || cfg.Transport == nil {
		return nil, errors.New("node: Secrets, Store and Transport are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.RedialInterval == 0 {
		cfg.RedialInterval = 5 * time.Minute
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rk, err := recipient.Derive(cfg.Secrets.Key)
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg: cfg, key: cfg.Secrets.Key, id: cfg.Secrets.Key.ID(), rkey: rk, db: cfg.Store,
		log: log, wake: make(chan struct{}, 1), sessions: map[identity.ID]*peerSession{}, urgent: map[identity.ID]bool{},
		peerSync: map[identity.ID]time.Time{}, synced: map[identity.ID]uint64{}, pairSnap: map[identity.ID][]item.ID{}, changed: make(chan struct{}),
		sets: scopeSets{m: map[item.Scope]*scopeSet{}},
	}
	cfg.Store.OnIndexed(n.sets.indexed)
	if err := n.publishRecipientKey(); err != nil {
		return nil, err
	}
	return n, nil
}

// ID returns the node's identity.
func (n *Node) ID() identity.ID { return n.id }

// poke wakes the dialer; it never blocks.
func (n *Node) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// notifyChanged wakes every --follow listener.
func (n *Node) notifyChanged() {
	n.mu.Lock()
	close(n.changed)
	n.changed = make(chan struct{})
	n.mu.Unlock()
}

func (n *Node) changedCh() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.changed
}

// Run runs the node until ctx ends: the transport's listener, the accept
// loop and the dialer. It returns after every goroutine it started has
// stopped. Shutdown order: stop accepting, end sessions (each finishes the
// frame it is storing: an item is acknowledged only after it is durable),
// close the transport. The local API runs beside it (localapi.Serve, which
// calls the node's methods); the caller closes the store once both have
// returned.
func (n *Node) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup

	wg.Add(1)
	go func() {
		defer wg.Done()
		n.listenLoop(ctx)
	}()

	wg.Add(1)
	go func() {
		defer wg.Done()
		n.dialLoop(ctx)
	}()

	<-ctx.Done()
	wg.Wait()
	n.closeSessions()
	n.bg.Wait()
	if err := n.cfg.Transport.Close(); err != nil {
		n.log.Warn("closing transport", "err", err)
	}
	return nil
}

// listenLoop publishes the service and accepts peers, re-listening (with
// backoff, bounded) when the transport drops, for as long as ctx lives.
func (n *Node) listenLoop(ctx context.Context) {
	backoff := time.Second
	for ctx.Err() == nil {
		ln, err := n.cfg.Transport.Listen(ctx, n.key)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			n.log.Warn("cannot listen yet; waiting for tor", "err", err, "retry_in", backoff)
			if !sleepCtx(ctx, backoff) {
				return
			}
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		backoff = time.Second
		n.watchReachable(ctx, ln)
		n.acceptLoop(ctx, ln)
		ln.Close()
	}
}

func (n *Node) acceptLoop(ctx context.Context, ln net.Listener) {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() == nil {
				n.log.Warn("accept stopped", "err", err)
			}
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.serveConn(ctx, c)
		}()
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// watchReachable reports, once, when the listener's service is reachable.
func (n *Node) watchReachable(ctx context.Context, ln net.Listener) {
	w, ok := ln.(interface{ WaitReachable(context.Context) error })
	if !ok || n.cfg.OnReachable == nil {
		return
	}
	n.reachOnce.Do(func() {
		n.bg.Add(1)
		go func() {
			defer n.bg.Done()
			if w.WaitReachable(ctx) == nil {
				n.log.Info("onion service reachable", "onion", n.id)
				n.cfg.OnReachable()
			}
		}()
	})
}
