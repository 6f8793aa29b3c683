package onion

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/cretz/bine/control"

	"github.com/ghostwire/ghostwire/identity"
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
	closed    bool
}

// Publish registers an onion service for key whose virtual port VirtualPort
// forwards to target, a loopback "ip:port". If tor is up it is added at
// once, and an error from tor is returned; if not, it is added when tor
// comes up. The service is reachable once tor reports the descriptor
// uploaded (WaitReachable). ctx bounds only this call.
func (t *Tor) Publish(ctx context.Context, key *identity.PrivateKey, target string) (*Service, error) {
	if key == nil {
		return nil, errors.New("onion: publish: nil key")
	}
	if err := checkLoopback(target); err != nil {
		return nil, fmt.Errorf("onion: publish: target: %w", err)
	}
	s := &Service{t: t, id: key.ID(), key: key.TorExpandedKey(), target: target, reachable: make(chan struct{})}
	t.mu.Lock()
	t.services[s] = struct{}{}
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

// expandedKey is an ADD_ONION key given as tor's 64-byte expanded form.
type expandedKey []byte

func (expandedKey) Type() control.KeyType { return control.KeyTypeED25519V3 }
func (k expandedKey) Blob() string        { return base64.StdEncoding.EncodeToString(k) }

// addOnion publishes s on sess (docs/protocol.md §7.1). The onion lives as long as the command
// connection (no Detach flag), so it vanishes with us.
func (t *Tor) addOnion(sess *session, s *Service) error {
	t.mu.Lock()
	if s.closed {
		t.mu.Unlock()
		return nil
	}
	key := make(expandedKey, len(s.key))
	copy(key, s.key[:])
	t.mu.Unlock()
	defer clear(key)
	sess.cmdMu.Lock()
	resp, err := sess.cmd.AddOnion(&control.AddOnionRequest{
		Key:   key,
		Flags: []string{"DiscardPK"},
		Ports: []*control.KeyVal{{Key: strconv.Itoa(VirtualPort), Val: s.target}},
	})
	sess.cmdMu.Unlock()
	if err != nil {
		return fmt.Errorf("onion: ADD_ONION for %s: %w", s.id.Short(), err)
	}
	if resp.ServiceID != s.id.Onion() {
		// Tor derived another address from our key: never run a service
		// whose address is not our identity.
		sess.cmdMu.Lock()
		sess.cmd.DelOnion(resp.ServiceID)
		sess.cmdMu.Unlock()
		return fmt.Errorf("onion: bug: tor published %q for identity %s", resp.ServiceID, s.id.Short())
	}
	t.mu.Lock()
	s.serviceID = resp.ServiceID
	t.mu.Unlock()
	t.log.Info("onion: service added, waiting for descriptor upload", "service", s.id)
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

// Listener is an onion service with the loopback listener tor forwards it
// to. Accept returns connections from peers (through tor; the remote
// address is tor's, and says nothing about the peer).
type Listener struct {
	net.Listener
	*Service
}

// Listen opens a loopback listener and publishes key's service to it.
func (t *Tor) Listen(ctx context.Context, key *identity.PrivateKey) (*Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("onion: %w", err)
	}
	svc, err := t.Publish(ctx, key, ln.Addr().String())
	if err != nil {
		ln.Close()
		return nil, err
	}
	return &Listener{Listener: ln, Service: svc}, nil
}

// Close removes the service and closes the listener.
func (l *Listener) Close() error {
	return errors.Join(l.Service.Close(), l.Listener.Close())
}
