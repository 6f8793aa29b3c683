package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/ioc"
	"github.com/ghostwire/ghostwire/localapi"
	"github.com/ghostwire/ghostwire/node"
)

func iocCommand() *command {
	var o iocOpts
	var seen, falsePositive bool
	filter := []string{"collection", "tlp", "type", "author", "since", "expired"}
	return &command{
		name:    "ioc",
		summary: "drop, list, fetch, retract, import and export signed indicators of compromise",
		usage: `An IOC is a signed statement by you about one indicator (types: ipv4 ipv6 cidr
domain hostname url email md5 sha1 sha256 cve), normalised so the same
indicator from two analysts has the same content ID. TLP 2.0 is enforced by the
sync engine: clear goes to any peer, green to your paired peers, and amber,
amber+strict and red only to the peers named with --to, encrypted to each of
them and never forwarded. retract publishes a signed tombstone every peer honours.
fetch syncs afresh with your connected peers and shows the IOC if one of them
may share it with you. import reads a STIX 2.0 or 2.1 bundle or a bare list of
STIX objects, or MISP JSON (events, attribute lists, REST responses), detected
automatically; objects without a TLP marking are refused unless --tlp gives
one, amber and red need --to (they reach those peers in any collection), and if
any object fails nothing is stored unless --partial. Input that is neither
STIX nor MISP exits 12. export writes a STIX 2.1 bundle (retracted indicators
revoked) or a MISP event, streamed, with each source's trust folded into STIX
confidence; --format misp-feed --out DIR writes a MISP feed directory (an event
per collection with a stable UUID, manifest.json, hashes.csv) that a MISP
instance adds as a feed, updated incrementally. sighting signs your verdict on
an indicator in the clear (seen, or a false positive, as MISP sightings); it
travels to every peer and feeds each source's trust ('ghostwire trust show'),
which list shows and --min-trust filters on.
All verbs take --data DIR and --json; the node must be running.

Example:
  ghostwire ioc drop --type domain --value Evil.Example. --tlp green --tag phishing --confidence 80
  ghostwire ioc drop --type ipv4 --value 203.0.113.7 --tlp amber --to bob
  ghostwire ioc import event.json --tlp green
  ghostwire ioc export --format misp --tlp green > shared.json
  ghostwire ioc sighting 3a25b885716bb7a0 --false-positive
  ghostwire ioc list --min-trust 0.5`,
		verbs: []*verb{
			nodeVerb("drop", `ioc drop --type T --value V [--tlp L] [--to PEER]... [--confidence N]
                      [--tag X]... [--description D] [--valid-until TIME] [--ref URL]... [--collection C]`,
				o.flags("collection", "type", "value", "tlp", "confidence", "description", "valid-until", "tag", "ref", "to"), o.drop),
			nodeVerb("list", "ioc list [--collection C] [--tlp L] [--type T] [--author P] [--since TIME] [--expired] [--min-trust S]",
				o.flags(append([]string{"min-trust"}, filter...)...), o.list),
			nodeVerb("show", "ioc show <id>", nil, o.show),
			nodeVerb("retract", "ioc retract <id>", nil, o.retract),
			nodeVerb("import", "ioc import FILE|- [--tlp L] [--to PEER]... [--partial] [--collection C] | ioc import --status",
				o.flags("collection", "tlp", "to", "partial", "status"), o.importFile),
			nodeVerb("export", "ioc export [--format stix|misp|misp-feed] [--out DIR] [--collection C] [--tlp L] [--type T] [--author P] [--since TIME]",
				o.flags(append([]string{"format", "out"}, filter...)...), o.export),
			nodeVerb("fetch", "ioc fetch <content-id> [--wait 30s]", o.flags("wait"), o.fetch),
			nodeVerb("sighting", "ioc sighting <id> --seen|--false-positive", sightingFlags(&seen, &falsePositive),
				func(e *env, call *verbCall) error { return iocSighting(e, call, seen, falsePositive) }),
		},
	}
}

// iocOpts holds the flags of every ioc verb; each flag is defined once, in
// define, and each verb's FlagSet gets the ones it names.
type iocOpts struct {
	collection, typ, value, tlp, desc, until, author, since, format, out string
	minTrust                                                             string
	conf                                                                 int
	wait                                                                 time.Duration
	expired, partial, status                                             bool
	tags, refs, to                                                       multiFlag
}

func (o *iocOpts) flags(names ...string) func(fs *flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		for _, n := range names {
			o.define(fs, n)
		}
	}
}

func (o *iocOpts) define(fs *flag.FlagSet, name string) {
	switch name {
	case "collection":
		fs.StringVar(&o.collection, name, "", "the `collection` (default: default)")
	case "type":
		fs.StringVar(&o.typ, name, "", "indicator `type`")
	case "value":
		fs.StringVar(&o.value, name, "", "indicator `value`")
	case "tlp":
		fs.StringVar(&o.tlp, name, "", "TLP 2.0 marking: clear, green, amber, amber+strict, red; drop's default is clear, import's marks the unmarked objects")
	case "confidence":
		fs.IntVar(&o.conf, name, -1, "confidence 0-100")
	case "description":
		fs.StringVar(&o.desc, name, "", "free text")
	case "valid-until":
		fs.StringVar(&o.until, name, "", "expiry, RFC 3339 `TIME`")
	case "author":
		fs.StringVar(&o.author, name, "", "only IOCs by `PEER`")
	case "since":
		fs.StringVar(&o.since, name, "", "only IOCs created after RFC 3339 `TIME`")
	case "expired":
		fs.BoolVar(&o.expired, name, false, "include expired IOCs")
	case "partial":
		fs.BoolVar(&o.partial, name, false, "store what converted even if some objects failed")
	case "status":
		fs.BoolVar(&o.status, name, false, "list the recorded imports (running, interrupted, failed, done) instead of importing")
	case "format":
		fs.StringVar(&o.format, name, "stix", "export `format`: stix, misp, or misp-feed (a MISP feed directory, --out)")
	case "out":
		fs.StringVar(&o.out, name, "", "for misp-feed: the feed `DIR`ectory, written incrementally")
	case "min-trust":
		fs.StringVar(&o.minTrust, name, "", "only IOCs whose source's trust `score` is at least this (0 to 1, see 'ghostwire trust show')")
	case "wait":
		fs.DurationVar(&o.wait, name, 30*time.Second, "how long to wait for the syncs, at most 2m")
	case "tag":
		fs.Var(&o.tags, name, "a `tag`, repeatable")
	case "ref":
		fs.Var(&o.refs, name, "a reference `URL`, repeatable")
	case "to":
		fs.Var(&o.to, name, "a recipient `PEER` for amber/red, repeatable")
	default:
		panic("bug: no ioc flag --" + name)
	}
}

func (o *iocOpts) query() localapi.IOCQuery {
	return localapi.IOCQuery{Collection: o.collection, TLP: o.tlp, Type: o.typ, Author: o.author, Since: o.since, Expired: o.expired,
		MinTrust: o.minTrust}
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func (o *iocOpts) importFile(e *env, call *verbCall) error {
	if o.status {
		if len(call.args) != 0 {
			return usageError("ioc import --status takes no FILE")
		}
		return importStatus(e, call.api, call.asJSON)
	}
	if len(call.args) != 1 {
		return usageError("ioc import takes one FILE, or - for standard input")
	}
	req := node.ImportRequest{Collection: o.collection, TLP: o.tlp, To: o.to, Partial: o.partial}
	if call.args[0] != "-" {
		req.Source = filepath.Base(call.args[0])
	}
	return iocImport(e, call.api, call.args[0], req, call.asJSON)
}

// importStatus prints the node's import records: what each import stored,
// and whether it ended.
func importStatus(e *env, api *localapi.Client, asJSON bool) error {
	list, err := api.Imports(e.ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(e, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(e.stderr, "ghostwire: no imports recorded")
		return nil
	}
	for _, r := range list {
		src := r.Source
		if src == "" {
			src = "(stdin)"
		}
		printf(e.stdout, "%s  %-11s %d/%d records in %d batches  %s  %s  sha256 %.16s  %s\n", r.ID, r.State, r.Stored, r.Records,
			r.Batches, r.Collection, src, r.SHA256, r.Updated.Format(time.RFC3339))
		if r.Error != "" {
			printf(e.stdout, "    error: %s\n", r.Error)
		}
	}
	for _, r := range list {
		if r.State == "interrupted" || r.State == "failed" {
			fmt.Fprintln(e.stderr, "ghostwire: hint: import the same file with the same options again to finish an interrupted or failed import; it skips what was stored")
			break
		}
	}
	return nil
}

func (o *iocOpts) export(e *env, call *verbCall) error {
	if len(call.args) != 0 {
		return usageError("ioc export takes flags only; it writes to standard output (or, for misp-feed, into --out DIR)")
	}
	switch o.format {
	case "stix", "misp":
		if o.out != "" {
			return usageError("--out is for --format misp-feed; stix and misp go to standard output")
		}
		return call.api.ExportIOCs(e.ctx, o.format, o.query(), e.stdout)
	case "misp-feed":
		return o.exportFeed(e, call)
	}
	return usageError("--format is stix, misp or misp-feed")
}

// exportFeed writes a MISP feed into --out: one event per collection (or
// the one --collection names), its UUID the same on every export, and
// manifest.json and hashes.csv over every event in the directory. An event
// whose indicators did not change is left as it was.
func (o *iocOpts) exportFeed(e *env, call *verbCall) error {
	if o.out == "" {
		return usageError("--format misp-feed writes a directory: give it with --out DIR")
	}
	if o.tlp == "" {
		return usageError("a feed is read by whoever can reach it: name the TLP level it carries with --tlp (e.g. --tlp clear or --tlp green)")
	}
	names := []string{o.collection}
	if o.collection == "" {
		ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
		cs, err := call.api.Collections(ctx)
		cancel()
		if err != nil {
			return err
		}
		names = names[:0]
		for _, c := range cs {
			names = append(names, c.Name)
		}
	}
	feed, err := ioc.OpenFeedDir(o.out)
	if err != nil {
		return fail(exitFailure, err, "give --out a directory of its own for the feed")
	}
	for _, name := range names {
		q := o.query()
		q.Collection = name
		id, changed, err := feed.Event(func(w io.Writer) error { return call.api.ExportIOCs(e.ctx, "misp-feed", q, w) })
		if err != nil {
			return err
		}
		state := "unchanged"
		if changed {
			state = "written"
		}
		printf(e.stderr, "ghostwire: collection %s: event %s %s\n", name, id, state)
	}
	if err := feed.Close(); err != nil {
		return fail(exitFailure, err, "the feed directory is as the last export left it; fix the cause and export again")
	}
	printf(e.stdout, "%s\n", o.out)
	return nil
}

func (o *iocOpts) fetch(e *env, call *verbCall) error {
	if len(call.args) != 1 {
		return usageError("ioc fetch takes one content ID (or item ID)")
	}
	return iocFetch(e, call.api, call.args[0], o.wait, call.asJSON)
}

func (o *iocOpts) drop(e *env, call *verbCall) error {
	if len(call.args) != 0 {
		return usageError("ioc drop takes flags only, e.g. --type domain --value example.com")
	}
	if o.typ == "" || o.value == "" {
		return usageError("ioc drop needs --type and --value")
	}
	req := node.DropRequest{Collection: o.collection, Type: o.typ, Value: o.value, TLP: o.tlp, Tags: o.tags,
		Description: o.desc, References: o.refs, To: o.to}
	if o.conf != -1 {
		if o.conf < 0 || o.conf > 100 {
			return usageError("--confidence must be 0 to 100")
		}
		req.Confidence = &o.conf
	}
	if o.until != "" {
		t, err := time.Parse(time.RFC3339, o.until)
		if err != nil {
			return fail(exitUsage, fmt.Errorf("--valid-until: %v", err), "use RFC 3339, e.g. 2027-01-31T00:00:00Z")
		}
		req.ValidUntil = &t
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	x, err := call.api.DropIOC(ctx, req)
	if err != nil {
		return err
	}
	if call.asJSON {
		return printJSON(e, x)
	}
	printf(e.stdout, "%s %s %s tlp:%s\n", x.ID, x.Type, x.Value, x.TLP)
	return nil
}

func (o *iocOpts) list(e *env, call *verbCall) error {
	if len(call.args) != 0 {
		return usageError("ioc list takes flags only")
	}
	// The listing streams (the node answers within its deadline or says it
	// is busy), so a million indicators are printed as they arrive, with no
	// bound on the whole.
	if !call.asJSON {
		return call.api.EachIOC(e.ctx, o.query(), func(x *node.IOC) error {
			printIOC(e, x)
			return nil
		})
	}
	n := 0
	err := call.api.EachIOC(e.ctx, o.query(), func(x *node.IOC) error {
		b, err := json.MarshalIndent(x, "  ", "  ")
		if err != nil {
			return err
		}
		// The separators are in the format, not arguments: printf
		// neutralises control characters in string arguments (JSON
		// escapes those in its own bytes).
		if n == 0 {
			printf(e.stdout, "[\n  %s", b)
		} else {
			printf(e.stdout, ",\n  %s", b)
		}
		n++
		return nil
	})
	if err != nil {
		return err
	}
	if n == 0 {
		printf(e.stdout, "[]\n")
		return nil
	}
	printf(e.stdout, "\n]\n")
	return nil
}

func (o *iocOpts) show(e *env, call *verbCall) error {
	if len(call.args) != 1 {
		return usageError("ioc show takes one ID")
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	xs, err := call.api.ShowIOC(ctx, call.args[0])
	if err != nil {
		return err
	}
	return printJSON(e, xs)
}

func (o *iocOpts) retract(e *env, call *verbCall) error {
	if len(call.args) != 1 {
		return usageError("ioc retract takes one ID")
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	x, err := call.api.RetractIOC(ctx, call.args[0])
	if err != nil {
		return err
	}
	if call.asJSON {
		return printJSON(e, x)
	}
	printf(e.stderr, "ghostwire: retracted %s\n", call.args[0])
	return nil
}

// iocImport streams FILE (or standard input) to the node's import
// endpoint, printing its progress lines on stderr and then the result.
func iocImport(e *env, api *localapi.Client, file string, req node.ImportRequest, asJSON bool) error {
	in := &readErr{r: e.stdin}
	if file != "-" {
		f, err := os.Open(file)
		if errors.Is(err, fs.ErrNotExist) {
			return fail(exitInput, fmt.Errorf("%s does not exist", file), "give the path of a STIX 2.x or MISP JSON file, or - for standard input")
		}
		if err != nil {
			return inputError(err, file)
		}
		defer f.Close()
		in.r = f
	}
	progress := func(p node.ImportProgress) {
		if p.Phase == "upload" {
			printf(e.stderr, "ghostwire: import: upload: %d MiB\n", p.Bytes>>20)
			return
		}
		if p.Phase == "read" || p.Objects >= 1000 {
			printf(e.stderr, "ghostwire: import: %s: %d objects, %d records, %d stored, %.0f items/s\n",
				p.Phase, p.Objects, p.Records, p.Stored, p.Rate)
		}
	}
	res, err := api.ImportIOCs(e.ctx, in, req, progress)
	if in.err != nil { // the input failed, not the node (a directory, an I/O error)
		return inputError(in.err, file)
	}
	if ae := (*localapi.Error)(nil); errors.As(err, &ae) && ae.Kind == fault.TooLarge {
		// Only the input can be too large here: it is the input's fault,
		// not the command line's.
		err = fail(exitInput, err, ae.Hint)
	}
	if res != nil && res.Resumed > 0 {
		printf(e.stderr, "ghostwire: import: resumed import %s: its %d records stored before were skipped\n", res.Import, res.Resumed)
	}
	if err != nil && res != nil && res.Import != "" {
		printf(e.stderr, "ghostwire: import %s stopped part way, recorded; importing the same file with the same options again resumes it (ghostwire ioc import --status)\n", res.Import)
	}
	if asJSON && res != nil {
		if err := printJSON(e, res); err != nil {
			return err
		}
	} else if r := res; r != nil {
		printf(e.stdout, "%s: %d objects, %d indicators (%d merged), %d new items stored\n", r.Format, r.Objects, r.Records, r.Merged, r.Stored)
		printf(e.stdout, "  by type: %s\n  by TLP:  %s\n", counts(r.ByType), counts(r.ByTLP))
		for _, i := range r.Issues {
			if i.Severity != "skipped" {
				printf(e.stderr, "%s %s %s (%s): %s\n", i.Severity, i.Where, i.ID, i.Type, i.Reason)
			}
		}
		if n := len(r.Issues); n > 0 {
			printf(e.stderr, "ghostwire: %d objects not imported or imported in part (--json lists all, skipped ones too)\n", n+r.Unlisted)
		}
	}
	return err
}

// inputError is the CLI error for an import input that cannot be read:
// exitPermission if it may not be read, exitInput otherwise (a directory,
// an I/O error), never "bad command line".
func inputError(err error, file string) error {
	if errors.Is(err, fs.ErrPermission) {
		return fileError(err, file)
	}
	return fail(exitInput, fmt.Errorf("cannot read %s: %w", file, err), "give a readable STIX 2.x or MISP JSON file, or - for standard input")
}

// readErr is a reader that remembers its first error, so that a failing
// input is not taken for an unreachable node.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

func counts(m map[string]int) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "%s %d  ", k, m[k])
	}
	return strings.TrimSpace(b.String())
}

// iocFetch asks the node to sync afresh with its peers and show the IOC.
func iocFetch(e *env, api *localapi.Client, ref string, wait time.Duration, asJSON bool) error {
	ctx, cancel := context.WithTimeout(e.ctx, 2*time.Minute+apiTimeout)
	defer cancel()
	res, err := api.FetchIOC(ctx, ref, wait)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(e, res)
	}
	if !res.Held {
		printf(e.stderr, "ghostwire: synced with %d peers\n", len(res.Synced))
	}
	for _, x := range res.IOCs {
		printIOC(e, x)
	}
	return nil
}

// printIOC prints an indicator on one line: the start of its ID (enough to
// name it to show, retract and fetch), type, value, TLP and author.
func printIOC(e *env, x *node.IOC) {
	id := x.ID
	if len(id) > 16 {
		id = id[:16]
	}
	trust := ""
	if x.SourceTrust != nil {
		trust = fmt.Sprintf(" trust %.2f", *x.SourceTrust)
	}
	printf(e.stdout, "%s %-8s %-40s tlp:%-12s by %s%s\n", id, x.Type, x.Value, x.TLP, shortID(x.Author), trust)
}
