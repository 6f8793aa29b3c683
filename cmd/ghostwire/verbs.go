package main

import (
	"flag"
	"fmt"
	"slices"
	"strings"
)

// verbCall is one `ghostwire <noun> <verb> …` call against the running
// node: the parsed verb, its positional arguments, --json, and the API.
type verbCall struct {
	verb   string
	args   []string
	asJSON bool
	api    *apiClient
}

// parseVerb does what every noun with verbs needs: split off the verb,
// define --data and --json plus the noun's own flags, parse flags wherever
// they stand among the arguments, and connect to the node's API. A call
// with only --help prints the usage and returns flag.ErrHelp.
//
// only names, for each flag that applies to some verbs only, those verbs
// (space-separated). The help says so after the flag, and a call that sets
// the flag with another verb is a usage error: a flag silently ignored
// would let `ioc fetch ID --tlp red` look as if it did something.
func parseVerb(e *env, c *command, args []string, verbs []string, define func(fs *flag.FlagSet), only map[string]string) (*verbCall, error) {
	fs := newFlags(e, c)
	data := dataDirFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if define != nil {
		define(fs)
	}
	for name, vs := range only {
		f := fs.Lookup(name)
		f.Usage += " (" + strings.Join(strings.Fields(vs), ", ") + ")"
	}
	v, rest, err := verb(c, args, verbs...)
	switch {
	case err != nil:
		return nil, err
	case v == "" && len(args) == 0:
		printUsage(e.stderr, c, fs)
		return nil, usageError("%s needs a verb: %s", c.name, strings.Join(verbs, ", "))
	case v == "": // asks for help
		return nil, parse(e, c, fs, args)
	}
	pos, err := parseInterleaved(e, c, fs, rest)
	if err != nil {
		return nil, err
	}
	var misplaced error
	fs.Visit(func(f *flag.Flag) {
		vs, ok := only[f.Name]
		if ok && misplaced == nil && !slices.Contains(strings.Fields(vs), v) {
			misplaced = fail(exitUsage, fmt.Errorf("--%s does not apply to %s %s", f.Name, c.name, v),
				fmt.Sprintf("--%s is for %s %s", f.Name, c.name, strings.Join(strings.Fields(vs), ", ")))
		}
	})
	if misplaced != nil {
		return nil, misplaced
	}
	path, err := resolveDataDir(*data)
	if err != nil {
		return nil, err
	}
	return &verbCall{verb: v, args: pos, asJSON: *asJSON, api: newAPIClient(path)}, nil
}

// parseInterleaved parses flags that may come before or after positional
// arguments, as `peer add ADDR --name bob` reads naturally.
func parseInterleaved(e *env, c *command, fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parse(e, c, fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// verb splits `<noun> <verb> args…` and checks the verb; an empty verb
// means the arguments are empty or ask for help. Nouns that do not talk to
// the node (testnet) use it directly; the others use parseVerb.
func verb(c *command, args []string, verbs ...string) (string, []string, error) {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		return "", args, nil
	}
	for _, v := range verbs {
		if args[0] == v {
			return v, args[1:], nil
		}
	}
	return "", nil, fail(exitUsage, fmt.Errorf("unknown %s verb %q", c.name, args[0]),
		fmt.Sprintf("the verbs are: %s; see 'ghostwire %s --help'", strings.Join(verbs, ", "), c.name))
}
