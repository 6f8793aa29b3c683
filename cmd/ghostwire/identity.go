package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/ghostwire/ghostwire/identity"
)

func initCommand() *command {
	return &command{
		name:    "init",
		summary: "create this node's identity (an Ed25519 key, encrypted on disk)",
		usage: `Usage: ghostwire init [--data DIR] [--passphrase-file FILE | --no-passphrase] [--json]

Creates a new identity: an Ed25519 key whose public half is your onion address,
sealed in DIR/identity.key (mode 0600) with a passphrase read from the terminal
(or from the first line of FILE; - reads standard input), and an encrypted store
in DIR/store. It never overwrites an existing identity.
Then prints the same as 'ghostwire id'.

Example:
  ghostwire init --data ~/gw
  printf '%s\n' "$PASS" | ghostwire init --data ~/gw --passphrase-file -`,
		run: runInit,
	}
}

func idCommand() *command {
	return &command{
		name:    "id",
		summary: "print this node's onion address, public key and fingerprint",
		usage: `Usage: ghostwire id [--data DIR] [--passphrase-file FILE] [--with ONION] [--json]

Prints your onion address (your identity), public key and fingerprint. With
--with, also prints the safety number for you and that peer: both of you run
it and compare the numbers out of band (in person, by phone); if they match,
no one is in between.

Example:
  ghostwire id --data ~/gw --with 25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion`,
		run: runID,
	}
}

func runInit(e *env, c *command, args []string) error {
	fs := newFlags(c)
	data := dataDirFlag(fs)
	passFile := fs.String("passphrase-file", "", "read the passphrase from the first line of `FILE` (- for standard input)")
	noPass := fs.Bool("no-passphrase", false, "store the key unencrypted (anyone who can read the file becomes you)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(e, c, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError("init takes no arguments, got %q", fs.Args())
	}
	if *noPass && *passFile != "" {
		return usageError("--no-passphrase and --passphrase-file cannot be used together")
	}
	path, err := resolveDataDir(*data)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return fileError(err, path)
	}
	d := dataDir{path}
	if err := d.checkPrivate(); err != nil {
		return err
	}
	unlock, err := d.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Lstat(d.keyFile()); err == nil {
		return fail(exitExists, fmt.Errorf("an identity already exists at %s", d.keyFile()),
			fmt.Sprintf("'ghostwire id --data %s' shows it; init never replaces an identity, use another --data directory for a new one", d.path))
	}
	var pass []byte
	if *noPass {
		fmt.Fprintln(e.stderr, "ghostwire: warning: --no-passphrase: the identity key is stored unencrypted; anyone who can read it can impersonate you")
	} else {
		if pass, err = readPassphrase(e, *passFile, *passFile == ""); err != nil {
			return err
		}
		defer clear(pass)
	}
	s, err := d.createIdentity(e, pass)
	if err != nil {
		return err
	}
	defer s.Destroy()
	printf(e.stderr, "ghostwire: created identity in %s\n", d.path)
	return printID(e, s.Key.ID(), nil, *asJSON)
}

func runID(e *env, c *command, args []string) error {
	fs := newFlags(c)
	data := dataDirFlag(fs)
	passFile := fs.String("passphrase-file", "", "read the passphrase from the first line of `FILE` (- for standard input)")
	with := fs.String("with", "", "also print the safety number shared with peer `ONION`")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(e, c, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError("id takes no arguments, got %q (did you mean --with %s?)", fs.Args(), fs.Arg(0))
	}
	var peer *identity.ID
	if *with != "" {
		p, err := identity.ParseID(*with)
		if err != nil {
			return fail(exitUsage, err, "an address is 56 letters and digits 2-7, optionally followed by .onion")
		}
		peer = &p
	}
	path, err := resolveDataDir(*data)
	if err != nil {
		return err
	}
	s, err := dataDir{path}.unlock(e, *passFile)
	if err != nil {
		return err
	}
	defer s.Destroy()
	if peer != nil && *peer == s.Key.ID() {
		return fail(exitUsage, errors.New("--with names your own identity"), "pass the other peer's address")
	}
	return printID(e, s.Key.ID(), peer, *asJSON)
}

// idJSON is the stable --json form of `id` and `init`: fields may be added,
// never changed.
type idJSON struct {
	Onion        string `json:"onion"`
	PublicKey    string `json:"public_key"`
	Fingerprint  string `json:"fingerprint"`
	Peer         string `json:"peer,omitempty"`
	SafetyNumber string `json:"safety_number,omitempty"`
}

func printID(e *env, id identity.ID, peer *identity.ID, asJSON bool) error {
	out := idJSON{Onion: id.String(), PublicKey: id.Hex(), Fingerprint: identity.Fingerprint(id)}
	if peer != nil {
		out.Peer = peer.String()
		out.SafetyNumber = identity.SafetyNumber(id, *peer)
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	printf(e.stdout, "onion         %s\npublic key    %s\nfingerprint   %s\n", out.Onion, out.PublicKey, out.Fingerprint)
	if peer != nil {
		printf(e.stdout, "peer          %s\nsafety number %s\n", out.Peer, out.SafetyNumber)
	}
	return nil
}
