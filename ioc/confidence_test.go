package ioc

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// TestConfidenceFromTrust: STIX export's confidence is the stated
// confidence discounted by our trust in the source (docs/reputation.md §5), on
// the 0–100 scale of STIX 2.1 §3.2.
func TestConfidenceFromTrust(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	cases := []struct {
		name   string
		stated int
		trust  *float64
		want   int
		ok     bool
	}{
		{"no trust, none stated", NoConfidence, nil, 0, false},
		{"no trust, stated", 80, nil, 80, true},
		{"full trust, stated", 80, f(1), 80, true},
		{"half trust, stated", 80, f(0.5), 40, true},
		{"half trust, none stated", NoConfidence, f(0.5), 50, true},
		{"no trust at all", 90, f(0), 0, true},
		{"rounded", 33, f(0.5), 17, true},
		{"out of range trust is clamped", 60, f(1.5), 60, true},
	}
	for _, c := range cases {
		e := Entry{Record: Record{Confidence: c.stated}, SourceTrust: c.trust}
		if got, ok := e.Confidence(); got != c.want || ok != c.ok {
			t.Errorf("%s: %d, %v; want %d, %v", c.name, got, ok, c.want, c.ok)
		}
	}

	r := Record{Type: TypeDomain, Value: "evil.example", TLP: TLPClear, Confidence: NoConfidence}
	var buf bytes.Buffer
	if err := ExportSTIX(&buf, []Entry{{Record: r, Created: time.Unix(0, 0), SourceTrust: f(0.25)}}); err != nil {
		t.Fatal(err)
	}
	var bundle struct {
		Objects []map[string]any `json:"objects"`
	}
	if err := json.Unmarshal(buf.Bytes(), &bundle); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, o := range bundle.Objects {
		if o["type"] == "indicator" {
			found = o["confidence"] == float64(25)
		}
	}
	if !found {
		t.Errorf("the exported indicator does not carry confidence 25: %s", buf.String())
	}
}
