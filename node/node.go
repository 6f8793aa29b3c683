package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/ghostwire/ghostwire/cloak"
	"github.com/ghostwire/ghostwire/collection"
	"github.com/ghostwire/ghostwire/contacts"
	"github.com/ghostwire/ghostwire/dm"
	"github.com/ghostwire/ghostwire/gate"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/keys"
	"github.com/ghostwire/ghostwire/quota"
	"github.com/ghostwire/ghostwire/rating"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/room"
	"github.com/ghostwire/ghostwire/scopeset"
	"github.com/ghostwire/ghostwire/service"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/syncproto"
	"github.com/ghostwire/ghostwire/vault"
)

// TransportStatus is what the local API's status shows of the transport;
// cloak defines it, with the transport interface.
type TransportStatus = cloak.Status

// Config configures a node. The node does not modify it.
type Config struct {
	// Secrets are the unlocked identity and store key.
	Secrets *identity.Secrets
	// Keyring holds the recipient keys; the node seals to and publishes
	// the one in use (docs/protocol.md §9.1). Nil derives that key from the
	// identity seed without a keyring, for tests.
	Keyring *recipient.Keyring
	// Store is the open database; the caller closes it after Run returns.
	Store *store.DB
	// Vault holds the keys of burnable messages (docs/storage.md "Burn");
	// the caller opens it beside the store and closes it after Run
	// returns. Nil: the node neither sends nor keeps burnable messages.
	Vault *vault.Vault
	// KeyVault holds the private keys of our encryption subkeys (package
	// keys, docs/trust.md §4), each in a slot destroyed in place once its
	// grace period ends; the caller opens it beside the store (not the
	// burn vault: its sweep would take these slots for orphans) and closes
	// it after Run returns. Nil: no encryption subkeys; peers seal to the
	// keyring's key, which never rotates.
	KeyVault *vault.Vault
	// EncryptionPeriod is how long an encryption subkey is current, and
	// EncryptionGrace how long a rotated-out one still opens what was
	// sealed to it; zero means keys.DefaultEncryptionPeriod (weekly) and
	// keys.DefaultEncryptionGrace (two weeks).
	EncryptionPeriod, EncryptionGrace time.Duration
	// Mode is how the node may reach peers (cloak.ModeTor, later
	// cloak.ModeLAN). It is required: the zero Mode allows nothing.
	Mode cloak.Mode
	// Transport reaches peers. It must serve Mode: the node uses it only
	// through a cloak.Guard, which refuses a transport of another mode and
	// anything else the mode does not allow. Run closes it.
	Transport cloak.Transport
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the randomness source; nil means crypto/rand.
	Rand io.Reader
	// OnReachable, if set, is called once when the service is first
	// reported reachable (for the CLI's "reachable at" line).
	OnReachable func()
	// ScopeLimit is the most items a scope admits here (scopeset.Admission);
	// zero means syncproto.MaxScopeItems, the most a session reconciles.
	ScopeLimit int
	// SubkeyPeriod is how long a signing subkey signs before the node
	// rotates to a new one; zero means keys.DefaultSigningPeriod (monthly).
	SubkeyPeriod time.Duration
	// SpoolDir is where an IOC import spools its input (encrypted, unlinked
	// at once) so it can be checked whole before anything is stored; empty
	// means the system's temporary directory. The CLI gives the data
	// directory, whose disk the store is on anyway.
	SpoolDir string
	// RedialInterval is how often a known peer with nothing pending is
	// re-synced; zero means 5 minutes. Peers with pending work are dialled
	// at once and retried with backoff.
	RedialInterval time.Duration
	// Quota bounds what each author and each peer can make the node store
	// (package quota); zero fields take quota.Default.
	Quota quota.Config
}

// Node is a running peer. Its methods are safe for concurrent use.
type Node struct {
	// Set by New and never changed: no lock.
	cfg  Config
	key  *identity.PrivateKey
	id   identity.ID
	rkey *recipient.PrivateKey
	db   *store.DB
	log  *slog.Logger
	// spares holds the ephemeral keys every handshake of this node, dialed
	// or accepted, makes for the next one while it waits.
	spares *syncproto.Spares
	// replays remembers recent first messages, so a replayed one costs no
	// public-key work (listen.go).
	replays  *gate.Replays
	contacts *contacts.Book // the peers: names, keys, states, requests
	quota    *quota.Ledger  // what each author and peer has stored here
	// The item-kind services, in the order their scopes are offered; each
	// guards its own state (the store, mostly).
	keys     *keys.Service       // revocations, offered first (§5.12)
	dm       *dm.Service         // direct messages
	coll     *collection.Service // indicator collections
	rate     *rating.Service     // sightings and ratings
	room     *room.Service       // rooms
	services []service.Service

	// wake is signalled (non-blocking) when there is new outbound work,
	// so the dialer and sessions react without polling.
	wake chan struct{}

	// st is what the sessions, the dialer and the API share; st.mu guards
	// every field in it.
	st struct {
		mu       sync.Mutex
		sessions map[identity.ID]*peerSession // at most one live session per peer
		stopping bool                         // set by closeSessions: no new sessions
		peerSync map[identity.ID]time.Time    // last completed sync per peer
		// urgent and urgentAll record user actions for the dialer (urge).
		urgent    map[identity.ID]bool
		urgentAll bool
		// sessionSeq numbers sessions as they start; synced is the number
		// of the latest session that completed a sync with each peer
		// (FetchIOC waits for one that started after it).
		sessionSeq uint64
		synced     map[identity.ID]uint64
		pairSnap   map[identity.ID][]item.ID // pair scope IDs a live session reconciles (Synced marks them delivered)
		// pairRefused: items the peer refused in the live session (Synced
		// does not mark them delivered).
		pairRefused map[identity.ID]map[item.ID]bool
		lastSync    time.Time
		changed     chan struct{} // closed and replaced on every stored change (for --follow)
		// refused: blocked or revoked peers refused at the handshake, for
		// status (trust.go); silent: peers whose last dial proved them and
		// then heard nothing, so they have not accepted us.
		refused map[identity.ID]*refusal
		silent  map[identity.ID]bool
	}

	// ls is the listener's state for status; ls.mu guards every field.
	ls struct {
		mu            sync.Mutex
		state, reason string     // listen.go's states; reason for a failure
		gate          *gate.Gate // set by Run before it listens
		fds           int        // the open-file limit the caps follow
	}

	pair pairState // the pairing code shown, if any (pair.go)

	// With their own locks.
	sets      *scopeset.Sets // the sync engine's sets, kept current by the store
	future    futureItems    // items from a little past our clock's limit (future.go)
	sessWG    sync.WaitGroup // live sessions
	inbound   sync.WaitGroup // accepted connections, handshake and session (listen.go)
	reachOnce sync.Once
	bg        sync.WaitGroup // small helper goroutines Run waits for
}

// New prepares a node; it starts nothing. It does burn the messages whose
// timer ran out while the node was off (dm.Service.Start), so that they
// are gone before Run or the local API can serve them.
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
	if cfg.ScopeLimit <= 0 || cfg.ScopeLimit > syncproto.MaxScopeItems {
		cfg.ScopeLimit = syncproto.MaxScopeItems
	}
	if cfg.RedialInterval == 0 {
		cfg.RedialInterval = 5 * time.Minute
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// From here on the node's copy of the config holds the guard, not the
	// transport it was given, so every use of n.cfg.Transport is checked.
	guard, err := cloak.NewGuard(cloak.Policy{Mode: cfg.Mode}, cfg.Transport, func(err error) {
		log.Warn("dropped a connection the transport mode does not allow", "err", err)
	})
	if err != nil {
		return nil, err
	}
	cfg.Transport = guard
	rk, err := recipientKey(cfg)
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg: cfg, key: cfg.Secrets.Key, id: cfg.Secrets.Key.ID(), rkey: rk, db: cfg.Store,
		log: log, spares: new(syncproto.Spares), replays: gate.NewReplays(), wake: make(chan struct{}, 1),
		sets: scopeset.New(cfg.Store, cfg.Now, cfg.ScopeLimit),
	}
	n.st.sessions, n.st.urgent = map[identity.ID]*peerSession{}, map[identity.ID]bool{}
	n.st.peerSync, n.st.synced = map[identity.ID]time.Time{}, map[identity.ID]uint64{}
	n.st.pairSnap, n.st.pairRefused = map[identity.ID][]item.ID{}, map[identity.ID]map[item.ID]bool{}
	n.st.changed = make(chan struct{})
	n.st.refused, n.st.silent = map[identity.ID]*refusal{}, map[identity.ID]bool{}
	n.contacts = contacts.New(cfg.Store, n.id, cfg.Now)
	n.quota = quota.New(cfg.Store, cfg.Quota, func(id identity.ID) bool {
		st, ok := n.contacts.StateOf(id)
		return ok && st == contacts.Verified
	}, log)
	n.dm, n.coll = dm.New(host{n}), collection.New(host{n})
	n.rate = rating.New(host{n})
	n.room = room.New(host{n})
	// Room messages with a timer are kept and burnt like burnable direct
	// messages: one vault, one burn loop (docs/protocol.md §13.6).
	n.dm.SealKind(room.KindMessage, room.Deadline)
	n.keys = keys.New(host{n})
	n.keys.SetSigningPeriod(cfg.SubkeyPeriod)
	if cfg.KeyVault != nil {
		n.keys.SetEncryption(keys.EncryptionConfig{Vault: cfg.KeyVault, Base: rk,
			Period: cfg.EncryptionPeriod, Grace: cfg.EncryptionGrace})
	}
	n.services = []service.Service{n.keys, n.dm, n.coll, n.rate, n.room}
	n.coll.MarkFresh()
	if err := n.coll.UpgradeRestricted(); err != nil {
		return nil, fmt.Errorf("node: upgrading the store's restricted indicators: %w", err)
	}
	// Messages whose timer ran out while the node was off burn now, before
	// New returns: before the listener, the dialer or the local API can
	// serve them (Run then keeps the timers).
	n.dm.Start()
	n.releaseMemory() // the store's open checks read every item
	n.tellPeers()
	if err := n.tellLANAddrs(); err != nil {
		log.Warn("a stored LAN address of a peer is unusable on this interface", "err", err)
	}
	if err := n.publishRecipientKey(); err != nil {
		return nil, err
	}
	return n, nil
}

// recipientKey is the recipient key the node uses: the keyring's key in
// use, or without a keyring the key derived from the seed.
func recipientKey(cfg Config) (*recipient.PrivateKey, error) {
	if cfg.Keyring == nil {
		return recipient.Derive(cfg.Secrets.Key)
	}
	rk := cfg.Keyring.InUse()
	if rk.Public().Owner != cfg.Secrets.Key.ID() {
		return nil, errors.New("node: the keyring belongs to another identity")
	}
	return rk, nil
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
	n.st.mu.Lock()
	close(n.st.changed)
	n.st.changed = make(chan struct{})
	n.st.refused, n.st.silent = map[identity.ID]*refusal{}, map[identity.ID]bool{}
	n.st.mu.Unlock()
}

func (n *Node) changedCh() <-chan struct{} {
	n.st.mu.Lock()
	defer n.st.mu.Unlock()
	return n.st.changed
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
	// Messages a previous run queued for a peer whose key it then learnt,
	// but stopped before sealing, go out now (dm.Service.Resume).
	n.dm.Resume()
	var wg sync.WaitGroup
	g := n.startGate()

	wg.Add(1)
	go func() {
		defer wg.Done()
		n.listenLoop(ctx, g)
	}()

	wg.Add(1)
	go func() {
		defer wg.Done()
		n.dialLoop(ctx)
	}()

	wg.Add(1)
	go func() {
		defer wg.Done()
		n.burnLoop(ctx)
	}()

	wg.Add(1)
	go func() {
		defer wg.Done()
		n.keyLoop(ctx)
	}()

	<-ctx.Done()
	wg.Wait()
	n.closeSessions()
	n.inbound.Wait() // handshakes end with ctx; sessions ended above
	n.bg.Wait()
	if err := n.cfg.Transport.Close(); err != nil {
		n.log.Warn("closing transport", "err", err)
	}
	return nil
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
