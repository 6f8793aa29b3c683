package ioc

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ghostwire/ghostwire/identity"
)

// Specification constants, docs/protocol.md §5.8.
const (
	// contentLabel separates content IDs from every other hash GhostWire
	// computes (docs/protocol.md §5.8).
	contentLabel = "ghostwire ioc content v1\x00"

	MaxValue       = 4096 // bytes of a normalised value
	MaxTags        = 128
	MaxTag         = 128 // bytes
	MaxDescription = 8192
	MaxReferences  = 16
	MaxReference   = 1024
	MaxRecipients  = 64
)

// ErrInvalid is wrapped by every error about a value or record that breaks
// the rules of docs/ioc.md; the text after it says which rule.
var ErrInvalid = errors.New("ioc: invalid")

// Type says what kind of value an indicator is. The numbers are wire codes
// (docs/protocol.md §5.8) and never change; zero is invalid.
type Type uint8

// The indicator types.
const (
	TypeIPv4 Type = iota + 1
	TypeIPv6
	TypeCIDR
	TypeDomain
	TypeHostname
	TypeURL
	TypeEmail
	TypeMD5
	TypeSHA1
	TypeSHA256
	TypeCVE
	typeEnd
)

var typeNames = [...]string{"", "ipv4", "ipv6", "cidr", "domain", "hostname", "url", "email", "md5", "sha1", "sha256", "cve"}

// Types lists every valid type in wire-code order.
func Types() []Type {
	ts := make([]Type, 0, typeEnd-1)
	for t := TypeIPv4; t < typeEnd; t++ {
		ts = append(ts, t)
	}
	return ts
}

// Valid reports whether t is one of the defined types.
func (t Type) Valid() bool { return t > 0 && t < typeEnd }

// String returns the type's name as the CLI spells it ("ipv4", "sha256"...).
func (t Type) String() string {
	if !t.Valid() {
		return fmt.Sprintf("type(%d)", uint8(t))
	}
	return typeNames[t]
}

// ParseType reads a type name, ignoring case and surrounding space.
func ParseType(s string) (Type, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	for t := TypeIPv4; t < typeEnd; t++ {
		if typeNames[t] == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown type %q (want one of %s)", ErrInvalid, s, strings.Join(typeNames[1:], ", "))
}

// ContentID identifies an indicator independently of who published it:
// SHA-256 over a label, the type's wire code and the normalised value
// (docs/protocol.md §5.8).
type ContentID [sha256.Size]byte

// ContentIDOf returns the content ID of a normalised value. It does not
// normalise: callers pass a Record's Value, which is normalised by
// construction.
func ContentIDOf(t Type, value string) ContentID {
	h := sha256.New()
	h.Write([]byte(contentLabel))
	h.Write([]byte{byte(t)})
	h.Write([]byte(value))
	var id ContentID
	h.Sum(id[:0])
	return id
}

// String returns the content ID in lower-case hex.
func (c ContentID) String() string { return hex.EncodeToString(c[:]) }

// ParseContentID reads a content ID in hex (either case).
func ParseContentID(s string) (ContentID, error) {
	var c ContentID
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != len(c) {
		return c, fmt.Errorf("%w: content ID must be %d hex digits", ErrInvalid, 2*len(c))
	}
	copy(c[:], b)
	return c, nil
}

// NoConfidence is the Confidence of a record whose source stated none.
const NoConfidence = -1

// Record is one analyst's statement about an indicator: the payload of an
// IOC item. The zero value is not valid; build records with [NewRecord] or
// fill one in and call [Record.Normalize].
type Record struct {
	Type  Type
	Value string // normalised (see Normalize)
	TLP   TLP
	// Confidence is 0..100 as in STIX 2.1 §3.2, or NoConfidence.
	Confidence  int
	Tags        []string // sorted, unique
	Description string
	ValidFrom   time.Time // zero: from the item's creation
	ValidUntil  time.Time // zero: no expiry
	References  []string  // URLs, sorted, unique
	// Recipients are the only peers an AMBER, AMBER+STRICT or RED record
	// may reach; sorted by bytes, unique. Empty for CLEAR and GREEN.
	Recipients []identity.ID
	// Informational marks a value given as context, not for automated
	// detection (MISP to_ids false).
	Informational bool
	// Collection is the name of the collection a sealed record was
	// published in, and empty in every other record. A recipient cannot
	// read the name from the item's space (a hash), and needs it to file
	// an indicator addressed to it in a collection it does not hold
	// (docs/protocol.md §5.8, §10.1).
	Collection string
}

// MaxCollectionName bounds Record.Collection, as collections bound their
// names.
const MaxCollectionName = 64

// NewRecord normalises value as type t and returns a record with no
// confidence stated.
func NewRecord(t Type, value string, tlp TLP) (Record, error) {
	r := Record{Type: t, Value: value, TLP: tlp, Confidence: NoConfidence}
	if err := r.Normalize(); err != nil {
		return Record{}, err
	}
	return r, nil
}

// ContentID returns the record's content ID.
func (r *Record) ContentID() ContentID { return ContentIDOf(r.Type, r.Value) }

// Expired reports whether the record's validity ended at or before now.
func (r *Record) Expired(now time.Time) bool {
	return !r.ValidUntil.IsZero() && !now.Before(r.ValidUntil)
}

// Normalize puts every field of r into canonical form (the value
// normalised, tags and references trimmed, sorted and deduplicated,
// recipients sorted, times truncated to milliseconds) and then checks it
// with Validate. It is idempotent.
func (r *Record) Normalize() error {
	v, err := Normalize(r.Type, r.Value)
	if err != nil {
		return err
	}
	r.Value = v
	r.Tags = canonStrings(r.Tags)
	r.References = canonStrings(r.References)
	r.Recipients = slices.Clone(r.Recipients)
	slices.SortFunc(r.Recipients, identity.ID.Compare)
	r.Recipients = slices.Compact(r.Recipients)
	r.ValidFrom = msTime(r.ValidFrom)
	r.ValidUntil = msTime(r.ValidUntil)
	return r.Validate()
}

func msTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

func canonStrings(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Validate checks every rule of docs/ioc.md §3 without changing r: the value
// is already normalised, the TLP is known, recipients are present exactly
// when the TLP restricts the audience, and every list is canonical and
// within its limits. Errors wrap ErrInvalid.
func (r *Record) Validate() error {
	if !r.Type.Valid() {
		return fmt.Errorf("%w: unknown type %d", ErrInvalid, r.Type)
	}
	if v, err := Normalize(r.Type, r.Value); err != nil {
		return err
	} else if v != r.Value {
		return fmt.Errorf("%w: value %q is not normalised (want %q)", ErrInvalid, r.Value, v)
	}
	if !r.TLP.Valid() {
		return fmt.Errorf("%w: TLP marking %d", ErrInvalid, r.TLP)
	}
	if r.Confidence != NoConfidence && (r.Confidence < 0 || r.Confidence > 100) {
		return fmt.Errorf("%w: confidence %d outside 0..100", ErrInvalid, r.Confidence)
	}
	if err := checkStrings("tag", r.Tags, MaxTags, MaxTag); err != nil {
		return err
	}
	if err := checkStrings("reference", r.References, MaxReferences, MaxReference); err != nil {
		return err
	}
	if len(r.Description) > MaxDescription || !utf8.ValidString(r.Description) {
		return fmt.Errorf("%w: description longer than %d bytes or not UTF-8", ErrInvalid, MaxDescription)
	}
	for _, t := range []time.Time{r.ValidFrom, r.ValidUntil} {
		if !t.IsZero() && (t.UnixMilli() < 0 || !t.Equal(msTime(t))) {
			return fmt.Errorf("%w: time %v before 1970 or finer than a millisecond", ErrInvalid, t)
		}
	}
	if !r.ValidFrom.IsZero() && !r.ValidUntil.IsZero() && !r.ValidUntil.After(r.ValidFrom) {
		return fmt.Errorf("%w: valid-until %s is not after valid-from %s", ErrInvalid,
			r.ValidUntil.Format(time.RFC3339), r.ValidFrom.Format(time.RFC3339))
	}
	if len(r.Collection) > MaxCollectionName || !utf8.ValidString(r.Collection) {
		return fmt.Errorf("%w: collection name longer than %d bytes or not UTF-8", ErrInvalid, MaxCollectionName)
	}
	if r.Collection != "" && !r.TLP.Restricted() {
		return fmt.Errorf("%w: only a sealed (restricted) record names its collection", ErrInvalid)
	}
	switch {
	case r.TLP.Restricted() && len(r.Recipients) == 0:
		return fmt.Errorf("%w: %s needs at least one named recipient", ErrInvalid, r.TLP)
	case !r.TLP.Restricted() && len(r.Recipients) != 0:
		return fmt.Errorf("%w: %s is not addressed to recipients; remove them or use TLP:AMBER or stricter", ErrInvalid, r.TLP)
	case len(r.Recipients) > MaxRecipients:
		return fmt.Errorf("%w: %d recipients, limit %d", ErrInvalid, len(r.Recipients), MaxRecipients)
	}
	for i := 1; i < len(r.Recipients); i++ {
		if r.Recipients[i-1].Compare(r.Recipients[i]) >= 0 {
			return fmt.Errorf("%w: recipients not sorted and unique", ErrInvalid)
		}
	}
	return nil
}

func checkStrings(what string, ss []string, maxN, maxLen int) error {
	if len(ss) > maxN {
		return fmt.Errorf("%w: %d %ss, limit %d", ErrInvalid, len(ss), what, maxN)
	}
	for i, s := range ss {
		if s == "" || len(s) > maxLen || s != strings.TrimSpace(s) || !utf8.ValidString(s) ||
			strings.IndexFunc(s, unicode.IsControl) >= 0 {
			return fmt.Errorf("%w: %s %q is empty, over %d bytes, padded or has control characters", ErrInvalid, what, s, maxLen)
		}
		if i > 0 && ss[i-1] >= s {
			return fmt.Errorf("%w: %ss not sorted and unique", ErrInvalid, what)
		}
	}
	return nil
}
