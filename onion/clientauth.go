package onion

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/textproto"
	"slices"
	"strings"

	"github.com/ghostwire/ghostwire/identity"
)

// Presence hiding (docs/tor.md, docs/protocol.md §7.4). A node that runs
// with OnlyPeers publishes its service with tor's v3 client authorisation:
// the descriptor's introduction points are encrypted to a list of X25519
// keys, so a dialer whose key is not listed cannot even learn them, and the
// node builds no rendezvous circuit for it.
//
// Each peer's client-authorisation key is derived from its identity, so
// nothing new crosses the wire and adding a peer is all it takes: the
// X25519 private key is the first half of the identity's expanded key (the
// clamped Ed25519 scalar, identity.TorExpandedKey), and the public key is
// the Montgomery form u = (1+y)/(1−y) mod 2²⁵⁵−19 of the Ed25519 public key,
// which is the same scalar times the same base point on the birationally
// equivalent curve. libsodium's crypto_sign_ed25519_pk_to_curve25519 and
// age's ssh-ed25519 recipients use the same map.

// fieldP is 2²⁵⁵−19, the prime of Curve25519's field.
var fieldP = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))

// ClientAuthPublic is the X25519 public key tor's ClientAuthV3 takes for
// id: the Montgomery u-coordinate of id's Ed25519 point. Only public data
// goes in, so the big-integer arithmetic need not be constant time.
func ClientAuthPublic(id identity.ID) ([32]byte, error) {
	var out [32]byte
	le := id.Bytes()
	if len(le) != 32 {
		return out, fmt.Errorf("onion: client auth: %w", identity.ErrInvalidID)
	}
	be := make([]byte, 32)
	for i := range 32 {
		be[i] = le[31-i]
	}
	be[0] &= 0x7f // the top bit is the sign of x
	y := new(big.Int).SetBytes(be)
	one := big.NewInt(1)
	num := new(big.Int).Add(one, y)
	den := new(big.Int).Sub(one, y)
	den.Mod(den, fieldP)
	if den.Sign() == 0 {
		return out, fmt.Errorf("onion: client auth: %w: the identity point has y = 1", identity.ErrInvalidID)
	}
	u := num.Mul(num, den.ModInverse(den, fieldP))
	u.Mod(u, fieldP)
	u.FillBytes(be)
	for i := range 32 {
		out[i] = be[31-i]
	}
	return out, nil
}

// clientAuthPrivate is key's X25519 client-authorisation private key: the
// clamped scalar tor already holds as the first half of the expanded key.
func clientAuthPrivate(key *identity.PrivateKey) [32]byte {
	x := key.TorExpandedKey()
	var out [32]byte
	copy(out[:], x[:32])
	clear(x[:])
	return out
}

// clientAuthB32 is the text ClientAuthV3= takes: base32, no padding.
var clientAuthB32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// clientAuthArgs is the ADD_ONION tail for an OnlyPeers service: V3Auth and
// one ClientAuthV3 per peer, sorted so that the same set always gives the
// same command. Tor refuses V3Auth with no client, so an empty set is
// published for one throwaway key nobody holds: the service runs, and no
// one can reach it.
func clientAuthArgs(peers []identity.ID) (string, error) {
	var keys []string
	for _, id := range peers {
		pub, err := ClientAuthPublic(id)
		if err != nil {
			return "", err
		}
		keys = append(keys, strings.ToLower(clientAuthB32.EncodeToString(pub[:])))
	}
	if len(keys) == 0 {
		var k [32]byte
		if _, err := rand.Read(k[:]); err != nil {
			return "", fmt.Errorf("onion: %w", err)
		}
		keys = append(keys, strings.ToLower(clientAuthB32.EncodeToString(k[:])))
	}
	slices.Sort(keys)
	return " ClientAuthV3=" + strings.Join(keys, " ClientAuthV3="), nil
}

// SetPeers names the peers an OnlyPeers Tor authorises. When the set
// changes, every published service is removed and added again with the new
// client list (tor has no control command that edits an ephemeral
// service's clients); tor itself keeps running. Without OnlyPeers it only
// records the set.
func (t *Tor) SetPeers(peers []identity.ID) {
	// One change at a time: two interleaved DEL_ONION/ADD_ONION pairs
	// could leave the service published for the older set.
	t.peersMu.Lock()
	defer t.peersMu.Unlock()
	peers = slices.Clone(peers)
	slices.SortFunc(peers, func(a, b identity.ID) int { return strings.Compare(a.Onion(), b.Onion()) })
	t.mu.Lock()
	same := slices.Equal(peers, t.peers)
	removed := slices.ContainsFunc(t.peers, func(id identity.ID) bool { return !slices.Contains(peers, id) })
	t.peers = peers
	sess := t.sess
	var all []*Service
	for s := range t.services {
		all = append(all, s)
	}
	t.mu.Unlock()
	if same || !t.cfg.OnlyPeers || sess == nil {
		return
	}
	for _, s := range all {
		if err := t.reauthorise(sess, s); err != nil {
			t.log.Error("onion: updating the service's authorised peers", "service", s.id, "err", err)
		}
		if removed {
			t.closeRendezvous(sess, s)
		}
	}
}

// closeRendezvous closes s's rendezvous circuits. A client that was
// authorised keeps its open circuit across DEL_ONION and ADD_ONION of the
// same key, and tor cannot say which client a circuit serves, so when a
// peer is removed every circuit goes: the remaining peers simply dial
// again, the removed one finds its key refused.
func (t *Tor) closeRendezvous(sess *session, s *Service) {
	sess.cmdMu.Lock()
	defer sess.cmdMu.Unlock()
	kv, err := sess.cmd.GetInfo("circuit-status")
	if err != nil || len(kv) != 1 {
		t.log.Warn("onion: could not list circuits to close a removed peer's", "err", err)
		return
	}
	for _, line := range strings.Split(kv[0].Val, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.Contains(line, "PURPOSE=HS_SERVICE_REND") || !strings.Contains(line, "REND_QUERY="+s.id.Onion()) {
			continue
		}
		t.log.Info("onion: closing a rendezvous circuit after a peer's removal", "circuit", f[0])
		if _, err := sess.cmd.SendRequest("CLOSECIRCUIT %s", f[0]); err != nil {
			t.log.Warn("onion: closing a rendezvous circuit", "circuit", f[0], "err", err)
		}
	}
}

// reauthorise replaces s's publication by one for the current peers.
func (t *Tor) reauthorise(sess *session, s *Service) error {
	t.mu.Lock()
	sid := s.serviceID
	s.resetLocked()
	t.mu.Unlock()
	if sid != "" {
		sess.cmdMu.Lock()
		err := sess.cmd.DelOnion(sid)
		sess.cmdMu.Unlock()
		if err != nil {
			return fmt.Errorf("onion: DEL_ONION: %w", err)
		}
	}
	return t.addOnion(sess, s)
}

// OnlyPeers reports whether the services are published for the current
// peers only.
func (t *Tor) OnlyPeers() bool { return t.cfg.OnlyPeers }

// presentClientAuth gives tor this node's client-authorisation key for id,
// once per tor session, after tor answered a dial with "client
// authorization required" (SOCKS 0xF4): the peer runs OnlyPeers. It is
// given only then, because any controller of the tor can read it back with
// ONION_CLIENT_AUTH_VIEW, and it is the identity's scalar. The key is not
// Permanent, so tor keeps it in memory only, and an attached tor is told to
// forget it when the session ends (forgetClientAuth). It reports whether
// the key was newly given, so that the dial is worth repeating.
func (t *Tor) presentClientAuth(sess *session, id identity.ID) bool {
	t.mu.Lock()
	key, have := t.authKey, t.haveAuthKey
	t.mu.Unlock()
	if !have {
		return false
	}
	sess.cmdMu.Lock()
	defer sess.cmdMu.Unlock()
	if sess.authed[id] || sess.noClientAuth {
		return false
	}
	_, err := sess.cmd.SendRequest("ONION_CLIENT_AUTH_ADD %s x25519:%s", id.Onion(), base64.StdEncoding.EncodeToString(key[:]))
	var ce *textproto.Error
	if errors.As(err, &ce) && (ce.Code == 251 || ce.Code == 252) {
		err = nil // "client for this service replaced" / "registered and decrypted desc"
	}
	if err != nil {
		if errors.As(err, &ce) && ce.Code == 510 {
			sess.noClientAuth = true
		}
		t.log.Warn("onion: could not give tor our client-authorisation key; a peer that runs --only-peers will refuse us", "peer", id.Short(), "err", err)
		return false
	}
	if sess.authed == nil {
		sess.authed = map[identity.ID]bool{}
	}
	sess.authed[id] = true
	return true
}

// forgetClientAuth removes the keys presentClientAuth gave an attached tor,
// which outlives the node and whose other controllers could read them.
// A managed tor ends with the session and takes them along.
func (t *Tor) forgetClientAuth(sess *session) {
	if t.cfg.ControlAddr == "" {
		return
	}
	sess.cmdMu.Lock()
	defer sess.cmdMu.Unlock()
	for id := range sess.authed {
		if _, err := sess.cmd.SendRequest("ONION_CLIENT_AUTH_REMOVE %s", id.Onion()); err != nil {
			t.log.Warn("onion: could not remove our client-authorisation key from tor", "peer", id.Short(), "err", err)
		}
	}
	sess.authed = nil
}
