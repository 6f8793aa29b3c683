package lan

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Specification constants, docs/protocol.md §12.
const (
	// ServiceType is the DNS-SD service type of a node's advert (§12.1).
	ServiceType = "_ghostwire._tcp"
	// PairingServiceType is the DNS-SD service type a pairing attempt is
	// advertised under (§12.5), apart from ServiceType so that a node
	// that is not pairing never answers for it.
	PairingServiceType = "_ghostwire-pair._tcp"
	// advertLabel separates advert tokens from every other use of the
	// pair secret (§12.3).
	advertLabel = "ghostwire-lan-advert"
	// advertVersion is the TXT string that opens every advert (§12.4).
	advertVersion = "v=1"
	// tokenPrefix opens each token's TXT string (§12.4).
	tokenPrefix = "t="
	// TokenSize is the bytes of one advert token: 80 bits, so a stranger
	// who guesses one has a 2^-80 chance per try.
	TokenSize = 10
	// Window is how long one set of tokens, instance name and host label
	// lives: every advert changes completely at least this often.
	Window = time.Hour
	// MaxTokens bounds the tokens in one advert, so an advert fits one
	// mDNS packet (about 720 bytes of TXT) and parsing a hostile one is
	// cheap. A node with more peers names a different subset each window
	// (docs/lan.md says what that costs).
	MaxTokens = 40
	// tokenBucket: an advert carries a multiple of this many tokens, the
	// real ones padded with random ones, so it tells how many peers a
	// node has only to the nearest bucket.
	tokenBucket = 8
)

// Implementation constants.
const (
	// advertTTL is the TTL of our records. Short, because a rotated or
	// stopped advert's goodbye packet can be lost and a browser would then
	// dial a dead address for this long.
	advertTTL = 120
)

// labelEncoding writes tokens, instance names and host labels: lower-case
// base32 without padding. 10 bytes give exactly 16 characters, a valid
// DNS label that reads the same to every mDNS implementation (DNS names
// are compared without case, so upper case would buy nothing).
var labelEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// tokenLen is the length of a token in its text form.
var tokenLen = labelEncoding.EncodedLen(TokenSize)

// Token is one advert token: what a peer that shares a pair secret with
// the advertiser can compute and recognise (§12.3).
type Token [TokenSize]byte

// String is the token's text form as it appears in a TXT string.
func (t Token) String() string { return labelEncoding.EncodeToString(t[:]) }

// window is the number of the advert window t falls in.
func window(t time.Time) uint64 { return uint64(t.Unix()) / uint64(Window/time.Second) }

// advertToken is the token an advertiser puts in its advert in window w
// for a peer it shares secret with (§12.3). low says whether the
// advertiser's identity key sorts before the peer's: the pair secret is
// the same for both, and without the role two nodes would put the same
// token in their adverts, telling an observer that they are paired.
func advertToken(secret []byte, w uint64, low bool) Token {
	m := hmac.New(sha256.New, secret)
	var msg [len(advertLabel) + 9]byte
	copy(msg[:], advertLabel)
	binary.BigEndian.PutUint64(msg[len(advertLabel):], w)
	msg[len(msg)-1] = 2
	if low {
		msg[len(msg)-1] = 1
	}
	m.Write(msg[:])
	var t Token
	copy(t[:], m.Sum(nil))
	return t
}

// Advert is what a node's advert carries: tokens and nothing else
// (§12.4). The zero value is an empty advert, which Text refuses.
type Advert struct {
	Tokens []Token // ascending, no duplicates
}

// newAdvert pads real to a whole bucket with random tokens and sorts the
// result, so neither the count nor the order tells which are real. At
// most MaxTokens of real are used; the caller rotates which.
func newAdvert(real []Token, rand io.Reader) (Advert, error) {
	real = real[:min(len(real), MaxTokens)]
	n := max(tokenBucket, (len(real)+tokenBucket-1)/tokenBucket*tokenBucket)
	toks := slices.Clone(real)
	for len(toks) < n {
		var t Token
		if _, err := io.ReadFull(rand, t[:]); err != nil {
			return Advert{}, fmt.Errorf("lan: reading randomness: %w", err)
		}
		toks = append(toks, t)
	}
	slices.SortFunc(toks, func(a, b Token) int { return bytes.Compare(a[:], b[:]) })
	toks = slices.Compact(toks) // real tokens of two peers never collide; random ones, 2^-80
	return Advert{Tokens: toks}, nil
}

// Text is the advert's TXT record: "v=1", then "t=<token>" for each
// token in ascending order.
func (a Advert) Text() []string {
	txt := make([]string, 0, len(a.Tokens)+1)
	txt = append(txt, advertVersion)
	for _, t := range a.Tokens {
		txt = append(txt, tokenPrefix+t.String())
	}
	return txt
}

// Has reports whether t is one of the advert's tokens.
func (a Advert) Has(t Token) bool {
	_, ok := slices.BinarySearchFunc(a.Tokens, t, func(a, b Token) int { return bytes.Compare(a[:], b[:]) })
	return ok
}

// errAdvert is wrapped by every ParseAdvert failure.
var errAdvert = errors.New("lan: not a GhostWire advert")

// ParseAdvert reads an advert's TXT strings (§12.4). It is strict: the
// version string first, then 1 to MaxTokens tokens in canonical form,
// strictly ascending; anything else, including a string it does not
// know, is an error. So Text(ParseAdvert(txt)) == txt for every txt it
// accepts, and an advert has one spelling only. Anyone on the link can
// publish under ServiceType; a refused advert is skipped, never fatal.
func ParseAdvert(txt []string) (Advert, error) {
	if len(txt) == 0 || txt[0] != advertVersion {
		return Advert{}, fmt.Errorf("%w: no %q first", errAdvert, advertVersion)
	}
	n := len(txt) - 1
	if n == 0 || n > MaxTokens {
		return Advert{}, fmt.Errorf("%w: %d tokens (want 1 to %d)", errAdvert, n, MaxTokens)
	}
	a := Advert{Tokens: make([]Token, n)}
	for i, s := range txt[1:] {
		v, ok := strings.CutPrefix(s, tokenPrefix)
		if !ok || len(v) != tokenLen {
			return Advert{}, fmt.Errorf("%w: string %d is not a token", errAdvert, i+1)
		}
		b, err := labelEncoding.DecodeString(v)
		if err != nil || labelEncoding.EncodeToString(b) != v {
			return Advert{}, fmt.Errorf("%w: string %d is not a token", errAdvert, i+1)
		}
		copy(a.Tokens[i][:], b)
		if i > 0 && bytes.Compare(a.Tokens[i-1][:], a.Tokens[i][:]) >= 0 {
			return Advert{}, fmt.Errorf("%w: tokens out of order", errAdvert)
		}
	}
	return a, nil
}

// randomLabel is a fresh 16-character label: an instance name or a host
// name that carries nothing but 80 random bits.
func randomLabel(rand io.Reader) (string, error) {
	var b [TokenSize]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return "", fmt.Errorf("lan: reading randomness: %w", err)
	}
	return labelEncoding.EncodeToString(b[:]), nil
}
