package node

// Pairing by code (LAN mode, docs/protocol.md §12.5): the node shows a
// code and answers attempts at it, or joins another device's attempt. The
// protocol is package pairing's; the transport's part (the pairing advert,
// dialing an address) is reached through cloak's guard.

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/ghostwire/ghostwire/cloak"
	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/pairing"
	"github.com/ghostwire/ghostwire/syncproto"
)

type (
	PairOffer  = apitype.PairOffer
	PairResult = apitype.PairResult
)

// Implementation constants.
const (
	// pairAttemptTimeout bounds one attempt after its handshake: four
	// small messages on a LAN.
	pairAttemptTimeout = 20 * time.Second
	// findPairingTimeout is how long a joiner looks for the attempt on
	// the link: an mDNS answer comes within a second or two.
	findPairingTimeout = 10 * time.Second
)

// pairState is the code the node shows, if any; mu guards cur.
type pairState struct {
	mu  sync.Mutex
	cur *offerState
}

// offerState is one code shown and how it ended.
type offerState struct {
	offer *pairing.Offer
	as    string // the name we give ourselves
	stop  func() // withdraws the pairing advert; idempotent
	timer *time.Timer
	done  chan struct{} // closed once res or err is set
	once  sync.Once
	res   *PairResult
	err   error
}

// finish records how the offer ended and withdraws its advert.
func (s *offerState) finish(res *PairResult, err error) {
	s.once.Do(func() {
		s.res, s.err = res, err
		s.stop()
		s.timer.Stop()
		close(s.done)
	})
}

// pairer is the transport's pairing side, or a user error in Tor mode.
func (n *Node) pairer() (cloak.Pairer, error) {
	if g, ok := n.cfg.Transport.(interface{ Pairer() (cloak.Pairer, bool) }); ok {
		if p, ok := g.Pairer(); ok {
			return p, nil
		}
	}
	return nil, fault.Invalidf("start the node with 'ghostwire run --lan'", "pairing by code works in LAN mode only; in Tor mode add peers by onion address")
}

// OfferPairing shows a new code (replacing any shown before) and
// advertises the attempt on the link until the code is used or expires.
// as is the name this node gives itself to the other device.
func (n *Node) OfferPairing(as string) (*PairOffer, error) {
	p, err := n.pairer()
	if err != nil {
		return nil, err
	}
	code, err := pairing.GenerateCode(n.cfg.Rand)
	if err != nil {
		return nil, err
	}
	stop, err := p.AdvertisePairing(code.Nameplate)
	if err != nil {
		return nil, fault.New(fault.Busy, "wait until 'ghostwire status' shows the node listening, then try again", "cannot advertise the pairing attempt: %v", err)
	}
	st := &offerState{offer: pairing.NewOffer(code, n.cfg.Now), as: as, stop: stop, done: make(chan struct{})}
	st.timer = time.AfterFunc(pairing.Lifetime, func() {
		st.finish(nil, fault.New(fault.NotFound, "run 'ghostwire pair' again for a new code", "the code expired before another device used it"))
	})
	n.pair.mu.Lock()
	old := n.pair.cur
	n.pair.cur = st
	n.pair.mu.Unlock()
	if old != nil {
		old.finish(nil, fault.Invalidf("use the newest code", "a newer code replaced this one"))
	}
	n.log.Info("pairing code shown", "nameplate", code.Nameplate, "expires", st.offer.Expires())
	return &PairOffer{Code: code.String(), Nameplate: code.Nameplate, Expires: st.offer.Expires()}, nil
}

// WaitPairing waits until the code shown now pairs, fails for good or
// expires, or ctx ends.
func (n *Node) WaitPairing(ctx context.Context) (*PairResult, error) {
	n.pair.mu.Lock()
	st := n.pair.cur
	n.pair.mu.Unlock()
	if st == nil {
		return nil, fault.NotFoundf("run 'ghostwire pair' to show a code", "no pairing code is shown")
	}
	select {
	case <-st.done:
		return st.res, st.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// pairingOpen reports whether a code is shown and can still be tried:
// only then does the listener accept connections of purpose pairing.
func (n *Node) pairingOpen() *offerState {
	n.pair.mu.Lock()
	defer n.pair.mu.Unlock()
	if n.pair.cur != nil && n.pair.cur.offer.Open() {
		return n.pair.cur
	}
	return nil
}

// servePairing answers one attempt at the shown code on an accepted
// connection of purpose pairing.
func (n *Node) servePairing(ctx context.Context, conn *syncproto.Conn, remote net.Addr) {
	defer conn.Close()
	st := n.pairingOpen()
	if st == nil {
		return
	}
	var source netip.Addr
	if a, ok := remote.(*net.TCPAddr); ok {
		source = a.AddrPort().Addr().Unmap()
	}
	actx, cancel := context.WithTimeout(ctx, pairAttemptTimeout)
	defer cancel()
	var stored *PairResult
	_, err := st.offer.Respond(actx, conn, pairing.Config{Self: n.id, Name: st.as, Rand: n.cfg.Rand, Store: func(r *pairing.Result) error {
		var err error
		stored, err = n.addPaired(r, "")
		return err
	}}, source)
	switch {
	case err == nil:
		n.log.Info("paired by code", "peer", stored.Peer.Onion)
		st.finish(stored, nil)
	case errors.Is(err, pairing.ErrBusy) || errors.Is(err, pairing.ErrExpired):
		n.log.Debug("pairing attempt refused", "err", err)
	default:
		n.log.Info("pairing attempt failed", "err", err, "tries_left", st.offer.TriesLeft())
		if !st.offer.Open() {
			st.finish(nil, fault.Invalidf("run 'ghostwire pair' again for a new code, and check it is typed exactly", "%d attempts failed, so the code is dead (the last: %v)", pairing.MaxAttempts, err))
		}
	}
}

// JoinPairing pairs with the device showing code: it finds the attempt on
// the link, connects, and runs the joiner's side. as is the name this node
// gives itself; name, if set, is the local name for the other device
// (else the name it gave).
func (n *Node) JoinPairing(ctx context.Context, code, as, name string) (*PairResult, error) {
	p, err := n.pairer()
	if err != nil {
		return nil, err
	}
	c, err := pairing.ParseCode(code)
	if err != nil {
		return nil, fault.Invalidf("type the code the other device shows, such as 47-382915", "%v", err)
	}
	fctx, cancel := context.WithTimeout(ctx, findPairingTimeout)
	addr, err := p.FindPairing(fctx, c.Nameplate)
	cancel()
	if err != nil {
		return nil, fault.NotFoundf("check the code; if it expired or took 3 wrong tries, the other device must show a new one ('ghostwire pair'); "+
			"both must be on the same network, and if it blocks multicast, add each other with 'ghostwire peer add <onion> --lan ADDR:PORT'", "%v", err)
	}
	actx, cancel := context.WithTimeout(ctx, pairAttemptTimeout)
	defer cancel()
	raw, err := p.DialAddr(actx, addr)
	if err != nil {
		return nil, err
	}
	cfg := n.handshakeConfig()
	cfg.Purpose = syncproto.PurposePairing
	conn, err := syncproto.Client(actx, raw, cfg, identity.ID{})
	if err != nil {
		return nil, fault.New(fault.Busy, "check the code is still shown on the other device, and try again", "the pairing connection failed: %v", err)
	}
	defer conn.Close()
	r, err := pairing.Join(actx, conn, c, pairing.Config{Self: n.id, Name: as, Rand: n.cfg.Rand})
	switch {
	case errors.Is(err, pairing.ErrWrongCode):
		return nil, fault.Invalidf("check the code on the other device and type it again; after 3 wrong tries it shows a new one", "%v", err)
	case errors.Is(err, pairing.ErrRefused):
		return nil, fault.New(fault.Busy, "the code may be used up or expired: run 'ghostwire pair' there again; or wait a few seconds and retry", "%v", err)
	case err != nil:
		return nil, err
	}
	res, err := n.addPaired(r, name)
	if err != nil {
		return nil, err
	}
	// Where it answered is where it listens: sync can start at once,
	// before its advert for us is seen.
	if err := p.AddPeer(r.Peer, addr); err != nil {
		n.log.Warn("cannot remember the paired device's address", "err", err)
	}
	n.urge(r.Peer)
	n.log.Info("paired by code", "peer", r.Peer)
	return res, nil
}

// addPaired stores the device paired with as a contact marked paired: by
// name if given, else by the name it gave if that is free and showable,
// else with none. A device already a contact keeps its name.
func (n *Node) addPaired(r *pairing.Result, name string) (*PairResult, error) {
	if name == "" && !n.isPeer(r.Peer) {
		name = r.Name
	}
	if _, err := n.AddPeer(r.Peer, name); err != nil {
		if name == "" || fault.KindOf(err) != fault.Invalid {
			return nil, err
		}
		n.log.Info("the paired device's name is taken or not showable; stored without one", "err", err)
		if _, err := n.AddPeer(r.Peer, ""); err != nil {
			return nil, err
		}
	}
	if err := n.contacts.MarkPaired(r.Peer); err != nil {
		return nil, err
	}
	p, err := n.peer(r.Peer)
	if err != nil {
		return nil, err
	}
	return &PairResult{Peer: *p, SafetyNumber: r.SafetyNumber}, nil
}

// SetPeerLAN records where a peer can be dialed in LAN mode when its
// advert is not seen, and tells the transport if it is LAN mode's.
func (n *Node) SetPeerLAN(id identity.ID, addr netip.AddrPort) error {
	if err := n.contacts.SetLAN(id, addr); err != nil {
		return err
	}
	return n.tellLANAddrs(id)
}

// tellLANAddrs gives the transport the addresses stored for the peers
// named (all, if none is), in LAN mode.
func (n *Node) tellLANAddrs(only ...identity.ID) error {
	p, err := n.pairer()
	if err != nil {
		return nil // Tor mode: the addresses wait for a LAN run
	}
	cs, err := n.contacts.List()
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range cs {
		if !c.LAN.IsValid() || (len(only) > 0 && c.ID != only[0]) {
			continue
		}
		if err := p.AddPeer(c.ID, c.LAN); err != nil {
			errs = append(errs, fault.Invalidf("give an address on the LAN interface's network", "%v", err))
		}
	}
	return errors.Join(errs...)
}
