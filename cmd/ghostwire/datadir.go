package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/vault"
)

// dataDir is the layout of a node's data directory:
//
//	identity.key       the key file (docs/keyfile.md), mode 0600
//	recipient.keyring  the recipient keys (docs/keyfile.md §5), mode 0600
//	burn.vault         the keys of burnable messages (docs/storage.md §4)
//	keys.vault         the encryption subkeys' secrets (docs/trust.md §4)
//	store/             the encrypted badger database
//	store.id           the store's marker: its identity and item count (docs/storage.md)
//	lock               held (flock) by the ghostwire process that owns the directory
type dataDir struct{ path string }

func (d dataDir) keyFile() string     { return filepath.Join(d.path, "identity.key") }
func (d dataDir) storeDir() string    { return filepath.Join(d.path, "store") }
func (d dataDir) keyringFile() string { return filepath.Join(d.path, "recipient.keyring") }
func (d dataDir) vaultFile() string   { return filepath.Join(d.path, "burn.vault") }

// keyVaultFile holds the encryption subkeys' private keys (docs/trust.md
// §4): a vault of its own, since the burn vault's sweep destroys every
// slot that is not a burnable message's.
func (d dataDir) keyVaultFile() string { return filepath.Join(d.path, "keys.vault") }
func (d dataDir) lockFile() string     { return filepath.Join(d.path, "lock") }

// lock takes the directory's exclusive lock without waiting. The lock is
// released when the process exits, however it exits.
func (d dataDir) lock() (unlock func(), err error) {
	f, err := os.OpenFile(d.lockFile(), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fileError(err, d.lockFile())
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := io.ReadAll(io.LimitReader(f, 32))
		f.Close()
		who := "another ghostwire process"
		if pid, err := strconv.Atoi(strings.TrimSpace(string(holder))); err == nil {
			who = fmt.Sprintf("ghostwire process %d", pid)
		}
		return nil, fail(exitInUse, fmt.Errorf("data directory %s is in use by %s", d.path, who),
			"stop that process first, or use another --data directory")
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { f.Truncate(0); f.Close() }, nil
}

// fileError turns an OS error on path into a CLI error with a hint.
func fileError(err error, path string) error {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return fail(exitPermission, fmt.Errorf("cannot access %s: permission denied", path),
			"check the owner and mode of the file and of its directory")
	case errors.Is(err, fs.ErrNotExist):
		return fail(exitFailure, fmt.Errorf("%s does not exist", path), "check the path")
	}
	return fail(exitFailure, err)
}

// checkPrivate refuses a data directory that another user could read or
// write, or that is not ours, as ssh refuses such a ~/.ssh: whoever can
// write there can put their own api.sock or store in the node's place, and
// whoever can read it learns who this node talks to. A directory that does
// not exist passes; ghostwire creates it 0700.
func (d dataDir) checkPrivate() error {
	fi, err := os.Stat(d.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fileError(err, d.path)
	}
	if !fi.IsDir() {
		return fail(exitUsage, fmt.Errorf("%s is not a directory", d.path), "give --data a directory")
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != uint32(os.Getuid()) {
		return fail(exitPermission, fmt.Errorf("data directory %s belongs to uid %d, not to you (uid %d)", d.path, st.Uid, os.Getuid()),
			"run ghostwire as the user who owns it, or use a --data directory of your own")
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fail(exitPermission, fmt.Errorf("data directory %s has mode %04o: other users can read or write it", d.path, perm),
			fmt.Sprintf("make it private with 'chmod 700 %s'", d.path))
	}
	return nil
}

// unlock reads and opens the identity. It never creates or replaces
// anything: an unreadable identity is reported, not regenerated.
func (d dataDir) unlock(e *env, passphraseFile string) (*identity.Secrets, error) {
	if err := d.checkPrivate(); err != nil {
		return nil, err
	}
	data, err := identity.ReadKeyFile(d.keyFile())
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fail(exitNoIdentity, fmt.Errorf("no identity in %s", d.path),
			fmt.Sprintf("create one with 'ghostwire init --data %s'", d.path))
	case errors.Is(err, identity.ErrKeyFilePermissions):
		return nil, fail(exitPermission, err,
			fmt.Sprintf("make it private with 'chmod 600 %s'", d.keyFile()))
	case errors.Is(err, identity.ErrCorruptKeyFile):
		return nil, corruptKeyFile(err, d)
	case err != nil:
		return nil, fileError(err, d.keyFile())
	}
	need, err := identity.KeyFileNeedsPassphrase(data)
	if err != nil {
		return nil, corruptKeyFile(err, d)
	}
	var pass []byte
	if need {
		if pass, err = readPassphrase(e, passphraseFile, false); err != nil {
			return nil, err
		}
		defer clear(pass)
	}
	s, err := identity.OpenKeyFile(data, pass)
	switch {
	case errors.Is(err, identity.ErrWrongPassphrase):
		return nil, fail(exitAuth, errors.New("wrong passphrase for "+d.keyFile()),
			"try again; if the passphrase is right, the file's sealed part is damaged: restore it from your backup")
	case errors.Is(err, identity.ErrCorruptKeyFile):
		return nil, corruptKeyFile(err, d)
	case err != nil:
		return nil, fail(exitFailure, err)
	}
	return s, nil
}

// takeDataDir resolves the --data flag's directory and takes it (take).
func takeDataDir(e *env, data, passFile string) (d dataDir, secrets *identity.Secrets, release func(), err error) {
	path, err := resolveDataDir(data)
	if err != nil {
		return d, nil, nil, err
	}
	d = dataDir{path}
	secrets, release, err = d.take(e, passFile)
	return d, secrets, release, err
}

// take unlocks the identity and takes the directory's lock, as a command
// that opens the store must; release gives both back.
func (d dataDir) take(e *env, passFile string) (secrets *identity.Secrets, release func(), err error) {
	if secrets, err = d.unlock(e, passFile); err != nil {
		return nil, nil, err
	}
	unlock, err := d.lock()
	if err != nil {
		secrets.Destroy()
		return nil, nil, err
	}
	return secrets, func() { unlock(); secrets.Destroy() }, nil
}

func corruptKeyFile(err error, d dataDir) error {
	return fail(exitCorrupt, err,
		fmt.Sprintf("restore %s from your backup; ghostwire never replaces an unreadable identity", d.keyFile()))
}

// openKeyring opens the recipient keyring beside the key file, creating it
// with the key derived from the identity when there is none (a data
// directory made before keyrings, or restored from identity.key alone).
func (d dataDir) openKeyring(s *identity.Secrets) (*recipient.Keyring, error) {
	kr, err := recipient.OpenKeyring(d.keyringFile(), s.Key, rand.Reader, time.Now())
	switch {
	case errors.Is(err, identity.ErrKeyFilePermissions):
		return nil, fail(exitPermission, err,
			fmt.Sprintf("make it private with 'chmod 600 %s'", d.keyringFile()))
	case errors.Is(err, recipient.ErrKeyringCorrupt):
		return nil, fail(exitCorrupt, err,
			fmt.Sprintf("restore %s from the backup you made with identity.key; ghostwire never replaces an unreadable keyring", d.keyringFile()))
	case err != nil:
		return nil, fileError(err, d.keyringFile())
	}
	return kr, nil
}

// openStore opens the node's store with the identity's data key. The
// store must exist: init made it beside the identity, so an empty or absent
// one was lost, not new, and the node refuses to start on it (as on a
// damaged one) rather than fill a new store beside the old identity.
func (d dataDir) openStore(s *identity.Secrets, log *slog.Logger) (*store.DB, error) {
	db, err := store.OpenConfig(d.storeDir(), s.StoreKey[:], store.Config{Logger: log, MustExist: true})
	if err != nil {
		return nil, d.storeError(err)
	}
	return db, nil
}

// openVault opens (creating if needed) the vault that keeps burnable
// messages' keys beside the store (docs/storage.md "Burn"). A damaged or foreign
// vault stops the node with what to do: moving it aside costs only the
// burnable messages it held, which nobody can read without it anyway.
func (d dataDir) openVault(s *identity.Secrets) (*vault.Vault, error) {
	return openVaultFile(s, d.vaultFile(), "the burnable messages it held become unreadable (to anyone), nothing else is lost")
}

// openKeyVault opens (creating if needed) the vault of the encryption
// subkeys. Moved aside, it costs the messages sealed to the current
// subkey and those in grace; the node certifies a new subkey at start.
func (d dataDir) openKeyVault(s *identity.Secrets) (*vault.Vault, error) {
	return openVaultFile(s, d.keyVaultFile(), "direct messages sealed to your current and recent encryption subkeys become unreadable; the node makes a new subkey")
}

func openVaultFile(s *identity.Secrets, path, loss string) (*vault.Vault, error) {
	v, err := vault.Open(path, s.StoreKey[:], rand.Reader)
	aside := fmt.Sprintf("to start afresh, move %s aside: %s", path, loss)
	switch {
	case errors.Is(err, vault.ErrWrongKey):
		return nil, fail(exitCorrupt, fmt.Errorf("%s does not open with this identity's key: it belongs to another identity", path),
			"restore the identity.key that belongs to this data directory", aside)
	case errors.Is(err, vault.ErrDamaged):
		return nil, fail(exitCorrupt, err, aside)
	case err != nil:
		return nil, fileError(err, path)
	}
	return v, nil
}

// storeError turns an error opening the store into a CLI error with hints.
func (d dataDir) storeError(err error) error {
	check := fmt.Sprintf("'ghostwire check --data %s' tells what is readable; '--salvage DIR' copies it into a new store", d.path)
	switch {
	case errors.Is(err, store.ErrInUse):
		return fail(exitInUse, err, "stop the other ghostwire process using this --data directory")
	case errors.Is(err, store.ErrWrongKey):
		return fail(exitCorrupt, fmt.Errorf("the store in %s does not open with this identity's key: it belongs to another identity, or its KEYREGISTRY is damaged", d.storeDir()),
			"restore the identity.key that belongs to this store, or the store from your backup", check)
	case errors.Is(err, store.ErrMissing):
		return fail(exitCorrupt, err,
			fmt.Sprintf("restore %s from your backup; ghostwire never starts an empty store beside an existing identity", d.storeDir()), check)
	case errors.Is(err, store.ErrDamaged):
		return fail(exitCorrupt, err,
			"keep a copy of the data directory before trying anything else; ghostwire deletes nothing unasked", check)
	case errors.Is(err, store.ErrDiskFull):
		return fail(exitFailure, err, "free some space on the disk holding the data directory")
	case errors.Is(err, fs.ErrPermission):
		return fail(exitPermission, err, "check the owner and mode of the store directory and its files")
	}
	return fail(exitFailure, err)
}

// createStore makes the new store of a new identity.
func (d dataDir) createStore(s *identity.Secrets) error {
	db, err := store.Open(d.storeDir(), s.StoreKey[:], nil)
	if err != nil {
		return d.storeError(err)
	}
	if err := db.Close(); err != nil {
		return fail(exitFailure, err)
	}
	return nil
}

const maxPassphrase = 1024

// readPassphrase reads a passphrase from --passphrase-file (a path, or "-"
// for standard input; its first line) or else from the terminal. confirm
// asks twice. Passphrases never come from a flag value.
func readPassphrase(e *env, file string, confirm bool) ([]byte, error) {
	if file != "" {
		var r io.Reader
		if file == "-" {
			r = e.stdin
		} else {
			f, err := os.Open(file)
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fail(exitUsage, fmt.Errorf("passphrase file %s does not exist", file),
					"give the path of a file whose first line is the passphrase, or - for standard input")
			}
			if err != nil {
				return nil, fileError(err, file)
			}
			defer f.Close()
			r = f
		}
		b, err := io.ReadAll(io.LimitReader(r, maxPassphrase+1))
		if err != nil {
			return nil, fail(exitFailure, fmt.Errorf("reading passphrase: %w", err))
		}
		if len(b) > maxPassphrase {
			return nil, usageError("passphrase file is longer than %d bytes", maxPassphrase)
		}
		line, _, _ := bytes.Cut(b, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			return nil, fail(exitUsage, errors.New("the passphrase file's first line is empty"),
				"write the passphrase on the first line, or use --no-passphrase at init to opt out")
		}
		return bytes.Clone(line), nil
	}
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, fail(exitUsage, errors.New("a passphrase is needed and there is no terminal to ask on"),
			"pass --passphrase-file FILE (or --passphrase-file - to read standard input)")
	}
	fmt.Fprint(e.stderr, "Passphrase: ")
	p, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(e.stderr)
	if err != nil {
		return nil, fail(exitFailure, fmt.Errorf("reading passphrase: %w", err))
	}
	if len(p) == 0 {
		return nil, usageError("empty passphrase")
	}
	if confirm {
		fmt.Fprint(e.stderr, "Again: ")
		q, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return nil, fail(exitFailure, fmt.Errorf("reading passphrase: %w", err))
		}
		if !bytes.Equal(p, q) {
			return nil, usageError("the passphrases do not match")
		}
	}
	return p, nil
}

// createIdentity makes a new identity and store in d. It refuses when an
// identity (readable or not) or a store already exists there.
func (d dataDir) createIdentity(e *env, pass []byte) (*identity.Secrets, error) {
	if _, err := os.Lstat(d.keyFile()); err == nil {
		return nil, fail(exitExists, fmt.Errorf("an identity already exists at %s", d.keyFile()),
			fmt.Sprintf("'ghostwire id --data %s' shows it; init never replaces an identity, use another --data directory for a new one", d.path))
	}
	if entries, err := os.ReadDir(d.storeDir()); err == nil && len(entries) > 0 {
		return nil, fail(exitExists, fmt.Errorf("%s holds a store but no identity", d.path),
			"restore that store's identity.key, or use another --data directory")
	}
	if _, err := os.Lstat(d.storeDir() + ".id"); err == nil {
		return nil, fail(exitExists, fmt.Errorf("%s holds a store's marker (store.id) but no identity", d.path),
			"restore that store and its identity.key, or use another --data directory")
	}
	s, err := identity.GenerateSecrets(rand.Reader)
	if err != nil {
		return nil, fail(exitFailure, err)
	}
	sealed, err := s.Seal(pass, identity.DefaultKDF, rand.Reader)
	if err != nil {
		return nil, fail(exitFailure, err)
	}
	if err := d.createStore(s); err != nil {
		return nil, err
	}
	// The key file is written last and with O_EXCL: if two inits race, one
	// loses here and no identity is ever replaced.
	if err := identity.CreateKeyFile(d.keyFile(), sealed); err != nil {
		os.RemoveAll(d.storeDir())
		os.Remove(d.storeDir() + ".id") // the store's marker (docs/storage.md)
		if errors.Is(err, fs.ErrExist) {
			return nil, fail(exitExists, fmt.Errorf("an identity already exists at %s", d.keyFile()))
		}
		return nil, fileError(err, d.keyFile())
	}
	return s, nil
}
