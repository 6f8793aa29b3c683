package lan

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/ghostwire/ghostwire/cloak"
	"github.com/libp2p/zeroconf/v2"
)

// mdnsDomain is the only domain LAN mode uses: the link's.
const mdnsDomain = "local."

// advertise keeps the node's advert (docs/protocol.md §12) on the link
// until ctx ends: a fresh instance name, host label and token set at each
// window, and whenever the known peers change. The old advert is
// withdrawn (a goodbye packet) before the new one is published, so two of
// ours never overlap on the link to be linked by an observer.
func (t *Transport) advertise(ctx context.Context, port uint16, advertised chan struct{}) {
	var (
		stop   func()
		cur    []Token
		curWin uint64
	)
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	tick := time.NewTicker(t.refresh)
	defer tick.Stop()
	for {
		w := window(t.cfg.Now())
		toks := t.ownTokens(w)
		if stop == nil || w != curWin || !slices.Equal(toks, cur) {
			if stop != nil {
				stop()
				stop = nil
			}
			adv, err := newAdvert(toks, t.cfg.Rand)
			if err == nil {
				var inst string
				if inst, err = randomLabel(t.cfg.Rand); err == nil {
					stop, err = t.publish(ServiceType, inst, port, adv.Text())
				}
			}
			if err != nil {
				t.log.Warn("lan: cannot advertise on the link; retrying", "interface", t.lk().iface.Name, "err", err, "retry_in", t.refresh)
			} else {
				cur, curWin = toks, w
				t.log.Debug("lan: advert published", "interface", t.lk().iface.Name, "tokens", len(adv.Tokens))
				select {
				case <-advertised:
				default:
					close(advertised)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// ownTokens is this node's real tokens for window w, one per known peer,
// sorted. With more than MaxTokens peers, the first MaxTokens in token
// order are kept: tokens change every window, so which peers are left out
// changes too, and each is named in most windows.
func (t *Transport) ownTokens(w uint64) []Token {
	peers := t.peers()
	t.mu.Lock()
	defer t.mu.Unlock()
	var toks []Token
	for _, p := range peers {
		sec, err := t.secretLocked(p)
		if err != nil {
			t.log.Debug("lan: no pair secret with a peer", "peer", p, "err", err)
			continue
		}
		toks = append(toks, advertToken(sec, w, t.mu.self.Compare(p) < 0))
	}
	slices.SortFunc(toks, func(a, b Token) int { return bytes.Compare(a[:], b[:]) })
	return toks[:min(len(toks), MaxTokens)]
}

// publish puts a service on the link under a fresh random host label (the
// machine's hostname is never used), at the interface's address and port,
// and returns what withdraws it.
func (t *Transport) publish(serviceType, instance string, port uint16, txt []string) (stop func(), err error) {
	if err := t.policy.Check(cloak.MDNS); err != nil {
		return nil, err
	}
	host, err := randomLabel(t.cfg.Rand)
	if err != nil {
		return nil, err
	}
	srv, err := zeroconf.RegisterProxy(instance, serviceType, mdnsDomain, int(port), host,
		[]string{t.lk().addr.WithZone("").String()}, txt, []net.Interface{t.lk().iface}, zeroconf.TTL(advertTTL))
	if err != nil {
		return nil, fmt.Errorf("lan: publishing on %s: %w", t.lk().iface.Name, err)
	}
	return srv.Shutdown, nil
}

// Publish puts a service of serviceType named instance on the link,
// pointing at the open listener, until stop is called or the listener
// closes; stop sends the goodbye before it returns and may be called more
// than once. It is the seam for pairing (docs/protocol.md §12.5): the
// instance name and TXT are the caller's, and must name nothing but the
// pairing attempt.
func (t *Transport) Publish(serviceType, instance string, txt []string) (stop func(), err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ln := t.mu.ln
	if ln == nil {
		return nil, fmt.Errorf("lan: publishing %s before Listen", serviceType)
	}
	shutdown, err := t.publish(serviceType, instance, uint16(ln.Addr().(*net.TCPAddr).Port), txt)
	if err != nil {
		return nil, err
	}
	var once sync.Once
	stopped := make(chan struct{})
	stop = func() {
		once.Do(func() {
			close(stopped)
			shutdown()
		})
	}
	// The listener waits for this goroutine, and listener.Close clears
	// t.mu.ln before waiting, so no Add can follow its Wait.
	ln.wg.Add(1)
	go func() {
		defer ln.wg.Done()
		select {
		case <-ln.ctx.Done():
			stop()
		case <-stopped:
		}
	}()
	return stop, nil
}

// Service is a DNS-SD service seen on the link.
type Service struct {
	Instance string
	Text     []string
	Addrs    []netip.AddrPort // on the interface's networks only
}

// Browse calls found, from one goroutine, for each service of
// serviceType that appears on the link, until ctx ends or the transport
// closes; it returns nil then, and an error if browsing could not start.
// Services whose addresses are all off the link are not reported. It is
// the seam pairing uses to find a pairing advert.
func (t *Transport) Browse(ctx context.Context, serviceType string, found func(Service)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(t.ctx, cancel)()
	return t.browse(ctx, serviceType, func(e *zeroconf.ServiceEntry) {
		if s, ok := t.service(e); ok {
			found(s)
		}
	})
}

// browse runs a DNS-SD browse for serviceType on the interface until ctx
// ends, calling found for each entry in this goroutine's companion.
func (t *Transport) browse(ctx context.Context, serviceType string, found func(*zeroconf.ServiceEntry)) error {
	if err := t.policy.Check(cloak.MDNS); err != nil {
		return err
	}
	traffic := zeroconf.IPv4
	if t.lk().addr.Is6() {
		traffic = zeroconf.IPv6
	}
	entries := make(chan *zeroconf.ServiceEntry)
	returned := make(chan struct{})
	done := make(chan struct{})
	// zeroconf closes entries when a started browse ends, but not when it
	// fails to start; returned covers that case. Once Browse returns,
	// nothing more is sent on entries.
	go func() {
		defer close(done)
		for {
			select {
			case e, ok := <-entries:
				if !ok {
					return
				}
				found(e)
			case <-returned:
				return
			}
		}
	}()
	err := zeroconf.Browse(ctx, serviceType, mdnsDomain, entries,
		zeroconf.SelectIfaces([]net.Interface{t.lk().iface}), zeroconf.SelectIPTraffic(traffic))
	close(returned)
	<-done
	if err != nil {
		return fmt.Errorf("lan: browsing on %s: %w", t.lk().iface.Name, err)
	}
	return nil
}

// service reads an entry's addresses, keeping those on the link.
func (t *Transport) service(e *zeroconf.ServiceEntry) (Service, bool) {
	s := Service{Instance: e.Instance, Text: slices.Clone(e.Text)}
	if e.Port <= 0 || e.Port > 65535 {
		return s, false
	}
	for _, ip := range append(slices.Clone(e.AddrIPv4), e.AddrIPv6...) {
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			continue
		}
		ap := t.zoned(netip.AddrPortFrom(a.Unmap(), uint16(e.Port)))
		if t.checkOnLink(net.TCPAddrFromAddrPort(ap)) == nil {
			s.Addrs = append(s.Addrs, ap)
		}
	}
	return s, len(s.Addrs) > 0
}

// noticeAdvert remembers an advert seen on the link. Adverts are kept
// whoever they belong to, and recognised only when a peer is looked for
// (find): a peer added to the contacts after its advert went by is then
// still found.
func (t *Transport) noticeAdvert(e *zeroconf.ServiceEntry) {
	adv, err := ParseAdvert(e.Text)
	if err != nil {
		t.log.Debug("lan: skipping a service that is not a valid advert", "err", err)
		return
	}
	s, ok := t.service(e)
	if !ok {
		t.log.Debug("lan: skipping an advert with no address on the link")
		return
	}
	now := t.cfg.Now()
	// zeroconf reports an advert again only after its own copy expires,
	// so ours lives one TTL longer than the record's.
	expiry := now
	if e.Expiry.After(now) {
		expiry = e.Expiry
	}
	expiry = expiry.Add(advertTTL * time.Second)
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.mu.adverts[e.Instance]; !ok && len(t.mu.adverts) >= maxAdverts {
		t.evictLocked(now)
	}
	t.mu.adverts[e.Instance] = sighting{adv: adv, addr: s.Addrs[0], seen: now, expiry: expiry}
}

// evictLocked drops expired adverts, and the oldest if none had expired.
func (t *Transport) evictLocked(now time.Time) {
	var oldest string
	for k, s := range t.mu.adverts {
		if now.After(s.expiry) {
			delete(t.mu.adverts, k)
			continue
		}
		if oldest == "" || s.seen.Before(t.mu.adverts[oldest].seen) {
			oldest = k
		}
	}
	if len(t.mu.adverts) >= maxAdverts {
		delete(t.mu.adverts, oldest)
	}
}
