package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/ghostwire/ghostwire/node"
)

func init() {
	register(&command{
		name:    "ioc",
		summary: "drop, list, show and retract signed indicators of compromise",
		usage: `Usage: ghostwire ioc drop --type T --value V [--tlp L] [--to PEER]... [--confidence N]
                      [--tag X]... [--description D] [--valid-until TIME] [--ref URL]... [--collection C]
       ghostwire ioc list [--collection C] [--tlp L] [--type T] [--author P] [--since TIME] [--expired]
       ghostwire ioc show <id>
       ghostwire ioc retract <id>

An IOC is a signed statement by you about one indicator (types: ipv4 ipv6 cidr
domain hostname url email md5 sha1 sha256 cve), normalised so the same
indicator from two analysts has the same content ID. TLP 2.0 is enforced by the
sync engine: clear goes to any peer, green to your paired peers, and amber,
amber+strict and red only to the peers named with --to, encrypted to each of
them and never forwarded. retract publishes a signed tombstone every peer honours.
All verbs take --data DIR and --json; the node must be running.

Example:
  ghostwire ioc drop --type domain --value Evil.Example. --tlp green --tag phishing --confidence 80
  ghostwire ioc drop --type ipv4 --value 203.0.113.7 --tlp amber --to bob`,
		run: runIOC,
	})
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func runIOC(e *env, args []string) error {
	c := commands["ioc"]
	v, rest, err := verb(c, args, "drop", "list", "show", "retract")
	if err != nil {
		return err
	}
	fs := newFlags(e, c)
	data := dataDirFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	collection := fs.String("collection", "", "the `collection` (default: default)")
	typ := fs.String("type", "", "indicator `type`")
	value := fs.String("value", "", "indicator `value`")
	tlp := fs.String("tlp", "", "TLP 2.0 marking: clear, green, amber, amber+strict, red (drop default: clear)")
	conf := fs.Int("confidence", -1, "confidence 0-100 (drop)")
	desc := fs.String("description", "", "free text (drop)")
	until := fs.String("valid-until", "", "expiry, RFC 3339 `TIME` (drop)")
	author := fs.String("author", "", "only IOCs by `PEER` (list)")
	since := fs.String("since", "", "only IOCs created after RFC 3339 `TIME` (list)")
	expired := fs.Bool("expired", false, "include expired IOCs (list)")
	var tags, refs, to multiFlag
	fs.Var(&tags, "tag", "a `tag` (drop; repeatable)")
	fs.Var(&refs, "ref", "a reference `URL` (drop; repeatable)")
	fs.Var(&to, "to", "a recipient `PEER` for amber/red (drop; repeatable)")
	if v == "" {
		if len(rest) == 0 {
			printUsage(e.stderr, c, fs)
			return usageError("ioc needs a verb: drop, list, show or retract")
		}
		return parse(e, c, fs, rest)
	}
	pos, err := parseInterleaved(e, c, fs, rest)
	if err != nil {
		return err
	}
	path, err := resolveDataDir(*data)
	if err != nil {
		return err
	}
	api := newAPIClient(path)
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
		req := node.DropRequest{Collection: *collection, Type: *typ, Value: *value, TLP: *tlp, Tags: tags,
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
		var x node.IOC
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
		q := query("collection", *collection, "tlp", *tlp, "type", *typ, "author", *author, "since", *since)
		if *expired {
			if q == "" {
				q = "?expired=1"
			} else {
				q += "&expired=1"
			}
		}
		var xs []node.IOC
		if err := api.do(ctx, "GET", "/v1/iocs"+q, nil, &xs); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e, xs)
		}
		for _, x := range xs {
			fmt.Fprintf(e.stdout, "%s %-8s %-40s tlp:%-12s by %s…\n", x.ID[:16], x.Type, x.Value, x.TLP, trimOnion(x.Author)[:8])
		}
	case "show", "retract":
		if len(pos) != 1 {
			return usageError("ioc %s takes one ID", v)
		}
		method, out := "GET", any(&[]node.IOC{})
		if v == "retract" {
			method, out = "DELETE", &node.IOC{}
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
