package lan

import "testing"

// TestParsePairingAdvert: exactly the version and a two-digit nameplate;
// nothing else is a pairing advert.
func TestParsePairingAdvert(t *testing.T) {
	for _, tc := range []struct {
		txt  []string
		want string // "" means refused
	}{
		{[]string{"v=1", "n=47"}, "47"},
		{[]string{"v=1", "n=00"}, "00"},
		{[]string{"v=1", "n=4"}, ""},
		{[]string{"v=1", "n=470"}, ""},
		{[]string{"v=1", "n=4a"}, ""},
		{[]string{"v=2", "n=47"}, ""},
		{[]string{"n=47", "v=1"}, ""},
		{[]string{"v=1", "n=47", "t=aaaaaaaaaaaaaaaa"}, ""},
		{[]string{"v=1"}, ""},
		{nil, ""},
	} {
		np, err := ParsePairingAdvert(tc.txt)
		if (err == nil) != (tc.want != "") || np != tc.want {
			t.Errorf("ParsePairingAdvert(%q) = %q, %v; want %q", tc.txt, np, err, tc.want)
		}
	}
}
