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
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	iocs "github.com/ghostwire/ghostwire/collection"
	"github.com/ghostwire/ghostwire/node"
)

func init() {
	register(&command{
		name:    "ioc",
		summary: "drop, list, fetch, retract, import and export signed indicators of compromise",
		usage: `Usage: ghostwire ioc drop --type T --value V [--tlp L] [--to PEER]... [--confidence N]
                      [--tag X]... [--description D] [--valid-until TIME] [--ref URL]... [--collection C]
       ghostwire ioc list [--collection C] [--tlp L] [--type T] [--author P] [--since TIME] [--expired]
       ghostwire ioc show <id>
       ghostwire ioc retract <id>
       ghostwire ioc fetch <content-id> [--wait 30s]
       ghostwire ioc import FILE|- [--tlp L] [--to PEER]... [--partial] [--collection C]
       ghostwire ioc export [--format stix|misp] [--collection C] [--tlp L] [--type T] [--author P] [--since TIME]

An IOC is a signed statement by you about one indicator (types: ipv4 ipv6 cidr
domain hostname url email md5 sha1 sha256 cve), normalised so the same
indicator from two analysts has the same content ID. TLP 2.0 is enforced by the
sync engine: clear goes to any peer, green to your paired peers, and amber,
amber+strict and red only to the peers named with --to, encrypted to each of
them and never forwarded. retract publishes a signed tombstone every peer honours.
fetch syncs afresh with your connected peers and shows the IOC if one of them
may share it with you. import reads a STIX 2.1 bundle or MISP event(s) (JSON,
detected automatically); objects without a TLP marking are refused unless
--tlp gives one, amber and red need --to, and if any object fails nothing is
stored unless --partial. export writes a STIX 2.1 bundle or a MISP event.
All verbs take --data DIR and --json; the node must be running.

Example:
  ghostwire ioc drop --type domain --value Evil.Example. --tlp green --tag phishing --confidence 80
  ghostwire ioc drop --type ipv4 --value 203.0.113.7 --tlp amber --to bob
  ghostwire ioc import event.json --tlp green
  ghostwire ioc export --format misp --tlp green > shared.json`,
		run: runIOC,
	})
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func runIOC(e *env, args []string) error {
	var collection, typ, value, tlp, desc, until, author, since, format *string
	var conf *int
	var wait *time.Duration
	var expired, partial *bool
	var tags, refs, to multiFlag
	call, err := parseVerb(e, commands["ioc"], args, []string{"drop", "list", "show", "retract", "import", "export", "fetch"}, func(fs *flag.FlagSet) {
		collection = fs.String("collection", "", "the `collection` (default: default)")
		typ = fs.String("type", "", "indicator `type`")
		value = fs.String("value", "", "indicator `value`")
		tlp = fs.String("tlp", "", "TLP 2.0 marking: clear, green, amber, amber+strict, red; drop's default is clear, import's marks the unmarked objects")
		conf = fs.Int("confidence", -1, "confidence 0-100")
		desc = fs.String("description", "", "free text")
		until = fs.String("valid-until", "", "expiry, RFC 3339 `TIME`")
		author = fs.String("author", "", "only IOCs by `PEER`")
		since = fs.String("since", "", "only IOCs created after RFC 3339 `TIME`")
		expired = fs.Bool("expired", false, "include expired IOCs")
		partial = fs.Bool("partial", false, "store what converted even if some objects failed")
		format = fs.String("format", "stix", "export `format`: stix or misp")
		wait = fs.Duration("wait", 30*time.Second, "how long to wait for the syncs, at most 2m")
		fs.Var(&tags, "tag", "a `tag`, repeatable")
		fs.Var(&refs, "ref", "a reference `URL`, repeatable")
		fs.Var(&to, "to", "a recipient `PEER` for amber/red, repeatable")
	}, map[string]string{
		"collection": "drop list import export", "type": "drop list export", "value": "drop",
		"tlp": "drop list import export", "confidence": "drop", "description": "drop", "valid-until": "drop",
		"author": "list export", "since": "list export", "expired": "list export", "partial": "import",
		"format": "export", "wait": "fetch", "tag": "drop", "ref": "drop", "to": "drop import",
	})
	if err != nil {
		return err
	}
	v, pos, api, asJSON := call.verb, call.args, call.api, &call.asJSON
	switch v {
	case "import":
		if len(pos) != 1 {
			return usageError("ioc import takes one FILE, or - for standard input")
		}
		return iocImport(e, api, pos[0], iocs.ImportRequest{Collection: *collection, TLP: *tlp, To: to, Partial: *partial}, *asJSON)
	case "export":
		if len(pos) != 0 {
			return usageError("ioc export takes flags only; it writes to standard output")
		}
		if *format != "stix" && *format != "misp" {
			return usageError("--format is stix or misp")
		}
		q := query("format", *format, "collection", *collection, "tlp", *tlp, "type", *typ, "author", *author, "since", *since, "expired", flag1(*expired))
		return api.download(e.ctx, "/v1/iocs/export"+q, e.stdout)
	case "fetch":
		if len(pos) != 1 {
			return usageError("ioc fetch takes one content ID (or item ID)")
		}
		return iocFetch(e, api, pos[0], *wait, *asJSON)
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	switch v {
	case "drop":
		if len(pos) != 0 {
			return usageError("ioc drop takes flags only, e.g. --type domain --value example.com")
		}
		if *typ == "" || *value == "" {
			return usageError("ioc drop needs --type and --value")
		}
		req := iocs.DropRequest{Collection: *collection, Type: *typ, Value: *value, TLP: *tlp, Tags: tags,
			Description: *desc, References: refs, To: to}
		if *conf != -1 {
			if *conf < 0 || *conf > 100 {
				return usageError("--confidence must be 0 to 100")
			}
			req.Confidence = conf
		}
		if *until != "" {
			t, err := time.Parse(time.RFC3339, *until)
			if err != nil {
				return fail(exitUsage, fmt.Errorf("--valid-until: %v", err), "use RFC 3339, e.g. 2027-01-31T00:00:00Z")
			}
			req.ValidUntil = &t
		}
		var x iocs.IOC
		if err := api.do(ctx, "POST", "/v1/iocs", req, &x); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e, x)
		}
		fmt.Fprintf(e.stdout, "%s %s %s tlp:%s\n", x.ID, x.Type, x.Value, x.TLP)
	case "list":
		if len(pos) != 0 {
			return usageError("ioc list takes flags only")
		}
		q := query("collection", *collection, "tlp", *tlp, "type", *typ, "author", *author, "since", *since, "expired", flag1(*expired))
		var xs []iocs.IOC
		if err := api.do(ctx, "GET", "/v1/iocs"+q, nil, &xs); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e, xs)
		}
		for i := range xs {
			printIOC(e, &xs[i])
		}
	case "show", "retract":
		if len(pos) != 1 {
			return usageError("ioc %s takes one ID", v)
		}
		method, out := "GET", any(&[]iocs.IOC{})
		if v == "retract" {
			method, out = "DELETE", &iocs.IOC{}
		}
		if err := api.do(ctx, method, "/v1/iocs/"+url.PathEscape(pos[0]), nil, out); err != nil {
			return err
		}
		if *asJSON || v == "show" {
			return printJSON(e, out)
		}
		fmt.Fprintf(e.stderr, "ghostwire: retracted %s\n", pos[0])
	}
	return nil
}

// iocImport streams FILE (or standard input) to the node's import
// endpoint, printing its progress lines on stderr and then the result.
func iocImport(e *env, api *apiClient, file string, req iocs.ImportRequest, asJSON bool) error {
	in := &readErr{r: e.stdin}
	if file != "-" {
		f, err := os.Open(file)
		if errors.Is(err, fs.ErrNotExist) {
			return fail(exitUsage, fmt.Errorf("%s does not exist", file), "give the path of a STIX 2.1 or MISP JSON file, or - for standard input")
		}
		if err != nil {
			return fileError(err, file)
		}
		defer f.Close()
		in.r = f
	}
	q := query("collection", req.Collection, "tlp", req.TLP, "to", strings.Join(req.To, ","), "partial", flag1(req.Partial))
	hreq, err := http.NewRequestWithContext(e.ctx, http.MethodPost, "http://ghostwire/v1/iocs/import"+q, in)
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := api.http.Do(hreq)
	if in.err != nil { // the input failed, not the node (a directory, an I/O error)
		return fileError(in.err, file)
	}
	if err != nil {
		return api.unreachable(err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	var last iocs.ImportLine
	for {
		var l iocs.ImportLine
		if err := dec.Decode(&l); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("reading the node's answer: %w", err)
		}
		if p := l.Progress; p != nil {
			if p.Phase == "read" || p.Objects >= 1000 {
				fmt.Fprintf(e.stderr, "ghostwire: import: %s: %d objects, %d records, %d stored, %.0f items/s\n",
					p.Phase, p.Objects, p.Records, p.Stored, p.Rate)
			}
			continue
		}
		last = l
	}
	if asJSON && last.Result != nil {
		if err := printJSON(e, last.Result); err != nil {
			return err
		}
	} else if r := last.Result; r != nil {
		fmt.Fprintf(e.stdout, "%s: %d objects, %d indicators (%d merged), %d new items stored\n", r.Format, r.Objects, r.Records, r.Merged, r.Stored)
		fmt.Fprintf(e.stdout, "  by type: %s\n  by TLP:  %s\n", counts(r.ByType), counts(r.ByTLP))
		for _, i := range r.Issues {
			if i.Severity != "skipped" {
				fmt.Fprintf(e.stderr, "%s %s %s (%s): %s\n", i.Severity, i.Where, i.ID, i.Type, i.Reason)
			}
		}
		if n := len(r.Issues); n > 0 {
			fmt.Fprintf(e.stderr, "ghostwire: %d objects not imported or imported in part (--json lists all, skipped ones too)\n", n+r.Unlisted)
		}
	}
	if last.Error != "" {
		var hints []string
		if last.Hint != "" {
			hints = append(hints, last.Hint)
		}
		return fail(exitForStatus(resp.StatusCode), errors.New(last.Error), hints...)
	}
	if last.Result == nil {
		return fmt.Errorf("the node's answer had no result (status %s)", resp.Status)
	}
	return nil
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
func iocFetch(e *env, api *apiClient, ref string, wait time.Duration, asJSON bool) error {
	ctx, cancel := context.WithTimeout(e.ctx, 2*time.Minute+apiTimeout)
	defer cancel()
	var res node.FetchResult
	if err := api.do(ctx, "POST", "/v1/iocs/"+url.PathEscape(ref)+"/fetch"+query("wait", wait.String()), nil, &res); err != nil {
		return err
	}
	if asJSON {
		return printJSON(e, res)
	}
	if !res.Held {
		fmt.Fprintf(e.stderr, "ghostwire: synced with %d peers\n", len(res.Synced))
	}
	for _, x := range res.IOCs {
		printIOC(e, x)
	}
	return nil
}

// printIOC prints an indicator on one line: the start of its ID (enough to
// name it to show, retract and fetch), type, value, TLP and author.
func printIOC(e *env, x *iocs.IOC) {
	id := x.ID
	if len(id) > 16 {
		id = id[:16]
	}
	fmt.Fprintf(e.stdout, "%s %-8s %-40s tlp:%-12s by %s\n", id, x.Type, x.Value, x.TLP, shortID(x.Author))
}
