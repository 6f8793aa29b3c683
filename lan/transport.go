package lan

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ghostwire/ghostwire/cloak"
	"github.com/ghostwire/ghostwire/identity"
)

// Implementation constants.
const (
	// refreshEvery is how often the advert is checked against the window
	// and the peer list: a peer added to the contacts can find the node
	// this long after, and a rotation is late by at most this much. Each
	// check costs a call of Config.Peers and one HMAC per peer.
	refreshEvery = 5 * time.Second
	// maxAdverts bounds the adverts remembered from the link, so that a
	// host flooding it with adverts costs bounded memory. The oldest goes
	// first.
	maxAdverts = 256
)

// ErrNotSeen means Dial has no address for the peer: no advert of it is
// on the link now and none was given with AddPeer.
var ErrNotSeen = errors.New("lan: peer not seen on the link")

// Config configures a Transport. It must not be changed after New.
type Config struct {
	// Interface names the network interface LAN mode uses. Empty means
	// the one usable interface with a private or link-local address;
	// when there are several, New fails and lists them.
	Interface string
	// Listen is where peers connect. A zero address means the interface's
	// first private IPv4 address (else its IPv6 link-local one); a zero
	// port, one the system picks (the advert carries it either way).
	Listen netip.AddrPort
	// Peers lists whom the node advertises to and recognises: the
	// identities it already knows. It is called every few seconds and
	// on every Dial and Status, so it must be cheap and safe for
	// concurrent use. Nil means nobody: peers are then reached only at
	// addresses given to AddPeer.
	Peers func() []identity.ID
	// Logger receives the transport's logs; nil discards them.
	Logger *slog.Logger
	// Rand is the source of instance names, host labels and padding
	// tokens; nil means crypto/rand.
	Rand io.Reader
	// Now is the clock that picks the advert window; nil means time.Now.
	Now func() time.Time
}

// Transport is LAN mode's cloak.Transport: direct TCP on one interface,
// peers found by private mDNS adverts (docs/protocol.md §12). It is safe
// for concurrent use. Listen must come first: the identity key it is given
// is what adverts are made and recognised with, so Dial finds no one
// before it.
type Transport struct {
	cfg    Config
	policy cloak.Policy
	// link is the interface with its current networks and address: Listen
	// reads it afresh, and the listener's watcher replaces it when the
	// interface's address changes (watchAddress). Its interface name never
	// changes.
	link atomic.Pointer[link]
	log  *slog.Logger

	// refresh is refreshEvery; tests shorten it to see a rotation.
	refresh time.Duration

	// ctx ends when Close is called; every Browse ends with it.
	ctx    context.Context
	cancel context.CancelFunc

	mu struct {
		sync.Mutex
		closed  bool
		ln      *listener        // the open listener, nil if none
		me      *ecdh.PrivateKey // X25519 form of the identity key from Listen
		self    identity.ID
		secrets map[identity.ID][]byte         // pair secrets, by peer
		adverts map[string]sighting            // by instance name
		manual  map[identity.ID]netip.AddrPort // AddPeer
	}
}

// sighting is one advert seen on the link.
type sighting struct {
	adv    Advert
	addr   netip.AddrPort
	seen   time.Time
	expiry time.Time
}

var (
	_ cloak.Transport = (*Transport)(nil)
	_ cloak.Pairer    = (*Transport)(nil)
)

// New prepares a LAN transport on the interface cfg names; it opens no
// socket until Listen. It fails, saying what to choose, if the interface
// cannot be found or has no private address.
func New(cfg Config) (*Transport, error) {
	l, err := chooseLink(cfg.Interface, cfg.Listen.Addr())
	if err != nil {
		return nil, err
	}
	t := &Transport{cfg: cfg, policy: cloak.Policy{Mode: cloak.ModeLAN}, log: cfg.Logger, refresh: refreshEvery}
	t.link.Store(&l)
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if t.cfg.Rand == nil {
		t.cfg.Rand = rand.Reader
	}
	if t.cfg.Now == nil {
		t.cfg.Now = time.Now
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.mu.secrets = map[identity.ID][]byte{}
	t.mu.adverts = map[string]sighting{}
	t.mu.manual = map[identity.ID]netip.AddrPort{}
	return t, nil
}

// lk is the link as it is now.
func (t *Transport) lk() *link { return t.link.Load() }

// Mode is cloak.ModeLAN.
func (t *Transport) Mode() cloak.Mode { return cloak.ModeLAN }

// Interface is the name of the interface the transport uses.
func (t *Transport) Interface() string { return t.lk().iface.Name }

// Listen accepts peers on the interface and starts advertising key's
// presence to the known peers and browsing for theirs. Only one listener
// is open at a time; closing it stops the advert and the browsing.
func (t *Transport) Listen(ctx context.Context, key *identity.PrivateKey) (cloak.Listener, error) {
	if err := errors.Join(t.policy.Check(cloak.TCPListen), t.policy.Check(cloak.MDNS)); err != nil {
		return nil, err
	}
	me, err := x25519Key(key)
	if err != nil {
		return nil, fmt.Errorf("lan: identity key: %w", err)
	}
	// The interface's address may have changed since New or the last
	// listener (DHCP): listen where it is now.
	l, err := chooseLink(t.lk().iface.Name, t.cfg.Listen.Addr())
	if err != nil {
		return nil, err
	}
	t.link.Store(&l)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.closed {
		return nil, net.ErrClosed
	}
	if t.mu.ln != nil {
		return nil, errors.New("lan: bug: Listen while a listener is open")
	}
	port := t.cfg.Listen.Port()
	lc := net.ListenConfig{Control: bindToDevice(t.lk().iface.Name)}
	inner, err := lc.Listen(ctx, "tcp", netip.AddrPortFrom(t.lk().addr, port).String())
	if err != nil {
		return nil, fmt.Errorf("lan: listening on %s: %w", t.lk().iface.Name, err)
	}
	if err := t.checkOnLink(inner.Addr()); err != nil {
		inner.Close()
		return nil, fmt.Errorf("lan: listener: %w", err)
	}
	if t.mu.self != key.ID() {
		clear(t.mu.secrets)
	}
	t.mu.me, t.mu.self = me, key.ID()
	lctx, cancel := context.WithCancel(t.ctx)
	ln := &listener{Listener: inner, t: t, ctx: lctx, cancel: cancel, advertised: make(chan struct{})}
	t.mu.ln = ln
	lport := uint16(inner.Addr().(*net.TCPAddr).Port)
	ln.wg.Add(3)
	go func() {
		defer ln.wg.Done()
		t.watchAddress(lctx, ln, l.addr)
	}()
	go func() {
		defer ln.wg.Done()
		t.advertise(lctx, lport, ln.advertised)
	}()
	go func() {
		defer ln.wg.Done()
		if err := t.browse(lctx, ServiceType, t.noticeAdvert); err != nil && lctx.Err() == nil {
			t.log.Warn("lan: browsing the link failed; peers will be found only by their own dials", "interface", t.lk().iface.Name, "err", err)
		}
	}()
	return ln, nil
}

// checkOnLink is cloak's LAN rule for this transport's interface.
func (t *Transport) checkOnLink(a net.Addr) error {
	return t.policy.CheckOnLink(a, t.lk().prefixes, t.lk().iface.Name)
}

// Dial connects to peer at the address its latest advert on the link
// gave, or else at the address given to AddPeer. Without either it fails
// with ErrNotSeen, at once: the node's redial loop tries again later.
func (t *Transport) Dial(ctx context.Context, peer identity.ID) (net.Conn, error) {
	if err := t.policy.Check(cloak.TCPDial); err != nil {
		return nil, err
	}
	s, ok := t.find(peer)
	addr := s.addr
	if !ok {
		t.mu.Lock()
		addr, ok = t.mu.manual[peer]
		t.mu.Unlock()
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s (no advert on %s, no address added)", ErrNotSeen, peer.Short(), t.lk().iface.Name)
	}
	return t.DialAddr(ctx, addr)
}

// DialAddr connects to addr on the interface, whoever is there: for a
// pairing connection, whose far end has no identity the node knows yet,
// and for addresses a user typed. The handshake (docs/protocol.md §3)
// decides who it is; this only refuses addresses off the link.
func (t *Transport) DialAddr(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	if err := t.policy.Check(cloak.TCPDial); err != nil {
		return nil, err
	}
	addr = t.zoned(addr)
	if err := t.checkOnLink(net.TCPAddrFromAddrPort(addr)); err != nil {
		return nil, fmt.Errorf("lan: dialing %s: %w", addr, err)
	}
	d := net.Dialer{Control: bindToDevice(t.lk().iface.Name)}
	c, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return nil, fmt.Errorf("lan: dialing %s: %w", addr, err)
	}
	return c, nil
}

// zoned gives a link-local IPv6 address without a zone the interface's.
func (t *Transport) zoned(a netip.AddrPort) netip.AddrPort {
	if ip := a.Addr(); ip.Is6() && ip.IsLinkLocalUnicast() && ip.Zone() == "" {
		return netip.AddrPortFrom(ip.WithZone(t.lk().iface.Name), a.Port())
	}
	return a
}

// AddPeer records where peer can be dialed when its advert is not seen
// (multicast blocked, or it does not know us yet). It fails if addr is not
// on the interface's networks. An advert seen on the link takes
// precedence: it is newer.
func (t *Transport) AddPeer(peer identity.ID, addr netip.AddrPort) error {
	addr = t.zoned(addr)
	if err := t.checkOnLink(net.TCPAddrFromAddrPort(addr)); err != nil {
		return fmt.Errorf("lan: peer address %s: %w", addr, err)
	}
	t.mu.Lock()
	t.mu.manual[peer] = addr
	t.mu.Unlock()
	return nil
}

// Sighting is a known peer recognised on the link.
type Sighting struct {
	Peer identity.ID
	Addr netip.AddrPort // where its advert says it listens
	Seen time.Time      // when the advert was last received
}

// Sightings lists the known peers (Config.Peers) whose adverts are on the
// link now, in the order Config.Peers gave them.
func (t *Transport) Sightings() []Sighting {
	var out []Sighting
	for _, p := range t.peers() {
		if s, ok := t.find(p); ok {
			out = append(out, Sighting{Peer: p, Addr: s.addr, Seen: s.seen})
		}
	}
	return out
}

// Status reports, in Phase, the interface, the listening address and
// how many known peers are on the link (no peer is named: status output
// is often pasted into bug reports). Ready means Dial can find peers
// (Listen was called); Reachable, that the advert is published.
func (t *Transport) Status() cloak.Status {
	st := cloak.Status{Mode: cloak.ModeLAN.String()}
	t.mu.Lock()
	ln := t.mu.ln
	t.mu.Unlock()
	if ln == nil {
		st.Phase = fmt.Sprintf("interface %s, not listening", t.lk().iface.Name)
		return st
	}
	st.Ready, st.Progress = true, 100
	select {
	case <-ln.advertised:
		st.Reachable = true
	default:
	}
	st.Phase = fmt.Sprintf("interface %s, listening on %s, %d known peers seen", t.lk().iface.Name, ln.Addr(), len(t.Sightings()))
	return st
}

// Close stops the listener, the advert (sending its goodbye) and every
// Browse, and waits for them. It is idempotent.
func (t *Transport) Close() error {
	t.mu.Lock()
	t.mu.closed = true
	ln := t.mu.ln
	t.mu.Unlock()
	t.cancel()
	if ln != nil {
		ln.Close()
	}
	return nil
}

// peers is Config.Peers without our own identity, zero IDs or repeats.
func (t *Transport) peers() []identity.ID {
	if t.cfg.Peers == nil {
		return nil
	}
	t.mu.Lock()
	self := t.mu.self
	t.mu.Unlock()
	var out []identity.ID
	for _, p := range t.cfg.Peers() {
		if !p.IsZero() && p != self && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// secret returns the pair secret with peer, computing it once. The caller
// holds t.mu; the key must be set (Listen was called).
func (t *Transport) secretLocked(peer identity.ID) ([]byte, error) {
	if s, ok := t.mu.secrets[peer]; ok {
		return s, nil
	}
	s, err := pairSecret(t.mu.me, t.mu.self, peer)
	if err != nil {
		return nil, err
	}
	t.mu.secrets[peer] = s
	return s, nil
}

// find returns the freshest unexpired advert that carries one of peer's
// tokens for the current window or either neighbour (clocks differ, and
// an advert published just before a boundary lives past it).
func (t *Transport) find(peer identity.ID) (sighting, bool) {
	now := t.cfg.Now()
	w := window(now)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.me == nil {
		return sighting{}, false
	}
	sec, err := t.secretLocked(peer)
	if err != nil {
		return sighting{}, false
	}
	low := peer.Compare(t.mu.self) < 0 // the advertiser is peer
	want := []Token{advertToken(sec, w-1, low), advertToken(sec, w, low), advertToken(sec, w+1, low)}
	var best sighting
	found := false
	for _, s := range t.mu.adverts {
		if now.After(s.expiry) || (found && !s.seen.After(best.seen)) {
			continue
		}
		if slices.ContainsFunc(want, s.adv.Has) {
			best, found = s, true
		}
	}
	return best, found
}

// listener is the transport's cloak.Listener. It owns the advertising and
// browsing goroutines, which run while it is open.
type listener struct {
	net.Listener
	t          *Transport
	ctx        context.Context    // ends when the listener closes
	cancel     context.CancelFunc // stops the goroutines
	advertised chan struct{}      // closed once the first advert is published
	wg         sync.WaitGroup
	once       sync.Once
}

// Accept returns the next connection from the interface's networks;
// others (possible only through a misrouted packet, since the socket is
// bound to the interface) are closed and skipped.
func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if err := l.t.checkOnLink(c.RemoteAddr()); err != nil {
			l.t.log.Warn("lan: refused a connection from off the link", "err", err)
			c.Close()
			continue
		}
		return c, nil
	}
}

// WaitReachable returns once the first advert is published.
func (l *listener) WaitReachable(ctx context.Context) error {
	select {
	case <-l.advertised:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-l.t.ctx.Done():
		return net.ErrClosed
	}
}

// Close stops accepting, then stops the advert and any Publish (their
// goodbyes go out) and browsing, and waits for them. It is idempotent.
func (l *listener) Close() error {
	var err error
	l.once.Do(func() {
		// Unlisted first, so Publish cannot add to wg after Wait.
		l.t.mu.Lock()
		if l.t.mu.ln == l {
			l.t.mu.ln = nil
		}
		l.t.mu.Unlock()
		err = l.Listener.Close()
		l.cancel()
		l.wg.Wait()
	})
	return err
}

// watchAddress checks the interface every refresh period until ctx ends.
// When the address the listener is bound to (addr) is no longer the one
// the interface would be listened on — a DHCP renewal to a new address,
// the address removed — it records the new link and closes the inner
// listener, so Accept fails and the node listens again (at the new
// address, with a new advert); the old advert's goodbye goes out as the
// listener closes. A change of networks alone only updates the link.
func (t *Transport) watchAddress(ctx context.Context, ln *listener, addr netip.Addr) {
	tick := time.NewTicker(t.refresh)
	defer tick.Stop()
	name := t.lk().iface.Name
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var now link
		ok := false
		if ifc, err := net.InterfaceByName(name); err == nil && usable(*ifc) {
			now, ok = linkOf(*ifc, t.cfg.Listen.Addr())
		}
		if ok && now.addr == addr {
			if !slices.Equal(now.prefixes, t.lk().prefixes) {
				t.link.Store(&now)
			}
			continue
		}
		if ok {
			t.link.Store(&now)
		}
		t.log.Info("lan: the interface's address changed; listening again", "interface", name, "usable", ok)
		ln.Listener.Close()
		return
	}
}
