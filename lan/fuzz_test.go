package lan

import (
	"slices"
	"strings"
	"testing"
)

// FuzzParseAdvert: ParseAdvert never panics, and what it accepts is
// canonical: it encodes back to the same strings, so an advert has one
// spelling. The TXT strings arrive joined by newlines (no token or
// version contains one).
func FuzzParseAdvert(f *testing.F) {
	for seed := range uint64(4) {
		adv, err := newAdvert(nil, seededRand(seed))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(strings.Join(adv.Text(), "\n"))
	}
	f.Add("v=1\nt=aaaaaaaaaaaaaaaa")
	f.Add("v=1\nt=aaaaaaaaaaaaaaaa\nt=aaaaaaaaaaaaaaab\nname=x")
	f.Fuzz(func(t *testing.T, s string) {
		txt := strings.Split(s, "\n")
		adv, err := ParseAdvert(txt)
		if err != nil {
			return
		}
		if !slices.Equal(adv.Text(), txt) {
			t.Fatalf("accepted %q, which encodes back as %q", txt, adv.Text())
		}
		if len(adv.Tokens) == 0 || len(adv.Tokens) > MaxTokens {
			t.Fatalf("accepted %d tokens", len(adv.Tokens))
		}
	})
}

// FuzzParsePairingAdvert: the pairing advert parser never panics, and what
// it accepts is exactly PairingText of the nameplate it returns.
func FuzzParsePairingAdvert(f *testing.F) {
	f.Add(strings.Join(PairingText("47"), "\n"))
	f.Add("v=1\nn=4")
	f.Add("v=1\nn=47\nx=1")
	f.Fuzz(func(t *testing.T, s string) {
		txt := strings.Split(s, "\n")
		np, err := ParsePairingAdvert(txt)
		if err != nil {
			return
		}
		if !slices.Equal(PairingText(np), txt) {
			t.Fatalf("accepted %q, which encodes back as %q", txt, PairingText(np))
		}
	})
}
