package identity

import (
	"crypto/sha512"
	"encoding/binary"
	"strings"
)

// safetyLabel separates safety-number hashing from every other use of SHA-512.
const safetyLabel = "ghostwire safety number v1"

// safetyDigits is how many decimal digits a safety number shows: 12 groups of
// 5, each group from 5 bytes of hash reduced mod 100000 (about 2^200 work to
// find a second pair of keys matching all of them).
const safetyGroups = 12

// Fingerprint returns one peer's own fingerprint: 12 groups of five digits
// computed from its ID alone. Read it aloud to someone who has your address.
func Fingerprint(id ID) string { return digits(safetyLabel+" self", id.key[:]) }

// SafetyNumber returns the number two peers compare out of band to verify
// each other. It is symmetric, SafetyNumber(a, b) == SafetyNumber(b, a), so
// both people see the same string.
func SafetyNumber(a, b ID) string {
	if a.Compare(b) > 0 {
		a, b = b, a
	}
	return digits(safetyLabel+" pair", a.key[:], b.key[:])
}

func digits(label string, keys ...[]byte) string {
	h := sha512.New()
	h.Write([]byte(label))
	for _, k := range keys {
		h.Write(k)
	}
	sum := h.Sum(nil) // 64 bytes; 12 groups × 5 bytes = 60 used
	groups := make([]string, 0, safetyGroups)
	for i := range safetyGroups {
		var b [8]byte
		copy(b[3:], sum[i*5:i*5+5])
		n := binary.BigEndian.Uint64(b[:]) % 100000
		groups = append(groups, pad5(n))
	}
	return strings.Join(groups, " ")
}

func pad5(n uint64) string {
	var b [5]byte
	for i := 4; i >= 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[:])
}
