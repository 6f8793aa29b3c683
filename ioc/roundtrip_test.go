package ioc

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
)

// sampleRecords has one record of every type, across every TLP, with and
// without the optional fields.
func sampleRecords(t testing.TB) []Record {
	t.Helper()
	recips := []identity.ID{testKey(t, 2).ID(), testKey(t, 3).ID()}
	in := []struct {
		t Type
		v string
		m TLP
	}{
		{TypeIPv4, "192.0.2.1", TLPClear}, {TypeIPv6, "2001:db8::1", TLPGreen}, {TypeCIDR, "198.51.100.0/24", TLPAmber},
		{TypeCIDR, "2001:db8::/48", TLPClear}, {TypeDomain, "bücher.example", TLPGreen}, {TypeHostname, "www.evil.example", TLPAmberStrict},
		{TypeURL, "http://evil.example/it's?a=b", TLPRed}, {TypeEmail, "bad@evil.example", TLPClear},
		{TypeMD5, strings.Repeat("a", 32), TLPGreen}, {TypeSHA1, strings.Repeat("b", 40), TLPClear},
		{TypeSHA256, strings.Repeat("c", 64), TLPAmber}, {TypeCVE, "CVE-2021-44228", TLPGreen},
	}
	var out []Record
	for i, c := range in {
		r := Record{Type: c.t, Value: c.v, TLP: c.m, Confidence: NoConfidence}
		if c.m.Restricted() {
			r.Recipients = recips
		}
		if i%2 == 0 {
			r.Confidence = i * 8
			r.Tags = []string{"apt-x", "c2"}
			r.Description = "seen in campaign " + c.t.String()
			r.References = []string{"https://report.example/" + c.t.String()}
			r.ValidFrom = time.UnixMilli(1_600_000_000_000 + int64(i))
			r.ValidUntil = time.UnixMilli(1_900_000_000_000)
		}
		r.Informational = i%3 == 0
		if err := r.Normalize(); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func entriesOf(t testing.TB, rs []Record) []Entry {
	author := testKey(t, 1).ID()
	var es []Entry
	for _, r := range rs {
		es = append(es, Entry{Record: r, Author: author, Created: time.UnixMilli(1_700_000_000_000)})
	}
	return es
}

func recipientsOpt(t testing.TB) ImportOptions {
	return ImportOptions{Recipients: []identity.ID{testKey(t, 2).ID(), testKey(t, 3).ID()}}
}

func export(t testing.TB, f Format, es []Entry) []byte {
	t.Helper()
	var b bytes.Buffer
	var err error
	if f == FormatSTIX {
		err = ExportSTIX(&b, es)
	} else {
		err = ExportMISP(&b, es)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func mustImport(t testing.TB, b []byte, opts ImportOptions) *Result {
	t.Helper()
	res, err := Import(bytes.NewReader(b), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	return res
}

type idTLP struct {
	id  ContentID
	tlp TLP
}

func idsOf(rs []Record) []idTLP {
	var out []idTLP
	for _, r := range rs {
		out = append(out, idTLP{r.ContentID(), r.TLP})
	}
	slices.SortFunc(out, func(a, b idTLP) int { return bytes.Compare(a.id[:], b.id[:]) })
	return out
}

func TestRoundTripSample(t *testing.T) {
	rs := sampleRecords(t)
	for _, f := range []Format{FormatSTIX, FormatMISP} {
		t.Run(f.String(), func(t *testing.T) {
			out := export(t, f, entriesOf(t, rs))
			res := mustImport(t, out, recipientsOpt(t))
			if res.Format != f {
				t.Fatalf("detected %v", res.Format)
			}
			if !slices.Equal(idsOf(res.Records), idsOf(rs)) {
				t.Fatalf("content IDs or TLP changed:\n got %v\nwant %v", idsOf(res.Records), idsOf(rs))
			}
			byID := map[ContentID]Record{}
			for _, r := range res.Records {
				byID[r.ContentID()] = r
			}
			for _, r := range rs {
				g := byID[r.ContentID()]
				if !slices.Equal(g.Tags, r.Tags) || g.Description != r.Description || g.Informational != r.Informational {
					t.Errorf("%s: tags/description/to_ids changed: %+v", r.Value, g)
				}
				if f == FormatSTIX && (g.Confidence != r.Confidence || !slices.Equal(g.References, r.References) ||
					!g.ValidUntil.Equal(r.ValidUntil) || !r.ValidFrom.IsZero() && !g.ValidFrom.Equal(r.ValidFrom)) {
					t.Errorf("%s: STIX lost confidence, references or validity: %+v", r.Value, g)
				}
			}
			// export → import → export gives the same document.
			again := export(t, f, entriesOf(t, res.Records))
			if f == FormatMISP && !bytes.Equal(again, out) {
				t.Error("MISP export → import → export changed the bytes")
			}
			res2 := mustImport(t, again, recipientsOpt(t))
			if !slices.Equal(idsOf(res2.Records), idsOf(rs)) {
				t.Fatal("second round trip changed content IDs or TLP")
			}
		})
	}
}

func TestExportDeterministic(t *testing.T) {
	es := entriesOf(t, sampleRecords(t))
	for _, f := range []Format{FormatSTIX, FormatMISP} {
		a := export(t, f, es)
		shuffled := slices.Clone(es)
		rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		// A duplicate from another author, older, must not win.
		dup := es[0]
		dup.Author, dup.Created = testKey(t, 9).ID(), dup.Created.Add(-time.Hour)
		shuffled = append(shuffled, dup)
		if b := export(t, f, shuffled); !bytes.Equal(a, b) {
			t.Errorf("%v export depends on input order or duplicates", f)
		}
	}
}

// TestSTIXExportValid checks the STIX 2.1 rules export must keep: ids
// type--UUID, required common and indicator properties, RFC 3339 UTC
// timestamps, markings that are the OASIS TLP 2.0 ones.
func TestSTIXExportValid(t *testing.T) {
	out := export(t, FormatSTIX, entriesOf(t, sampleRecords(t)))
	var b struct {
		Type    string           `json:"type"`
		ID      string           `json:"id"`
		Objects []map[string]any `json:"objects"`
	}
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatal(err)
	}
	uuid := `[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`
	idRe := regexp.MustCompile(`^([a-z0-9-]+)--` + uuid + `$`)
	tsRe := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`)
	if b.Type != "bundle" || !idRe.MatchString(b.ID) {
		t.Fatalf("bundle header %q %q", b.Type, b.ID)
	}
	kinds := map[string]int{}
	for _, o := range b.Objects {
		typ, _ := o["type"].(string)
		kinds[typ]++
		id, _ := o["id"].(string)
		if m := idRe.FindStringSubmatch(id); m == nil || m[1] != typ {
			t.Errorf("id %q does not match type %q", id, typ)
		}
		if o["spec_version"] != "2.1" {
			t.Errorf("%s: spec_version %v", id, o["spec_version"])
		}
		need := []string{"created"}
		switch typ {
		case "indicator":
			need = append(need, "modified", "pattern", "pattern_type", "valid_from")
		case "vulnerability", "identity":
			need = append(need, "modified", "name")
		}
		for _, k := range need {
			if o[k] == nil {
				t.Errorf("%s lacks %s", id, k)
			}
		}
		for _, k := range []string{"created", "modified", "valid_from", "valid_until"} {
			if s, ok := o[k].(string); ok && !tsRe.MatchString(s) {
				t.Errorf("%s: %s %q is not RFC 3339 UTC", id, k, s)
			}
		}
		refs, _ := o["object_marking_refs"].([]any)
		if (typ == "indicator" || typ == "vulnerability") != (len(refs) == 1) {
			t.Errorf("%s: marking refs %v", id, refs)
		}
		for _, ref := range refs {
			if _, ok := knownMarkings[ref.(string)]; !ok {
				t.Errorf("%s: marking %v is not a TLP 2.0 id", id, ref)
			}
		}
	}
	if kinds["indicator"] != 11 || kinds["vulnerability"] != 1 || kinds["identity"] != 1 || kinds["marking-definition"] != 5 {
		t.Errorf("object kinds %v", kinds)
	}
}

// TestFixtureRoundTrip: every fixture that imports cleanly keeps its
// content IDs and TLPs through export and import in both formats.
func TestFixtureRoundTrip(t *testing.T) {
	n := 0
	for _, w := range fixtureWants {
		if w.err != "" || len(w.records) == 0 {
			continue
		}
		b, err := os.ReadFile(fixturePath(t, w.name))
		if err != nil {
			t.Fatal(err)
		}
		res, err := Import(bytes.NewReader(b), ImportOptions{DefaultTLP: TLPGreen})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []Format{FormatSTIX, FormatMISP} {
			back := mustImport(t, export(t, f, entriesOf(t, res.Records)), ImportOptions{})
			if !slices.Equal(idsOf(back.Records), idsOf(res.Records)) {
				t.Errorf("%s via %v: content IDs or TLP changed", w.name, f)
			}
			n++
		}
	}
	if n < 30 {
		t.Fatalf("only %d round trips", n)
	}
}

func TestSTIXMarkings(t *testing.T) {
	bundle := func(refs, extra string) []byte {
		return []byte(`{"type":"bundle","id":"bundle--1","objects":[` + extra + `{"type":"indicator","id":"indicator--a","spec_version":"2.1",` +
			`"pattern":"[ipv4-addr:value = '192.0.2.1']","pattern_type":"stix","valid_from":"2020-01-01T00:00:00Z","object_marking_refs":[` + refs + `]}]}`)
	}
	def := func(id, body string) string {
		return `{"type":"marking-definition","spec_version":"2.1","id":"` + id + `",` + body + `},`
	}
	cases := []struct {
		name, refs, extra string
		opts              ImportOptions
		want              TLP
		fail              string
	}{
		{"tlp2 clear", `"` + tlp2IDs[TLPClear] + `"`, "", ImportOptions{}, TLPClear, ""},
		{"tlp2 amber+strict", `"` + tlp2IDs[TLPAmberStrict] + `"`, "", recipientsOpt(t), TLPAmberStrict, ""},
		{"tlp1 white is clear", `"marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"`, "", ImportOptions{}, TLPClear, ""},
		{"tlp1 red", `"marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"`, "", recipientsOpt(t), TLPRed, ""},
		{"strictest of several", `"` + tlp2IDs[TLPGreen] + `","` + tlp2IDs[TLPAmber] + `"`, "", recipientsOpt(t), TLPAmber, ""},
		{"defined in bundle, tlp2 extension", `"marking-definition--x"`,
			def("marking-definition--x", `"extensions":{"`+tlp2Extension+`":{"extension_type":"property-extension","tlp_2_0":"green"}}`), ImportOptions{}, TLPGreen, ""},
		{"defined in bundle, tlp1 form", `"marking-definition--y"`,
			def("marking-definition--y", `"definition_type":"tlp","definition":{"tlp":"amber"}`), recipientsOpt(t), TLPAmber, ""},
		{"statement only takes the default", `"marking-definition--s"`,
			def("marking-definition--s", `"definition_type":"statement","definition":{"statement":"Copyright"}`), ImportOptions{DefaultTLP: TLPGreen}, TLPGreen, ""},
		{"statement does not weaken tlp", `"marking-definition--s","` + tlp2IDs[TLPRed] + `"`,
			def("marking-definition--s", `"definition_type":"statement","definition":{"statement":"x"}`), ImportOptions{DefaultTLP: TLPClear, Recipients: recipientsOpt(t).Recipients}, TLPRed, ""},
		{"unknown ref refused", `"marking-definition--nowhere"`, "", ImportOptions{DefaultTLP: TLPClear}, 0, "unknown marking"},
		{"unknown tlp2 level refused", `"marking-definition--z"`,
			def("marking-definition--z", `"extensions":{"`+tlp2Extension+`":{"tlp_2_0":"purple"}}`), ImportOptions{DefaultTLP: TLPClear}, 0, "unknown marking"},
		{"unknown with known still refused", `"marking-definition--nowhere","` + tlp2IDs[TLPRed] + `"`, "", recipientsOpt(t), 0, "unknown marking"},
		{"unmarked without default", ``, "", ImportOptions{}, 0, "no TLP marking"},
		{"unmarked with default", ``, "", ImportOptions{DefaultTLP: TLPGreen}, TLPGreen, ""},
		{"amber without recipients", `"` + tlp2IDs[TLPAmber] + `"`, "", ImportOptions{}, 0, "needs named recipients"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := Import(bytes.NewReader(bundle(c.refs, c.extra)), c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if c.fail != "" {
				if len(res.Records) != 0 || res.Err() == nil || !strings.Contains(res.Err().Error(), c.fail) {
					t.Fatalf("records %v, err %v; want failure %q", res.Records, res.Err(), c.fail)
				}
				var ie *ImportError
				if !errors.As(res.Err(), &ie) || len(ie.Failed) != 1 || ie.Failed[0].ID != "indicator--a" {
					t.Fatalf("failure does not name the object: %v", res.Err())
				}
				return
			}
			if res.Err() != nil || len(res.Records) != 1 || res.Records[0].TLP != c.want {
				t.Fatalf("got %v %v, want TLP %v", res.Records, res.Err(), c.want)
			}
			if c.want.Restricted() && !slices.Equal(res.Records[0].Recipients, c.opts.Recipients) {
				t.Fatal("recipients not applied")
			}
		})
	}
}

func TestMISPTags(t *testing.T) {
	event := func(evTags, attrTags string) []byte {
		return []byte(`[{"Event":{"info":"x","Attribute":[{"type":"ip-dst","value":"192.0.2.1","to_ids":"0","Tag":[` + attrTags +
			`]},{"type":"domain|ip","value":"a.example|2001:db8::1"},{"type":"filename|sha1","value":"a.exe|` + strings.Repeat("A", 40) +
			`","comment":"dropper"}],"Tag":[` + evTags + `]}}]`)
	}
	cases := []struct {
		name, ev, attr string
		opts           ImportOptions
		want           []TLP // per record: ip, domain, ipv6, sha1
		fail           int
	}{
		{"tlp:clear", `{"name":"tlp:clear"},{"name":"osint"}`, ``, ImportOptions{}, []TLP{1, 1, 1, 1}, 0},
		{"tlp:white is clear", `{"name":"tlp:white"}`, ``, ImportOptions{}, []TLP{1, 1, 1, 1}, 0},
		{"attribute stricter", `{"name":"tlp:green"}`, `{"name":"tlp:amber+strict"}`, recipientsOpt(t), []TLP{4, 2, 2, 2}, 0},
		{"attribute weaker does not weaken", `{"name":"TLP:RED"}`, `{"name":"tlp:clear"}`, recipientsOpt(t), []TLP{5, 5, 5, 5}, 0},
		{"unknown tlp tag refused", `{"name":"tlp:ex:chr"}`, ``, ImportOptions{DefaultTLP: TLPClear}, nil, 4},
		{"untagged needs default", ``, ``, ImportOptions{}, nil, 4},
		{"untagged takes default", ``, ``, ImportOptions{DefaultTLP: TLPGreen}, []TLP{2, 2, 2, 2}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := Import(bytes.NewReader(event(c.ev, c.attr)), c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(res.Failed()); got != c.fail {
				t.Fatalf("%d failed, want %d: %v", got, c.fail, res.Issues)
			}
			var got []TLP
			for _, r := range res.Records {
				got = append(got, r.TLP)
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("TLPs %v, want %v", got, c.want)
			}
			if c.fail == 0 {
				r := res.Records
				if r[0].Type != TypeIPv4 || !r[0].Informational || r[1].Type != TypeDomain || r[2].Type != TypeIPv6 ||
					r[3].Description != "dropper\nfilename: a.exe" || r[3].Value != strings.Repeat("a", 40) {
					t.Fatalf("attributes mapped wrongly: %+v", r)
				}
				if slices.ContainsFunc(r[0].Tags, func(s string) bool { return strings.HasPrefix(strings.ToLower(s), "tlp:") }) {
					t.Fatal("tlp tag kept as a plain tag")
				}
			}
		})
	}
}

func TestImportShapes(t *testing.T) {
	attr := `"Attribute":[{"type":"domain","value":"a.example"}]`
	for name, in := range map[string]string{
		"wrapped":   `{"Event":{` + attr + `,"Tag":[{"name":"tlp:green"}]}}`,
		"bare":      `{"info":"x",` + attr + `,"Tag":[{"name":"tlp:green"}]}`,
		"list":      `[{"Event":{"Tag":[{"name":"tlp:green"}],` + attr + `}}]`,
		"bare list": `[{` + attr + `,"Tag":[{"name":"tlp:green"}]}]`,
		"response":  `{"response":[{"Event":{` + attr + `,"Tag":[{"name":"tlp:green"}]}}]}`,
	} {
		res, err := Import(strings.NewReader(in), ImportOptions{})
		if err != nil || res.Err() != nil || res.Format != FormatMISP || len(res.Records) != 1 || res.Records[0].TLP != TLPGreen {
			t.Errorf("%s: %v %v %+v", name, err, res, res)
		}
	}
	for name, in := range map[string]string{
		"not json":        `<xml/>`,
		"scalar":          `42`,
		"mixed":           `{"type":"bundle","Event":{}}`,
		"stix non-bundle": `{"type":"indicator","id":"indicator--x"}`,
		"neither":         `{"foo":1}`,
		"truncated":       `{"type":"bundle","objects":[{"type":"indicator"`,
		"trailing":        `{"type":"bundle","objects":[]} {}`,
		"objects only":    `{"objects":[]}`,
	} {
		if _, err := Import(strings.NewReader(in), ImportOptions{}); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: got %v, want ErrFormat", name, err)
		}
	}
}

// TestImportBounded: one object over MaxObject stops the import before it is
// buffered whole, even inside a value the importer skips.
func TestImportBounded(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	for name, in := range map[string]string{
		"stix object": `{"type":"bundle","objects":[{"type":"note","content":"` + big + `"}]}`,
		"skipped key": `{"Event":{"Galaxy":"` + big + `"}}`,
		"attribute":   `{"Event":{"Attribute":[{"type":"text","value":"` + big + `"}]}}`,
	} {
		lr := &countingReader{r: strings.NewReader(in)}
		_, err := Import(lr, ImportOptions{MaxObject: 64 << 10})
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("%s: got %v", name, err)
		}
		if lr.n > 256<<10 {
			t.Errorf("%s: read %d bytes before refusing", name, lr.n)
		}
	}
}

type countingReader struct {
	r interface{ Read([]byte) (int, error) }
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestImportProgress(t *testing.T) {
	rs := generated(t, 2500)
	out := export(t, FormatSTIX, entriesOf(t, rs))
	var calls []Progress
	clock := time.Unix(0, 0)
	res := mustImport(t, out, ImportOptions{DefaultTLP: TLPGreen, ProgressEvery: 1000,
		Progress: func(p Progress) { calls = append(calls, p) },
		Now:      func() time.Time { clock = clock.Add(time.Second); return clock }})
	if len(res.Records) != 2500 {
		t.Fatalf("%d records", len(res.Records))
	}
	if len(calls) != 3 || calls[0].Objects != 1000 || calls[1].Objects != 2000 || !calls[2].Done ||
		calls[2].Objects != res.Objects || calls[2].Bytes != int64(len(out)) || calls[2].Rate() <= 0 {
		t.Fatalf("progress calls %+v", calls)
	}
}

// generated makes n distinct CLEAR records of mixed types.
func generated(t testing.TB, n int) []Record {
	rs := make([]Record, 0, n)
	for i := range n {
		var r Record
		var err error
		switch i % 4 {
		case 0:
			r, err = NewRecord(TypeIPv4, ipv4Of(i), TLPClear)
		case 1:
			r, err = NewRecord(TypeDomain, "host"+itoa(i)+".example", TLPClear)
		case 2:
			r, err = NewRecord(TypeSHA256, sha256Of(i), TLPClear)
		default:
			r, err = NewRecord(TypeURL, "http://u"+itoa(i)+".example/p?q="+itoa(i), TLPClear)
		}
		if err != nil {
			t.Fatal(err)
		}
		r.Tags = []string{"generated"}
		r.Confidence = i % 101
		rs = append(rs, r)
	}
	return rs
}

func itoa(i int) string { return strconv.Itoa(i) }

func ipv4Of(i int) string {
	return strconv.Itoa(10+i>>24&0x7f) + "." + strconv.Itoa(i>>16&0xff) + "." + strconv.Itoa(i>>8&0xff) + "." + strconv.Itoa(i&0xff)
}

func sha256Of(i int) string {
	h := sha256.Sum256([]byte(strconv.Itoa(i)))
	return hex.EncodeToString(h[:])
}

// FuzzImport feeds the importer JSON of both formats, seeded from
// testdata/import and small fixtures. The oracle: no panic, records that
// are valid, and a failure list whenever Err is non-nil.
func FuzzImport(f *testing.F) {
	addImportSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := Import(bytes.NewReader(b), ImportOptions{DefaultTLP: TLPGreen, MaxObject: 1 << 16})
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error does not wrap ErrFormat: %v", err)
			}
			return
		}
		for _, r := range res.Records {
			if err := r.Validate(); err != nil {
				t.Fatalf("invalid record imported: %v", err)
			}
		}
		if (res.Err() != nil) != (len(res.Failed()) > 0) {
			t.Fatal("Err and Failed disagree")
		}
	})
}

func TestImportTestdata(t *testing.T) {
	opts := recipientsOpt(t)
	res := mustImport(t, mustRead(t, "testdata/import/stix_all_types.json"), opts)
	got := map[string]bool{}
	for _, r := range res.Records {
		got[r.Type.String()+" "+r.Value+" "+r.TLP.Name()] = true
	}
	for _, w := range []string{"ipv4 192.0.2.1 green", "ipv6 2001:db8::1 green", "cidr 198.51.100.0/24 green",
		"domain evil.example green", "url http://evil.example/x green", "email a@evil.example green",
		"md5 d41d8cd98f00b204e9800998ecf8427e green", "sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709 green",
		"sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 green", "cve CVE-2021-44228 clear"} {
		if !got[w] {
			t.Errorf("STIX: missing %q in %v", w, got)
		}
	}
	if len(res.Records) != 10 || res.Records[0].Confidence != 75 || res.Records[0].ValidUntil.UnixMilli() != 1893456000500 {
		t.Errorf("STIX: %d records, first %+v", len(res.Records), res.Records[0])
	}
	res = mustImport(t, mustRead(t, "testdata/import/misp_all_types.json"), opts)
	got = map[string]bool{}
	for _, r := range res.Records {
		got[r.Type.String()+" "+r.Value+" "+r.TLP.Name()] = true
	}
	for _, w := range []string{"ipv4 192.0.2.1 amber+strict", "ipv6 2001:db8::1 amber+strict", "cidr 10.0.0.0/8 amber+strict",
		"domain evil.example amber+strict", "hostname www.evil.example amber+strict", "url https://evil.example/ amber+strict",
		"email a@evil.example amber+strict", "email b@evil.example amber+strict", "md5 d41d8cd98f00b204e9800998ecf8427e amber+strict",
		"sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 amber+strict",
		"cve CVE-2014-0160 amber+strict", "sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709 amber+strict"} {
		if !got[w] {
			t.Errorf("MISP: missing %q in %v", w, got)
		}
	}
	if len(res.Records) != 12 || len(res.Issues) != 2 {
		t.Errorf("MISP: %d records, issues %v", len(res.Records), res.Issues)
	}
}

func mustRead(t testing.TB, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestImportIssuesBounded: a flood of worthless objects costs bounded
// memory and still fails the import.
func TestImportIssuesBounded(t *testing.T) {
	n := MaxIssues + 500
	in := `{"type":"bundle","objects":[` + strings.Repeat(`{},`, n-1) + `{}]}`
	res, err := Import(strings.NewReader(in), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ie *ImportError
	if len(res.Issues) != MaxIssues || res.Unlisted[Failed-1] != 500 || !errors.As(res.Err(), &ie) ||
		!strings.Contains(ie.Error(), strconv.Itoa(n)+" objects failed") {
		t.Fatalf("%d issues, unlisted %v, err %v", len(res.Issues), res.Unlisted, res.Err())
	}
	deep := `{"Event":{"Galaxy":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}}`
	if _, err := Import(strings.NewReader(deep), ImportOptions{}); !errors.Is(err, ErrFormat) {
		t.Fatalf("deep skipped value: %v", err)
	}
}

// addImportSeeds seeds an import fuzz target with testdata/import (the
// real-world shapes of list.go among them) and the small fixtures.
func addImportSeeds(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "import", "*.json"))
	shapes, _ := filepath.Glob(filepath.Join("testdata", "import", "shapes", "*.json"))
	seeds = append(seeds, shapes...)
	for _, w := range fixtureWants {
		seeds = append(seeds, filepath.Join(fixtureDir, w.name))
	}
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil && len(b) < 16<<10 {
			f.Add(b)
		}
	}
}
