package pairing

import (
	"errors"
	"testing"
)

func TestParseCode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" means refused
	}{
		{"47-382915", "47-382915"},
		{" 47-382915\n", "47-382915"},
		{"47 382915", "47-382915"},
		{"47 - 382915", "47-382915"},
		{"00-000000", "00-000000"},
		{"47382915", ""},
		{"4-382915", ""},
		{"47-38291", ""},
		{"47-3829150", ""},
		{"47-38291a", ""},
		{"ab-382915", ""},
		{"47-٣٨٢٩١٥", ""}, // Arabic-Indic digits are not ASCII digits
		{"", ""},
	} {
		c, err := ParseCode(tc.in)
		switch {
		case tc.want == "" && !errors.Is(err, ErrBadCode):
			t.Errorf("ParseCode(%q) = %v, %v; want ErrBadCode", tc.in, c, err)
		case tc.want != "" && (err != nil || c.String() != tc.want):
			t.Errorf("ParseCode(%q) = %v, %v; want %s", tc.in, c, err, tc.want)
		}
	}
}

// TestGenerateCode: codes have the shown form, and the nameplate and the
// secret are separate draws (a nameplate does not fix the secret).
func TestGenerateCode(t *testing.T) {
	r := seeded("codes")
	secrets := map[string]map[string]bool{}
	for range 2000 {
		c, err := GenerateCode(r)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := ParseCode(c.String()); err != nil || back != c {
			t.Fatalf("generated %q does not parse back: %v", c, err)
		}
		if secrets[c.Nameplate] == nil {
			secrets[c.Nameplate] = map[string]bool{}
		}
		secrets[c.Nameplate][c.Secret] = true
	}
	for np, s := range secrets {
		if len(s) > 1 {
			return // one nameplate came with two secrets
		}
		_ = np
	}
	t.Fatal("every nameplate came with one secret only")
}
