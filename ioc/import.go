package ioc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ghostwire/ghostwire/identity"
)

// DefaultMaxObject is the largest single JSON object (a STIX object, a MISP
// attribute or object) Import reads, unless ImportOptions says otherwise.
// The largest real indicator in the fixtures (APT1 Appendix G, hundreds of
// ORed hashes) is about 60 KiB; 8 MiB leaves room and still bounds memory.
const DefaultMaxObject = 8 << 20

// MaxIssues bounds the issues an import keeps; beyond it they are only
// counted (Result.Uncounted), so that a file of a million empty objects
// cannot turn 3 bytes of input into 100 bytes of memory each. Failures
// past the limit still make Result.Err non-nil.
const MaxIssues = 100_000

// maxSkipDepth bounds the nesting of a value the importer skips.
const maxSkipDepth = 1000

// Format names an exchange format.
type Format uint8

// The formats Import reads and Export writes.
const (
	FormatSTIX Format = iota + 1
	FormatMISP
)

// String returns "stix", "misp" or "unknown".
func (f Format) String() string {
	switch f {
	case FormatSTIX:
		return "stix"
	case FormatMISP:
		return "misp"
	}
	return "unknown"
}

// ImportOptions controls Import. The zero value is usable: unmarked objects
// then fail, as do restricted ones (no recipients).
type ImportOptions struct {
	// DefaultTLP is given to objects that carry no TLP marking at all. Zero
	// means such objects fail: a file without markings may still be
	// private, and guessing CLEAR would be guessing weaker.
	DefaultTLP TLP
	// Recipients are given to every AMBER, AMBER+STRICT or RED record.
	// Empty means restricted objects fail, naming the missing recipients.
	Recipients []identity.ID
	// Progress, if set, is called every ProgressEvery objects and once at
	// the end, on the caller's goroutine.
	Progress      func(Progress)
	ProgressEvery int // zero: 1000
	// MaxObject bounds each JSON object read; zero: DefaultMaxObject.
	MaxObject int64
	// Now is the clock for progress rates; nil: time.Now.
	Now func() time.Time
	// MaxPending bounds, in ImportStream, the records that must wait for
	// something later in the input: those of one MISP event (its tags may
	// follow its attributes) and STIX records naming a marking-definition
	// not read yet. Past it the input is refused (ErrFormat) rather than
	// held in memory. Zero: DefaultMaxPending. Import holds everything and
	// ignores it.
	MaxPending int
}

// DefaultMaxPending is ImportOptions.MaxPending's default: 50,000 records
// of at most a few KiB each bound what waits to tens of MiB, and no real
// MISP event in the fixtures comes near it.
const DefaultMaxPending = 50_000

// ErrFormat is wrapped when the input is neither a STIX bundle nor MISP
// JSON, or is not JSON at all.
var ErrFormat = errors.New("ioc: import: unrecognised input")

// Import reads a STIX 2.1 bundle or MISP JSON (one event with or without
// its {"Event": …} wrapper, a list of events, or a REST {"response": […]}),
// telling them apart by their keys. It reads one object at a time and never
// holds more than one object's JSON (at most opts.MaxObject bytes), so
// memory follows the records produced, not the input size.
//
// The error is for the input as a whole (not JSON, unrecognised, an object
// over the limit); per-object problems are in Result.Issues and
// Result.Err. The rules it applies are in docs/ioc.md §5 and §6.
func Import(r io.Reader, opts ImportOptions) (*Result, error) {
	im := newImporter(r, opts)
	err := im.run()
	im.progress(true)
	if err != nil {
		return nil, err
	}
	return im.finish(), nil
}

// ImportStream reads what Import reads, with memory bounded by options, not
// by the input: it merges duplicates only among window consecutive
// distinct records (zero: 1000) and hands each window, normalised and in
// first-seen order, to emit, then forgets it. A duplicate in a later window
// is emitted again (stored, it is a newer statement of the same
// indicator). Records that must wait for later input are bounded by
// opts.MaxPending. The Result has no Records; its counts and issues are
// those of the whole input. For the same input and options, the windows
// are the same on every run, which is what lets an interrupted import
// skip what it stored before.
//
// An error from emit stops the import and is returned as is.
func ImportStream(r io.Reader, opts ImportOptions, window int, emit func([]Record) error) (*Result, error) {
	return importStream(r, opts, window, emit, nil)
}

// maxPrescanEvents bounds the events whose tags a prescan keeps: past it,
// the others' attributes wait for their tags as without a prescan (a
// file of that many events has small ones).
const maxPrescanEvents = 100_000

// ImportStreamPrescan is ImportStream over an input it can read twice
// (open returns it from its start each time). MISP writes an event's tags
// after its attributes, so a streaming import must hold every attribute of
// an event until the event ends, and refuses an event of more than
// opts.MaxPending attributes; a first read that only notes each event's
// tags lets the second resolve every attribute as it is read, so an event
// of a million attributes streams in bounded memory. The first read costs
// a token scan of the input and no records.
func ImportStreamPrescan(open func() io.Reader, opts ImportOptions, window int, emit func([]Record) error) (*Result, error) {
	pre := opts
	pre.Progress = nil
	im := newImporter(open(), pre)
	im.prescan = true
	if err := im.run(); err != nil {
		return nil, err
	}
	return importStream(open(), opts, window, emit, im.eventTags)
}

func importStream(r io.Reader, opts ImportOptions, window int, emit func([]Record) error, eventTags map[string][]string) (*Result, error) {
	if window <= 0 {
		window = 1000
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = DefaultMaxPending
	}
	im := newImporter(r, opts)
	im.window, im.stream, im.eventTags = window, emit, eventTags
	err := im.run()
	if err == nil {
		im.flush()
		err = im.streamErr
	}
	im.progress(true)
	if err != nil {
		return nil, err
	}
	res := im.res
	return &res, nil
}

// importer holds the state of one Import. It is used by one goroutine.
type importer struct {
	// stream, if set, receives each window of distinct records
	// (ImportStream); streamErr is the first error it or a bound
	// returned, which ends the import at the next token.
	stream    func([]Record) error
	streamErr error
	window    int
	// prescan: this read only notes each MISP event's tags in eventTags
	// (ImportStreamPrescan); it produces no records.
	prescan   bool
	eventTags map[string][]string

	opts   ImportOptions
	lr     *limitReader
	dec    *json.Decoder
	start  time.Time
	res    Result
	index  map[ContentID]int // into res.Records
	pend   []pending         // records awaiting end-of-input facts (STIX markings)
	nrec   int
	lastPr int
}

func newImporter(r io.Reader, opts ImportOptions) *importer {
	if opts.MaxObject <= 0 {
		opts.MaxObject = DefaultMaxObject
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = 1000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	lr := &limitReader{r: r}
	dec := json.NewDecoder(lr)
	dec.UseNumber()
	return &importer{opts: opts, lr: lr, dec: dec, start: opts.Now(), index: map[ContentID]int{}}
}

// limitReader refuses to read past limit, which the importer sets before
// each token or object to "consumed so far + MaxObject": json.Decoder
// buffers a whole value before decoding it, and this is what stops a
// hostile 10 GiB string from being buffered.
type limitReader struct {
	r     io.Reader
	n     int64
	limit int64
}

var errObjectTooLarge = errors.New("object too large")

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n >= l.limit {
		return 0, errObjectTooLarge
	}
	if rem := l.limit - l.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}

func (im *importer) arm() { im.lr.limit = im.dec.InputOffset() + im.opts.MaxObject + 64<<10 }

func (im *importer) wrap(err error) error {
	if errors.Is(err, errObjectTooLarge) {
		return fmt.Errorf("%w: an object near byte %d is larger than %d bytes", ErrFormat, im.dec.InputOffset(), im.opts.MaxObject)
	}
	return fmt.Errorf("%w: %v (near byte %d)", ErrFormat, err, im.dec.InputOffset())
}

func (im *importer) token() (json.Token, error) {
	if im.streamErr != nil {
		return nil, im.streamErr
	}
	im.arm()
	t, err := im.dec.Token()
	if err != nil {
		return nil, im.wrap(err)
	}
	return t, nil
}

func (im *importer) decode(v any) error {
	if im.streamErr != nil {
		return im.streamErr
	}
	im.arm()
	if err := im.dec.Decode(v); err != nil {
		return im.wrap(err)
	}
	return nil
}

// expect reads one delimiter token.
func (im *importer) expect(d json.Delim) error {
	t, err := im.token()
	if err != nil {
		return err
	}
	if t != d {
		return fmt.Errorf("%w: expected %v, got %v", ErrFormat, d, t)
	}
	return nil
}

// key reads the next object key, or ok=false at the closing }.
func (im *importer) key() (string, bool, error) {
	if !im.dec.More() {
		_, err := im.token() // the }
		return "", false, err
	}
	t, err := im.token()
	if err != nil {
		return "", false, err
	}
	k, _ := t.(string)
	return k, true, nil
}

// skip discards one value token by token, so its size costs no memory.
func (im *importer) skip() error {
	depth := 0
	for {
		t, err := im.token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
			if depth > maxSkipDepth {
				return fmt.Errorf("%w: nested deeper than %d", ErrFormat, maxSkipDepth)
			}
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// array calls each for every element of a JSON array; null counts as empty.
func (im *importer) array(each func(i int) error) error {
	t, err := im.token()
	if err != nil {
		return err
	}
	if t == nil {
		return nil
	}
	if t != json.Delim('[') {
		return fmt.Errorf("%w: expected an array, got %v", ErrFormat, t)
	}
	for i := 0; im.dec.More(); i++ {
		if err := each(i); err != nil {
			return err
		}
	}
	_, err = im.token()
	return err
}

func (im *importer) counted() {
	im.res.Objects++
	if im.opts.Progress != nil && im.res.Objects-im.lastPr >= im.opts.ProgressEvery {
		im.progress(false)
	}
}

func (im *importer) progress(done bool) {
	if im.opts.Progress == nil {
		return
	}
	im.lastPr = im.res.Objects
	n := im.dec.InputOffset()
	if done {
		n = im.lr.n
	}
	im.opts.Progress(Progress{Objects: im.res.Objects, Records: im.nrec, Bytes: n,
		Elapsed: im.opts.Now().Sub(im.start), Done: done})
}

func (im *importer) issue(s Severity, where, id, typ, reason string) {
	if len(im.res.Issues) >= MaxIssues {
		im.res.Unlisted[s-1]++
		return
	}
	im.res.Issues = append(im.res.Issues, Issue{Severity: s, Where: where, ID: id, Type: typ, Reason: reason})
}

// run dispatches on the top-level value: an array is a list of MISP
// events or of STIX objects (list.go); an object's keys tell a STIX bundle
// from MISP.
func (im *importer) run() error {
	t, err := im.token()
	if err != nil {
		return err
	}
	switch t {
	case json.Delim('['):
		return im.list()
	case json.Delim('{'):
	default:
		return fmt.Errorf("%w: top level is not a JSON object or array", ErrFormat)
	}
	var bare *mispEvent
	var stix *stixBundle
	for {
		k, ok, err := im.key()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		f := topLevelFormat(k)
		if f != 0 && im.res.Format != 0 && f != im.res.Format {
			return fmt.Errorf("%w: key %q mixes STIX and MISP", ErrFormat, k)
		}
		if f != 0 {
			im.res.Format = f
		}
		switch {
		case f == FormatSTIX:
			if stix == nil {
				stix = &stixBundle{markings: map[string]marking{}}
			}
			if err := im.stixKey(stix, k); err != nil {
				return err
			}
		case k == "Event":
			if err := im.mispEventValue("Event"); err != nil {
				return err
			}
		case k == "response":
			if err := im.response(); err != nil {
				return err
			}
		case f == FormatMISP:
			if bare == nil {
				bare = newMispEvent(im, "Event")
			}
			if err := bare.field(k); err != nil {
				return err
			}
		default:
			if err := im.skip(); err != nil {
				return err
			}
		}
	}
	if t, err := im.dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the top-level value (%v)", ErrFormat, t)
	}
	switch {
	case stix != nil:
		return im.stixFinish(stix)
	case bare != nil:
		bare.finish()
	case im.res.Format == 0:
		return fmt.Errorf("%w: neither a STIX bundle (type, objects) nor MISP JSON (Event, response, Attribute…)", ErrFormat)
	}
	return nil
}

func topLevelFormat(k string) Format {
	switch k {
	case "type", "objects", "spec_version":
		return FormatSTIX
	case "Event", "response", "Attribute", "Object", "Tag", "EventTag", "info", "date", "threat_level_id",
		"analysis", "published", "Orgc", "Org", "Galaxy":
		return FormatMISP
	}
	return 0
}

// pending is a record whose TLP is only known at the end of the input.
type pending struct {
	rec     Record
	refs    []string // STIX marking refs
	where   string
	id, typ string
}

// add validates r, applies recipients, and merges it into the result.
func (im *importer) add(r Record, where, id, typ string) bool {
	if r.TLP.Restricted() {
		if len(im.opts.Recipients) == 0 {
			im.issue(Failed, where, id, typ, r.TLP.String()+" needs named recipients (give them with the import)")
			return false
		}
		r.Recipients = im.opts.Recipients
	}
	if err := r.Normalize(); err != nil {
		im.issue(Failed, where, id, typ, strings.TrimPrefix(err.Error(), "ioc: "))
		return false
	}
	im.nrec++
	c := r.ContentID()
	i, dup := im.index[c]
	if !dup {
		im.index[c] = len(im.res.Records)
		im.res.Records = append(im.res.Records, r)
		if im.stream != nil && len(im.res.Records) >= im.window {
			im.flush()
		}
		return true
	}
	im.res.Merged++
	old := &im.res.Records[i]
	m := *old
	m.Tags = append(slices.Clone(old.Tags), r.Tags...)
	m.References = append(slices.Clone(old.References), r.References...)
	m.TLP = max(old.TLP, r.TLP)
	m.Confidence = max(old.Confidence, r.Confidence)
	if m.Description == "" {
		m.Description = r.Description
	}
	m.Informational = old.Informational && r.Informational
	if m.ValidFrom.IsZero() || !r.ValidFrom.IsZero() && r.ValidFrom.Before(m.ValidFrom) {
		m.ValidFrom = r.ValidFrom
	}
	if !m.ValidUntil.IsZero() && (r.ValidUntil.IsZero() || r.ValidUntil.After(m.ValidUntil)) {
		m.ValidUntil = r.ValidUntil
	}
	if m.TLP.Restricted() {
		m.Recipients = im.opts.Recipients
	}
	if err := m.Normalize(); err != nil {
		// The merge broke a limit (too many tags, say): keep the first
		// record and say what was not merged.
		im.issue(Partial, where, id, typ, "duplicate of an earlier indicator not merged: "+strings.TrimPrefix(err.Error(), "ioc: "))
		return true
	}
	*old = m
	return true
}

// checkPending refuses, in a streaming import, more waiting records than
// ImportOptions.MaxPending.
func (im *importer) checkPending(n int) {
	if im.stream != nil && n > im.opts.MaxPending && im.streamErr == nil {
		im.streamErr = fmt.Errorf("%w: more than %d records wait for markings or tags later in the input (near byte %d); split the file, or put STIX marking-definitions before the objects and MISP tags before the attributes",
			ErrFormat, im.opts.MaxPending, im.dec.InputOffset())
	}
}

// flush hands the window of records to the stream, normalised as finish
// normalises them, and starts a new window.
func (im *importer) flush() {
	if len(im.res.Records) == 0 || im.streamErr != nil {
		return
	}
	for i := range im.res.Records {
		if err := im.res.Records[i].Normalize(); err != nil {
			panic("bug: merged record invalid: " + err.Error())
		}
	}
	im.streamErr = im.stream(im.res.Records)
	im.res.Records = nil
	clear(im.index)
}

func (im *importer) finish() *Result {
	res := im.res
	// Re-normalise merged records so each is canonical; add already
	// checked every one, so this cannot fail for records that merged fine.
	for i := range res.Records {
		if err := res.Records[i].Normalize(); err != nil {
			panic("bug: merged record invalid: " + err.Error())
		}
	}
	return &res
}
