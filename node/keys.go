package node

import (
	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/keys"
	"github.com/ghostwire/ghostwire/localapi/apitype"
)

// Keys lists our identity and its subkeys for key list.
func (n *Node) Keys() (*apitype.KeyList, error) {
	subs, err := n.keys.Subkeys()
	out := &apitype.KeyList{Identity: n.id.String(), Subkeys: []apitype.Subkey{}}
	for _, s := range subs {
		out.Subkeys = append(out.Subkeys, subkeyInfo(s))
	}
	return out, err
}

// RotateKey certifies a new subkey for purpose now and retires the
// current one. Only signing subkeys rotate here; the encryption key is
// the recipient key (§9.1), whose rotation is not built yet.
func (n *Node) RotateKey(purpose string) (*apitype.Subkey, error) {
	switch purpose {
	case "", keys.PurposeSigning:
	case keys.PurposeEncryption:
		return nil, fault.Invalidf("rotate the signing subkey (--purpose signing); encryption subkeys do not rotate yet",
			"encryption subkey rotation is not built yet")
	default:
		return nil, fault.Invalidf("the purpose is signing or encryption", "unknown purpose %q", purpose)
	}
	s, err := n.keys.Rotate()
	if err != nil {
		return nil, err
	}
	n.log.Info("signing subkey rotated by request", "subkey", s.Key)
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
	x := apitype.Subkey{Key: s.Key.Hex(), Purpose: s.Purpose, Start: s.Start, End: s.End, State: s.State, Reason: s.Reason}
	if !s.Retired.IsZero() {
		r := s.Retired
		x.Retired = &r
	}
	return x
}
