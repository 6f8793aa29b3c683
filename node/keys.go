package node

import (
	"errors"
	"time"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/keys"
	"github.com/ghostwire/ghostwire/localapi/apitype"
)

// Keys lists our identity and its subkeys for key list: the encryption
// subkeys first, then the signing ones, each newest first.
func (n *Node) Keys() (*apitype.KeyList, error) {
	out := &apitype.KeyList{Identity: n.id.String(), Subkeys: []apitype.Subkey{}}
	enc, err := n.keys.EncryptionSubkeys()
	if err != nil {
		return out, err
	}
	subs, err := n.keys.Subkeys()
	for _, s := range append(enc, subs...) {
		out.Subkeys = append(out.Subkeys, subkeyInfo(s))
	}
	if r, ok := n.ownRevocation(); ok {
		out.Revoked = &apitype.IdentityRevocation{Identity: n.id.String(), At: r.At, Reason: r.Reason}
	}
	return out, err
}

// ownRevocation returns our identity's revocation of itself, if any.
func (n *Node) ownRevocation() (keys.Revocation, bool) {
	revs, err := n.keys.Revocations()
	if err != nil {
		return keys.Revocation{}, false
	}
	for _, r := range revs {
		if r.Author == n.id && r.Identity() {
			return r, true
		}
	}
	return keys.Revocation{}, false
}

// RevokeIdentity signs and publishes our identity's revocation of itself
// from now on (docs/protocol.md §5.12): every peer that receives it marks
// us revoked and refuses our handshakes and every item we sign from now
// on. It is final: the onion address is dead. The node keeps running so
// that the revocation reaches every peer it can.
func (n *Node) RevokeIdentity(reason string) (*apitype.IdentityRevocation, error) {
	if r, ok := n.ownRevocation(); ok {
		return nil, fault.Invalidf("nothing to do: it stays revoked; make a new identity in a new data directory",
			"this identity revoked itself already, on %s", r.At.Format(time.RFC3339))
	}
	r, err := n.keys.Revoke(n.id, reason)
	if errors.Is(err, keys.ErrInvalid) {
		return nil, fault.Invalidf("give a reason of 1 to 256 characters, on one line", "%v", err)
	}
	if err != nil {
		return nil, err
	}
	n.log.Warn("this identity revoked itself; peers refuse it from now on", "at", r.At)
	return &apitype.IdentityRevocation{Identity: n.id.String(), At: r.At, Reason: r.Reason}, nil
}

// RotateKey certifies a new subkey for purpose now and retires the
// current one: the signing subkey, or the encryption subkey (whose old
// private key is destroyed once its grace period ends).
func (n *Node) RotateKey(purpose string) (*apitype.Subkey, error) {
	var s keys.SubkeyInfo
	var err error
	switch purpose {
	case "", keys.PurposeSigning:
		s, err = n.keys.Rotate()
	case keys.PurposeEncryption:
		if n.cfg.KeyVault == nil {
			return nil, fault.Invalidf("rotate the signing subkey (--purpose signing); this node keeps no encryption subkeys",
				"this node has no vault for encryption subkeys")
		}
		s, err = n.keys.RotateEncryption()
	default:
		return nil, fault.Invalidf("the purpose is signing or encryption", "unknown purpose %q", purpose)
	}
	if err != nil {
		return nil, err
	}
	n.log.Info("subkey rotated by request", "purpose", s.Purpose, "subkey", s.Hex()[:16])
	x := subkeyInfo(s)
	return &x, nil
}

// RevokeKey revokes one of our subkeys, given by its hex key or a prefix,
// and sends the revocation to every peer, first in each session.
func (n *Node) RevokeKey(ref, reason string) (*apitype.Subkey, error) {
	s, err := n.keys.RevokeSubkey(ref, reason)
	if err != nil {
		return nil, err
	}
	n.log.Info("subkey revoked", "subkey", s.Key)
	x := subkeyInfo(s)
	return &x, nil
}

func subkeyInfo(s keys.SubkeyInfo) apitype.Subkey {
	x := apitype.Subkey{Key: s.Hex(), Purpose: s.Purpose, Start: s.Start, End: s.End, State: s.State, Reason: s.Reason}
	if !s.Retired.IsZero() {
		r := s.Retired
		x.Retired = &r
	}
	if !s.Destroy.IsZero() {
		d := s.Destroy
		x.Destroy = &d
	}
	return x
}
