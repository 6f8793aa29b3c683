package collection

import "github.com/ghostwire/ghostwire/identity"

// trusted applies a filter's source trust (docs/reputation.md): whether an
// author's indicators pass MinTrust, and the score to show and export.
// Without SourceTrust every author passes and nothing is shown.
func (f *Filter) trusted(author identity.ID) (score *float64, keep bool) {
	if f.SourceTrust == nil {
		return nil, true
	}
	t := f.SourceTrust(author)
	return &t, t >= f.MinTrust
}
