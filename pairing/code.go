package pairing

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
)

// Specification constants, docs/protocol.md §12.5.
const (
	// SecretDigits is how many decimal digits the secret part of a code
	// has: 10^6 codes, of which an attacker may try three per code shown.
	SecretDigits = 6
	// NameplateDigits is how many decimal digits the public nameplate
	// has: enough that two attempts on one LAN at the same moment rarely
	// share one, few enough to type.
	NameplateDigits = 2
)

// ErrBadCode is wrapped by ParseCode's errors.
var ErrBadCode = errors.New("pairing: not a pairing code")

// Code is what `ghostwire pair` shows and the other device types: a public
// nameplate, which names the pairing attempt on the link, and the secret
// digits, which never leave the two devices. The zero Code is invalid.
type Code struct {
	// Nameplate is public: it travels in the pairing advert (§12.5) so
	// the joiner can find the attempt among others on the link. It is
	// drawn independently of Secret, so it says nothing about it.
	Nameplate string
	// Secret is the CPace password: SecretDigits decimal digits.
	Secret string
}

// String is the code as shown: "NN-DDDDDD".
func (c Code) String() string { return c.Nameplate + "-" + c.Secret }

// GenerateCode draws a fresh code from rand (nil means crypto/rand): the
// nameplate and the secret from separate draws, each uniform.
func GenerateCode(rnd io.Reader) (Code, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	np, err := digits(rnd, NameplateDigits)
	if err != nil {
		return Code{}, err
	}
	sec, err := digits(rnd, SecretDigits)
	if err != nil {
		return Code{}, err
	}
	return Code{Nameplate: np, Secret: sec}, nil
}

// digits returns n uniform decimal digits.
func digits(rnd io.Reader, n int) (string, error) {
	max := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
	v, err := rand.Int(rnd, max)
	if err != nil {
		return "", fmt.Errorf("pairing: reading randomness: %w", err)
	}
	return fmt.Sprintf("%0*d", n, v), nil
}

// ParseCode reads a code as a person types it: "47-382915", forgiving
// spaces around the parts and a space instead of the dash.
func ParseCode(s string) (Code, error) {
	s = strings.TrimSpace(s)
	np, sec, ok := strings.Cut(s, "-")
	if !ok {
		np, sec, ok = strings.Cut(s, " ")
	}
	np, sec = strings.TrimSpace(np), strings.TrimSpace(sec)
	if !ok || !isDigits(np, NameplateDigits) || !isDigits(sec, SecretDigits) {
		return Code{}, fmt.Errorf("%w: want %d digits, a dash and %d digits, such as 47-382915", ErrBadCode, NameplateDigits, SecretDigits)
	}
	return Code{Nameplate: np, Secret: sec}, nil
}

// ValidNameplate reports whether s is a nameplate's canonical form.
func ValidNameplate(s string) bool { return isDigits(s, NameplateDigits) }

func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
