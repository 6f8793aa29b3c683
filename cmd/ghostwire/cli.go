package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Exit codes, listed in the help text. Scripts may rely on them.
const (
	exitOK          = 0
	exitFailure     = 1  // anything not listed below
	exitUsage       = 2  // bad command line
	exitNoIdentity  = 3  // the data directory has no identity yet
	exitExists      = 4  // refusing to overwrite an existing identity
	exitAuth        = 5  // wrong passphrase
	exitCorrupt     = 6  // key file or store damaged or unreadable
	exitPermission  = 7  // a file has unsafe permissions or cannot be accessed
	exitInUse       = 8  // another ghostwire process holds the data directory
	exitUnavailable = 9  // tor (or a network it needs) is not available
	exitNotRunning  = 10 // the command needs the running node and nothing listens at its socket
	exitBusy        = 11 // the node accepted the request but did not answer in time
	exitInput       = 12 // the input file is missing, unreadable, too large or not in a format the command reads
)

const exitCodesHelp = `Exit codes:
  0  success
  1  failure not listed below
  2  bad command line (usage)
  3  no identity in the data directory (run 'ghostwire init')
  4  an identity already exists (init never overwrites one)
  5  wrong passphrase
  6  key file or store is damaged, truncated or missing (see 'ghostwire check')
  7  unsafe permissions or a file that cannot be accessed
  8  the data directory is in use by another ghostwire process
  9  tor is not available
 10  the node is not running (start it with 'ghostwire run')
 11  the node is running but busy: it did not answer in time (try again)
 12  the input file is missing, unreadable, too large, or not in a format the
     command reads (ioc import: neither STIX nor MISP JSON)
`

// cliError is an error with the exit code and hints the user sees.
type cliError struct {
	code  int
	err   error
	hints []string
}

func (e *cliError) Error() string { return e.err.Error() }
func (e *cliError) Unwrap() error { return e.err }

func fail(code int, err error, hints ...string) error {
	return &cliError{code: code, err: err, hints: hints}
}

func usageError(format string, a ...any) error {
	return fail(exitUsage, fmt.Errorf(format, a...))
}

// env is what every command gets: its streams and context.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one `ghostwire <noun>`: either a command of its own (run, with
// usage the whole help text) or a noun whose verbs each have their own
// flags (verbs, with usage the help text after the verbs' synopses).
type command struct {
	name    string
	summary string
	usage   string // help: synopsis (unless verbs give it), description, then the example; flags come from the FlagSet
	run     func(e *env, c *command, args []string) error
	verbs   []*verb
}

// commands is the command table, in the order the help lists them. It is
// built for each run, so no command keeps state from one run to the next.
func commands() []*command {
	return []*command{
		initCommand(), idCommand(), runNodeCommand(), statusCommand(),
		peerCommand(), pairCommand(), msgCommand(), roomCommand(), iocCommand(), collectionCommand(),
		trustCommand(), taxiiCommand(), keyCommand(),
		checkCommand(), testnetCommand(), demoCommand(),
	}
}

func lookup(cmds []*command, name string) *command {
	for _, c := range cmds {
		if c.name == name {
			return c
		}
	}
	return nil
}

const topUsage = `ghostwire: an anonymous peer-to-peer node. Every peer is an Ed25519 identity
whose Tor onion address is its public key; peers reach each other only through Tor,
or, in LAN mode (run --lan), by direct TCP on one local network and never through Tor.

Usage:
  ghostwire <command> [flags] [arguments]

Commands:
%s
Every command takes --help. Data lives in --data DIR (default $GHOSTWIRE_DATA,
else $XDG_DATA_HOME/ghostwire, else ~/.local/share/ghostwire); it must be
private (mode 0700, as ghostwire creates it): a directory other users can
read or write is refused.

Text from peers or from the store (messages, names, IOC fields) is printed
with control characters, escape sequences and bidi overrides shown as visible
escapes (\x1b, \n, U+202E), whether or not the output is a terminal, so
nothing a peer sends can act on your terminal. --json prints it exactly.

Example:
  ghostwire init --data ~/gw        # create an identity (asks for a passphrase)
  ghostwire id --data ~/gw          # print your onion address and fingerprint

` + exitCodesHelp

func printTopUsage(w io.Writer, cmds []*command) {
	var b strings.Builder
	for _, c := range cmds {
		fmt.Fprintf(&b, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, topUsage, b.String())
}

// run is the whole program: it returns the exit code. Output asked for goes
// to stdout; progress, warnings and errors go to stderr.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}
	cmds := commands()
	if len(args) == 0 {
		printTopUsage(stderr, cmds)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 {
			c := lookup(cmds, args[1])
			if c == nil {
				return report(stderr, fail(exitUsage, fmt.Errorf("unknown command %q", args[1]),
					"run 'ghostwire --help' for the list of commands"))
			}
			return runCommand(e, c, []string{"--help"})
		}
		printTopUsage(stdout, cmds)
		return exitOK
	}
	c := lookup(cmds, args[0])
	if c == nil {
		return report(stderr, fail(exitUsage, fmt.Errorf("unknown command %q", args[0]),
			"run 'ghostwire --help' for the list of commands"))
	}
	return runCommand(e, c, args[1:])
}

func runCommand(e *env, c *command, args []string) int {
	var err error
	if c.verbs != nil {
		err = runVerb(e, c, args)
	} else {
		err = c.run(e, c, args)
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return report(e.stderr, err)
}

// report prints err as `ghostwire: error: …` plus hint lines and returns
// its exit code.
func report(w io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	err = apiFailure(err)
	var ce *cliError
	code, hints := exitFailure, []string(nil)
	if errors.As(err, &ce) {
		code, hints = ce.code, ce.hints
	}
	printf(w, "ghostwire: error: %v\n", err)
	for _, h := range hints {
		printf(w, "ghostwire: hint: %s\n", h)
	}
	return code
}

// newFlags builds the FlagSet of a command without verbs; parse prints its
// usage.
func newFlags(c *command) *flag.FlagSet {
	fs := flag.NewFlagSet("ghostwire "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses the arguments of a command without verbs, handling --help
// (usage to stdout) and bad flags (an error naming the flag, usage to
// stderr).
func parse(e *env, c *command, fs *flag.FlagSet, args []string) error {
	return parseWith(e, fs, args, c.usage, nil)
}

// parseWith parses args with fs. --help prints usage to stdout; a bad flag
// is a usage error (usage goes to stderr), unless undefined explains a flag
// fs does not define, as a flag of another verb.
func parseWith(e *env, fs *flag.FlagSet, args []string, usage string, undefined func(name string) error) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		printUsage(e.stdout, usage, fs)
		return flag.ErrHelp
	}
	if err == nil {
		return nil
	}
	if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok && undefined != nil {
		if uerr := undefined(name); uerr != nil {
			return uerr
		}
	}
	printUsage(e.stderr, usage, fs)
	return usageError("%v", err)
}

func printUsage(w io.Writer, usage string, fs *flag.FlagSet) {
	syn, example, _ := strings.Cut(usage, "\nExample:\n")
	fmt.Fprintf(w, "%s\n", strings.TrimRight(syn, "\n"))
	fmt.Fprintln(w, "\nFlags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	if example != "" {
		fmt.Fprintf(w, "\nExample:\n%s\n", strings.TrimRight(example, "\n"))
	}
	fmt.Fprintf(w, "\n%s", exitCodesHelp)
}

// dataDirFlag adds --data with the documented default.
func dataDirFlag(fs *flag.FlagSet) *string {
	var s string
	dataDirVar(fs, &s)
	return &s
}

func dataDirVar(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "data", "", "data directory (default $GHOSTWIRE_DATA, else $XDG_DATA_HOME/ghostwire, else ~/.local/share/ghostwire)")
}

func resolveDataDir(flagValue string) (string, error) {
	switch {
	case flagValue != "":
		return filepath.Abs(flagValue)
	case os.Getenv("GHOSTWIRE_DATA") != "":
		return filepath.Abs(os.Getenv("GHOSTWIRE_DATA"))
	case os.Getenv("XDG_DATA_HOME") != "":
		return filepath.Join(os.Getenv("XDG_DATA_HOME"), "ghostwire"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", usageError("no home directory; pass --data DIR")
	}
	return filepath.Join(home, ".local", "share", "ghostwire"), nil
}
