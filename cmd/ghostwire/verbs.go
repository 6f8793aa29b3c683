package main

import (
	"flag"
	"fmt"
	"github.com/ghostwire/ghostwire/localapi"
	"io"
	"strings"
)

// verb is one `ghostwire <noun> <verb>`. Each verb has its own FlagSet,
// built by flags, so a flag that belongs to another verb is refused by the
// flag package itself: a flag silently ignored would let
// `ioc fetch ID --tlp red` look as if it did something.
type verb struct {
	name     string
	synopsis string                 // after "ghostwire ", e.g. "peer add <onion> [--name N]"
	flags    func(fs *flag.FlagSet) // defines the verb's flags; shared ones come from helpers
	run      func(e *env, args []string) error
}

// verbCall is one call of a verb against the running node: its positional
// arguments, --json, and the API.
type verbCall struct {
	args   []string
	asJSON bool
	api    *localapi.Client
}

// nodeVerb is a verb that talks to the running node: its FlagSet has
// --data and --json besides what flags defines, and run gets the API.
func nodeVerb(name, synopsis string, flags func(fs *flag.FlagSet), run func(e *env, call *verbCall) error) *verb {
	var data string
	var asJSON bool
	return &verb{
		name:     name,
		synopsis: synopsis,
		flags: func(fs *flag.FlagSet) {
			dataDirVar(fs, &data)
			fs.BoolVar(&asJSON, "json", false, "print JSON")
			if flags != nil {
				flags(fs)
			}
		},
		run: func(e *env, args []string) error {
			path, err := resolveDataDir(data)
			if err != nil {
				return err
			}
			api, err := privateAPIClient(path)
			if api != nil {
				api.Skipped = func(n int64) {
					printf(e.stderr, "ghostwire: warning: %d stored items could not be read (the disk damaged them) and are left out of this answer\nghostwire: hint: 'ghostwire check' names them; docs/storage.md says what to do\n", n)
				}
			}
			if err != nil {
				return err
			}
			return run(e, &verbCall{args: args, asJSON: asJSON, api: api})
		},
	}
}

func (c *command) verb(name string) *verb {
	for _, v := range c.verbs {
		if v.name == name {
			return v
		}
	}
	return nil
}

func (c *command) verbNames() []string {
	names := make([]string, len(c.verbs))
	for i, v := range c.verbs {
		names[i] = v.name
	}
	return names
}

// flagSet builds v's own FlagSet.
func (c *command) flagSet(v *verb) *flag.FlagSet {
	fs := flag.NewFlagSet("ghostwire "+c.name+" "+v.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if v.flags != nil {
		v.flags(fs)
	}
	return fs
}

// runVerb splits off the verb, parses its flags wherever they stand among
// the arguments, and runs it. Without a verb, --help prints the noun's
// help: every verb's synopsis and the union of their flags, each flag
// marked with the verbs that take it unless all do.
func runVerb(e *env, c *command, args []string) error {
	if len(args) == 0 {
		printUsage(e.stderr, c.nounUsage(), c.allFlags())
		return usageError("%s needs a verb: %s", c.name, strings.Join(c.verbNames(), ", "))
	}
	if a := args[0]; a == "-h" || a == "--help" || a == "-help" {
		printUsage(e.stdout, c.nounUsage(), c.allFlags())
		return flag.ErrHelp
	}
	v := c.verb(args[0])
	if v == nil {
		return fail(exitUsage, fmt.Errorf("unknown %s verb %q", c.name, args[0]),
			fmt.Sprintf("the verbs are: %s; see 'ghostwire %s --help'", strings.Join(c.verbNames(), ", "), c.name))
	}
	fs := c.flagSet(v)
	usage := "Usage: ghostwire " + v.synopsis + "\n\n" + c.usage
	misplaced := func(name string) error {
		var others []string
		for _, o := range c.verbs {
			if o != v && c.flagSet(o).Lookup(name) != nil {
				others = append(others, o.name)
			}
		}
		if others == nil {
			return nil
		}
		return fail(exitUsage, fmt.Errorf("--%s does not apply to %s %s", name, c.name, v.name),
			fmt.Sprintf("--%s is for %s %s", name, c.name, strings.Join(others, ", ")))
	}
	// Flags may come before or after positional arguments, as
	// `peer add ADDR --name bob` reads naturally.
	var pos []string
	for rest := args[1:]; ; {
		if err := parseWith(e, fs, rest, usage, misplaced); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	return v.run(e, pos)
}

func (c *command) nounUsage() string {
	syn := make([]string, len(c.verbs))
	for i, v := range c.verbs {
		syn[i] = "ghostwire " + v.synopsis
	}
	return "Usage: " + strings.Join(syn, "\n       ") + "\n\n" + c.usage
}

// allFlags is the union of the verbs' flags, for the noun's help.
func (c *command) allFlags() *flag.FlagSet {
	var order []*flag.Flag
	takers := map[string][]string{}
	for _, v := range c.verbs {
		c.flagSet(v).VisitAll(func(f *flag.Flag) {
			if takers[f.Name] == nil {
				order = append(order, f)
			}
			takers[f.Name] = append(takers[f.Name], v.name)
		})
	}
	all := flag.NewFlagSet("ghostwire "+c.name, flag.ContinueOnError)
	for _, f := range order {
		usage := f.Usage
		if vs := takers[f.Name]; len(vs) < len(c.verbs) {
			usage += " (" + strings.Join(vs, ", ") + ")"
		}
		all.Var(f.Value, f.Name, usage)
	}
	return all
}
