package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/ghostwire/ghostwire/store"
)

func checkCommand() *command {
	return &command{
		name:    "check",
		summary: "verify the store (every item's signature) and salvage what is readable",
		usage: `Usage: ghostwire check [--data DIR] [--passphrase-file FILE] [--salvage OUT] [--json]

Verifies the stopped node's store without changing it, as git fsck does: its
files, its record (docs/storage.md), then every item, decoded and its signature
verified. It prints the counts and any damage, and exits 0 when the store is
whole and 6 when it is damaged or missing.

With --salvage OUT it also copies every readable item (and every readable
record: peers, outbox, collections) into a new store in the directory OUT,
which must not exist yet. When badger cannot open the store (its MANIFEST or
a table damaged), salvage reads the files one by one: every table that reads,
each log up to its first bad checksum, and says per file what was lost.
Without the store's KEYREGISTRY nothing can be read: restore it from a backup. To use it, with the node stopped, move DIR/store
and DIR/store.id aside and put OUT and OUT.id in their place. The exit code
still describes the store that was checked. Nothing is ever deleted.

Example:
  ghostwire check --data ~/gw
  ghostwire check --data ~/gw --salvage ~/gw-salvaged && mv ~/gw/store ~/gw/store.damaged && mv ~/gw/store.id ~/gw/store.id.damaged && mv ~/gw-salvaged ~/gw/store && mv ~/gw-salvaged.id ~/gw/store.id`,
		run: runCheck,
	}
}

func runCheck(e *env, c *command, args []string) error {
	fs := newFlags(c)
	data := dataDirFlag(fs)
	passFile := fs.String("passphrase-file", "", "read the passphrase from the first line of `FILE` (- for standard input)")
	salvage := fs.String("salvage", "", "copy every readable item into a new store in `OUT`")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(e, c, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError("check takes no arguments, got %q", fs.Args())
	}
	d, secrets, release, err := takeDataDir(e, *data, *passFile)
	if err != nil {
		return err
	}
	defer release()
	path := d.path

	var rep *store.Report
	if *salvage != "" {
		out, err := filepath.Abs(*salvage)
		if err != nil {
			return usageError("--salvage: %v", err)
		}
		rep, err = store.Salvage(d.storeDir(), secrets.StoreKey[:], out)
		if err != nil {
			return d.checkError(err)
		}
	} else if rep, err = store.Check(d.storeDir(), secrets.StoreKey[:]); err != nil {
		return d.checkError(err)
	}
	if *asJSON {
		if err := printJSON(e, rep); err != nil {
			return err
		}
	} else {
		printReport(e, rep, *salvage)
	}
	if rep.Clean() {
		return nil
	}
	hint := fmt.Sprintf("'ghostwire check --data %s --salvage OUT' copies every readable item into a new store at OUT", path)
	switch {
	case rep.KeysLost:
		// Nothing reads without the data keys: salvage cannot help.
		return fail(exitCorrupt, errors.New("the store is damaged beyond salvage: its KEYREGISTRY is lost"),
			fmt.Sprintf("restore %s (with its KEYREGISTRY) from your backup; no tool can read the store without the keys that file held", d.storeDir()),
			fmt.Sprintf("then 'ghostwire check --data %s' verifies what you restored", path))
	case rep.NoStore:
		return fail(exitCorrupt, errors.New("the store is missing"),
			fmt.Sprintf("restore %s from your backup; there is nothing here to salvage", d.storeDir()),
			fmt.Sprintf("then 'ghostwire check --data %s' verifies what you restored", path))
	case *salvage != "":
		hint = fmt.Sprintf("the readable part is in %s; see 'ghostwire check --help' for putting it in place", *salvage)
	}
	return fail(exitCorrupt, errors.New("the store is damaged"), hint)
}

// checkError is an error that kept Check from checking at all.
func (d dataDir) checkError(err error) error {
	if errors.Is(err, store.ErrInUse) || errors.Is(err, store.ErrWrongKey) {
		return d.storeError(err)
	}
	return fail(exitFailure, err)
}

func printReport(e *env, r *store.Report, salvage string) {
	printf(e.stdout, "items       %d found, %d verified\n", r.Items, r.Verified)
	for _, l := range []struct {
		n    int
		what string
	}{
		{r.Unreadable, "unreadable (the disk lost their bytes)"},
		{r.Malformed, "malformed (their bytes do not decode)"},
		{r.BadSignature, "with a bad signature (their bytes were altered)"},
		{r.Missing, "missing (counted by the store, not found)"},
	} {
		if l.n > 0 {
			printf(e.stdout, "damaged     %d items %s\n", l.n, l.what)
		}
	}
	printf(e.stdout, "records     %d other records", r.Records)
	if r.UnreadableRecords > 0 {
		printf(e.stdout, ", %d unreadable", r.UnreadableRecords)
	}
	fmt.Fprintln(e.stdout)
	for _, p := range r.Problems {
		printf(e.stdout, "problem     %s\n", p)
	}
	if r.Rebuilt {
		// badger could not open the store: say what was read of each file.
		for _, f := range r.Files {
			if f.Lost == "" {
				printf(e.stdout, "read        %s: all %d entries\n", f.Name, f.Entries)
			} else {
				printf(e.stdout, "read        %s: %d entries; lost %s\n", f.Name, f.Entries, f.Lost)
			}
		}
	}
	if salvage != "" {
		printf(e.stdout, "salvaged    %d items and %d records into %s\n", r.Salvaged, r.SalvagedRecords, salvage)
	}
	if r.Clean() {
		fmt.Fprintln(e.stdout, "store       whole")
	} else {
		fmt.Fprintln(e.stdout, "store       damaged")
	}
}
