package collection

import (
	"strings"
	"testing"
)

// FuzzParseCursor: any cursor text is read or refused, and what is read
// writes as text that reads back as the same cursor.
func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"", "0." + strings.Repeat("00", 32), "1700000000000000." + strings.Repeat("ab", 32), "-1.00", "1.zz", "99999999999999999999." + strings.Repeat("ff", 32)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCursor(s)
		if err != nil {
			return
		}
		back, err := ParseCursor(c.String())
		if err != nil || back != c {
			t.Fatalf("%q reads as %+v, which writes %q, which reads as %+v (%v)", s, c, c.String(), back, err)
		}
	})
}
