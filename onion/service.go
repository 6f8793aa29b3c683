package onion

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"strings"
	"syscall"

	"github.com/cretz/bine/control"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/onion/internal/torctl"
)

// VirtualPort is the onion-service port GhostWire listens on and dials
// (docs/protocol.md §7.3).
const VirtualPort = 443

// Service is an onion service published from an identity key. It stays
// registered with its Tor until Close: when tor restarts, it is published
// again. Methods are safe for concurrent use.
type Service struct {
	t      *Tor
	id     identity.ID
	key    [64]byte // the ED25519-V3 expanded key; zeroed by Close
	target string

	// Guarded by t.mu. reachable is closed on the first HS_DESC UPLOADED
	// of the current publication and replaced when tor goes away.
	reachable chan struct{}
	uploaded  bool
	serviceID string // what tor's ADD_ONION answered, "" until then
	pow       bool   // tor accepted PoWDefensesEnabled=1 for it
	closed    bool
}

// Publish registers an onion service for key whose virtual port VirtualPort
// forwards to target, "unix:/path" (what Listen uses) or a loopback
// "ip:port". If tor is up it is added at
// once, and an error from tor is returned; if not, it is added when tor
// comes up. The service is reachable once tor reports the descriptor
// uploaded (WaitReachable). ctx bounds only this call.
func (t *Tor) Publish(ctx context.Context, key *identity.PrivateKey, target string) (*Service, error) {
	if key == nil {
		return nil, errors.New("onion: publish: nil key")
	}
	if _, _, err := torctl.Addr(target); err != nil {
		return nil, fmt.Errorf("onion: publish: target: %w", err)
	}
	s := &Service{t: t, id: key.ID(), key: key.TorExpandedKey(), target: target, reachable: make(chan struct{})}
	t.mu.Lock()
	t.services[s] = struct{}{}
	t.authKey, t.haveAuthKey = clientAuthPrivate(key), true
	sess := t.sess
	t.mu.Unlock()
	if sess == nil {
		t.log.Info("onion: tor not up yet; service will be published when it is", "service", s.id)
		return s, nil
	}
	if err := t.addOnion(sess, s); err != nil && !errors.Is(err, ErrTorUnavailable) {
		s.Close()
		return nil, err
	}
	return s, nil
}

// addOnion publishes s on sess (docs/protocol.md §7.1). The onion lives as
// long as the command connection (no Detach flag), so it vanishes with us.
//
// The proof-of-work defence is asked for (PoWDefensesEnabled=1, tor ≥
// 0.4.9.2): under an introduction flood tor then serves first the clients
// that solved a puzzle, so a flood costs the attacker CPU rather than
// locking peers out; at rest it costs nothing. A tor that rejects the
// option gets the request again without it, and a note in the log.
func (t *Tor) addOnion(sess *session, s *Service) error {
	t.mu.Lock()
	if s.closed {
		t.mu.Unlock()
		return nil
	}
	blob := base64.StdEncoding.EncodeToString(s.key[:])
	peers := t.peers
	t.mu.Unlock()
	flags, auth := "Flags=DiscardPK", ""
	if t.cfg.OnlyPeers {
		var err error
		if auth, err = clientAuthArgs(peers); err != nil {
			return err
		}
		flags += ",V3Auth"
	}
	req := func(pow bool) (*control.Response, error) {
		opts := flags
		if pow {
			opts += " PoWDefensesEnabled=1"
		}
		opts += auth
		sess.cmdMu.Lock()
		defer sess.cmdMu.Unlock()
		return sess.cmd.SendRequest("ADD_ONION ED25519-V3:%s %s Port=%d,%s", blob, opts, VirtualPort, s.target)
	}
	pow := true
	resp, err := req(true)
	var ce *textproto.Error
	if errors.As(err, &ce) && (ce.Code == 512 || ce.Code == 552) && strings.Contains(ce.Msg, "PoW") {
		t.log.Info("onion: this tor does not offer the onion-service proof-of-work defence (tor 0.4.9.2 or later does); publishing without it", "service", s.id, "tor", ce.Msg)
		pow = false
		resp, err = req(false)
	}
	if err != nil {
		return fmt.Errorf("onion: ADD_ONION for %s: %w", s.id.Short(), err)
	}
	serviceID := ""
	for _, l := range resp.Data {
		if v, ok := strings.CutPrefix(l, "ServiceID="); ok {
			serviceID = v
		}
	}
	if serviceID != s.id.Onion() {
		// Tor derived another address from our key: never run a service
		// whose address is not our identity.
		if serviceID != "" {
			sess.cmdMu.Lock()
			sess.cmd.DelOnion(serviceID)
			sess.cmdMu.Unlock()
		}
		return fmt.Errorf("onion: bug: tor published %q for identity %s", serviceID, s.id.Short())
	}
	t.mu.Lock()
	s.serviceID = serviceID
	s.pow = pow
	t.mu.Unlock()
	t.log.Info("onion: service added, waiting for descriptor upload", "service", s.id, "pow_defence", pow, "only_peers", t.cfg.OnlyPeers, "authorised", len(peers))
	return nil
}

// republish adds every registered service on a new session.
func (t *Tor) republish(sess *session) {
	t.mu.Lock()
	var all []*Service
	for s := range t.services {
		all = append(all, s)
	}
	t.mu.Unlock()
	for _, s := range all {
		if err := t.addOnion(sess, s); err != nil {
			t.log.Error("onion: republishing service", "service", s.id, "err", err)
		}
	}
}

// markUploaded records an HS_DESC UPLOADED event for a service id.
func (t *Tor) markUploaded(serviceID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for s := range t.services {
		if s.serviceID == serviceID && !s.uploaded {
			s.uploaded = true
			close(s.reachable)
			t.log.Info("onion: service reachable (descriptor uploaded)", "service", s.id)
		}
	}
}

// resetLocked forgets the publication when tor goes away; t.mu is held.
func (s *Service) resetLocked() {
	s.serviceID = ""
	if s.uploaded {
		s.uploaded = false
		s.reachable = make(chan struct{})
	}
}

// ID is the service's identity; its onion address is ID().String().
func (s *Service) ID() identity.ID { return s.id }

// ServiceID is the address tor returned for the current publication (56
// characters, no ".onion"), "" while it is not published.
func (s *Service) ServiceID() string {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	return s.serviceID
}

// PoWDefence reports whether tor runs the current publication with the
// onion-service proof-of-work defence on.
func (s *Service) PoWDefence() bool {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	return s.pow && s.serviceID != ""
}

// Reachable reports whether tor has uploaded the current descriptor.
func (s *Service) Reachable() bool {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	return s.uploaded
}

// WaitReachable blocks until the descriptor of the current publication is
// uploaded, ctx ends, or the Tor closes.
func (s *Service) WaitReachable(ctx context.Context) error {
	s.t.mu.Lock()
	ch := s.reachable
	s.t.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("onion: %s not reachable yet: %w", s.id.Short(), ctx.Err())
	case <-s.t.stop:
		return fmt.Errorf("%w: closed", ErrTorUnavailable)
	}
}

// Close removes the service from tor and stops republishing it. It is
// idempotent.
func (s *Service) Close() error {
	t := s.t
	t.mu.Lock()
	if s.closed {
		t.mu.Unlock()
		return nil
	}
	s.closed = true
	delete(t.services, s)
	sid := s.serviceID
	clear(s.key[:])
	t.mu.Unlock()
	if sid == "" {
		return nil
	}
	err := t.command(func(c *control.Conn) error { return c.DelOnion(sid) })
	if errors.Is(err, ErrTorUnavailable) {
		return nil // gone with tor
	}
	return err
}

// Listener is an onion service with the Unix socket listener tor forwards
// it to. Accept returns connections from peers (through tor; the remote
// address says nothing about the peer).
type Listener struct {
	net.Listener
	*Service
}

// Listen opens a Unix socket in the socket directory, which only this user
// (and an attached tor running as another user, through its group) may
// enter, and publishes key's service to it. A TCP port on 127.0.0.1 would
// let any local user connect, run the handshake and learn the onion
// address, and /proc/net/tcp would name the account that owns it.
func (t *Tor) Listen(ctx context.Context, key *identity.PrivateKey) (*Listener, error) {
	path := sockPath(t.sockDir, targetSocket)
	if err := removeSocket(path); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("onion: %w", err)
	}
	// The directory is the barrier; the socket's own mode lets tor's group
	// write to it when the directory is shared with an attached tor.
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("onion: %w", err)
	}
	if fi, err := os.Stat(t.sockDir); err == nil {
		os.Chown(path, -1, int(fi.Sys().(*syscall.Stat_t).Gid))
	}
	svc, err := t.Publish(ctx, key, "unix:"+path)
	if err != nil {
		ln.Close()
		return nil, err
	}
	return &Listener{Listener: ln, Service: svc}, nil
}

// Close removes the service and closes the listener (which removes its
// socket file).
func (l *Listener) Close() error {
	return errors.Join(l.Service.Close(), l.Listener.Close())
}
