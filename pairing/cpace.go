package pairing

// CPace (draft-irtf-cfrg-cpace) over ristretto255 with SHA-512, composed
// as docs/protocol.md §12.5 writes down. Every name here is spelled as
// there.

import (
	"crypto/hmac"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"

	"github.com/cloudflare/circl/group"
)

// Specification constants, docs/protocol.md §12.5.
const (
	// cpaceDSI is CPace's domain separation identifier for this group and
	// hash, as the draft names the ristretto255/SHA-512 suite.
	cpaceDSI = "CPaceRistretto255"
	// hashToGroupDST is the RFC 9380 domain separation tag of the map
	// from the generator string to the group: hash_to_ristretto255 with
	// expand_message_xmd(SHA-512), under a tag of our own.
	hashToGroupDST = "ghostwire-pairing-v1_ristretto255_XMD:SHA-512_R255MAP_RO_"
	// sidLabel is the exporter label (§4.5) whose 32 bytes are CPace's
	// session identifier: the channel binding.
	sidLabel = "ghostwire pairing cpace sid v1"
	// sidSize is the session identifier's length.
	sidSize = 32
	// cpaceInBytes is SHA-512's input block size, s_in_bytes in the
	// draft: the generator string is padded so that the password fills
	// the first block.
	cpaceInBytes = 128
	// confirmInitiator and confirmResponder are the HMAC labels of the
	// two key-confirmation tags; distinct, so one side's tag can never be
	// sent back as the other's.
	confirmInitiator = "ghostwire pairing v1 initiator confirm"
	confirmResponder = "ghostwire pairing v1 responder confirm"
	// ShareSize is the bytes of an encoded ristretto255 element.
	ShareSize = 32
	// TagSize is the bytes of a confirmation tag: HMAC-SHA-512 cut to 256
	// bits.
	TagSize = 32
)

// errShare is a peer's share that is not a canonical encoding of a group
// element other than the identity.
var errShare = errors.New("pairing: the other device's share is not a valid group element")

var g = group.Ristretto255

// lvCat is the draft's lv_cat: each argument prefixed with its length
// (prepend_len, LEB128), concatenated.
func lvCat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = appendLEB128(out, uint64(len(p)))
		out = append(out, p...)
	}
	return out
}

// appendLEB128 appends v in unsigned LEB128, as prepend_len encodes a
// length.
func appendLEB128(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// generatorString is the draft's generator_string(DSI, PRS, CI, sid,
// s_in_bytes): lv_cat(DSI, PRS, zero padding, CI, sid), the padding long
// enough that DSI and PRS with their length bytes and the padding's fill
// one SHA-512 block.
func generatorString(prs, ci, sid []byte) []byte {
	lenPrependedDSI := len(appendLEB128(nil, uint64(len(cpaceDSI)))) + len(cpaceDSI)
	lenPrependedPRS := len(appendLEB128(nil, uint64(len(prs)))) + len(prs)
	zpad := max(0, cpaceInBytes-1-lenPrependedPRS-lenPrependedDSI)
	return lvCat([]byte(cpaceDSI), prs, make([]byte, zpad), ci, sid)
}

// generator is CPace's password-dependent generator: the generator string
// mapped into ristretto255 by RFC 9380's hash_to_ristretto255.
func generator(prs, ci, sid []byte) group.Element {
	return g.HashToElement(generatorString(prs, ci, sid), []byte(hashToGroupDST))
}

// channelID is CPace's CI: the two identity keys, the initiator's (the
// joiner's) first. sid binds them already; CI says it again in the
// generator, as the draft intends party identifiers to be used.
func channelID(initiator, responder []byte) []byte { return lvCat(initiator, responder) }

// sampleScalar draws a nonzero scalar from rnd: 32 bytes with the top four
// bits cleared are below 2^252 < l, so they are a canonical encoding, and
// the distribution misses only [2^252, l), a 2^-125 fraction. (circl's
// RandomScalar ignores its reader; vectors need ours.)
func sampleScalar(rnd io.Reader) (group.Scalar, error) {
	for {
		var b [32]byte
		if _, err := io.ReadFull(rnd, b[:]); err != nil {
			return nil, fmt.Errorf("pairing: reading randomness: %w", err)
		}
		b[31] &= 0x0f
		s := g.NewScalar()
		if err := s.UnmarshalBinary(b[:]); err != nil {
			panic("bug: pairing: a scalar below 2^252 did not decode: " + err.Error())
		}
		clear(b[:])
		if !s.IsZero() {
			return s, nil
		}
	}
}

// cpace is one side's state: its secret scalar and public share, and what
// the intermediate session key is bound to.
type cpace struct {
	y     group.Scalar
	share []byte // Y = y·G, encoded
	sid   []byte
}

// newCPace draws this side's scalar and computes its share y·G, where G
// is the generator for the password prs, channel identifier ci and
// session identifier sid.
func newCPace(rnd io.Reader, prs, ci, sid []byte) (*cpace, error) {
	y, err := sampleScalar(rnd)
	if err != nil {
		return nil, err
	}
	gen := generator(prs, ci, sid)
	share, err := g.NewElement().Mul(gen, y).MarshalBinaryCompress()
	if err != nil {
		return nil, err
	}
	return &cpace{y: y, share: share, sid: sid}, nil
}

// decodeShare reads a peer's share: a canonical ristretto255 encoding
// (circl refuses any other) that is not the identity element.
func decodeShare(b []byte) (group.Element, error) {
	if len(b) != ShareSize {
		return nil, errShare
	}
	e := g.NewElement()
	if err := e.UnmarshalBinary(b); err != nil || e.IsIdentity() {
		return nil, errShare
	}
	return e, nil
}

// isk is the intermediate session key ISK = SHA-512(lv_cat(DSI‖"_ISK",
// sid, K) ‖ lv_cat(Ya, ADa) ‖ lv_cat(Yb, ADb)) with K = y·Y_peer and empty
// associated data (the identities are in sid and CI). ya and yb are the
// initiator's and the responder's shares. A K that is the identity (a
// share of small order cannot decode, so only a bug gives one) is
// refused.
func (c *cpace) isk(peer group.Element, ya, yb []byte) ([]byte, error) {
	k := g.NewElement().Mul(peer, c.y)
	if k.IsIdentity() {
		return nil, errShare
	}
	kb, err := k.MarshalBinaryCompress()
	if err != nil {
		return nil, err
	}
	defer clear(kb)
	h := sha512.New()
	h.Write(lvCat([]byte(cpaceDSI+"_ISK"), c.sid, kb))
	h.Write(lvCat(ya, nil))
	h.Write(lvCat(yb, nil))
	return h.Sum(nil), nil
}

// confirmTag is the key-confirmation tag a side sends:
// HMAC-SHA-512(ISK, lv_cat(label, Ya, Yb)) cut to TagSize bytes.
func confirmTag(isk []byte, label string, ya, yb []byte) []byte {
	m := hmac.New(sha512.New, isk)
	m.Write(lvCat([]byte(label), ya, yb))
	return m.Sum(nil)[:TagSize]
}

// tagsEqual compares tags in constant time.
func tagsEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
