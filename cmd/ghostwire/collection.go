package main

import (
	"context"
	"flag"
	"strings"

	"github.com/ghostwire/ghostwire/localapi/apitype"
)

func collectionCommand() *command {
	var authors string
	return &command{
		name:    "collection",
		summary: "list the IOC collections and set who may write to each",
		usage: `A collection admits indicators from anyone by default: anyone can sign them,
so a collection a stranger floods fills up to the node's limit (then it refuses
new ones, and 'ghostwire status' says so). Admit only your peers, or only listed
authors, to keep a shared collection yours. The policy is this node's own: it
decides what this node stores and passes on. We are always admitted.

Example:
  ghostwire collection writers default peers
  ghostwire collection writers vendor-x listed --authors bob,25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion`,
		verbs: []*verb{
			nodeVerb("list", "collection list [--data DIR] [--json]", nil, collectionList),
			nodeVerb("writers", "collection writers <name> anyone|peers|listed [--authors A,B] [--data DIR] [--json]", func(fs *flag.FlagSet) {
				fs.StringVar(&authors, "authors", "", "for listed: the `authors` admitted (onion addresses or peer names, comma-separated)")
			}, func(e *env, call *verbCall) error { return collectionWriters(e, call, authors) }),
		},
	}
}

func collectionList(e *env, call *verbCall) error {
	if len(call.args) != 0 {
		return usageError("collection list takes no arguments")
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	cs, err := call.api.Collections(ctx)
	if err != nil {
		return err
	}
	if call.asJSON {
		return printJSON(e, cs)
	}
	for _, c := range cs {
		printf(e.stdout, "%-20s writers: %s\n", c.Name, describeWriters(c.Writers))
	}
	return nil
}

func describeWriters(w apitype.Writers) string {
	if w.Mode != "listed" {
		return w.Mode
	}
	names := make([]string, len(w.Authors))
	for i, a := range w.Authors {
		names[i] = shortID(a)
	}
	return "listed (" + strings.Join(names, ", ") + ")"
}

func collectionWriters(e *env, call *verbCall, authors string) error {
	if len(call.args) != 2 {
		return usageError("collection writers takes a collection name and a mode: anyone, peers or listed")
	}
	w := apitype.Writers{Mode: call.args[1]}
	for _, a := range strings.Split(authors, ",") {
		if a = strings.TrimSpace(a); a != "" {
			w.Authors = append(w.Authors, a)
		}
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	c, err := call.api.SetWriters(ctx, call.args[0], w)
	if err != nil {
		return err
	}
	if call.asJSON {
		return printJSON(e, c)
	}
	printf(e.stdout, "%s: writers %s\n", c.Name, describeWriters(c.Writers))
	return nil
}
