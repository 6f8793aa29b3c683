package taxii

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// tokenPrefix starts every token, so a token pasted in the wrong place is
// recognisable (and a scanner for leaked secrets can find one).
const tokenPrefix = "gwtaxii_"

// tokenBytes is a token's randomness: 256 bits, so a token's SHA-256 is
// all the file needs to keep (no salt or slow hash: nothing to guess).
const tokenBytes = 32

// Token is one client's credential as the token file keeps it: its name
// (the HTTP Basic user name), the SHA-256 of its secret, and the TAXII
// collections it may read.
type Token struct {
	Name   string    `json:"name"`
	SHA256 string    `json:"sha256"`
	Made   time.Time `json:"made"`
	// Collections are the collections it may read, each a GhostWire
	// collection name ("default": every TLP level exposed of it) or
	// name:level ("default:green"); empty: every exposed collection.
	Collections []string `json:"collections,omitempty"`
}

// mayRead reports whether the token may read exposure x.
func (t *Token) mayRead(x Exposure) bool {
	return len(t.Collections) == 0 || slices.Contains(t.Collections, x.Collection) || slices.Contains(t.Collections, x.String())
}

// Tokens is the token file (0600, in the data directory): read again when
// it changes, so a token made while the server runs works at once.
type Tokens struct {
	path string
	mu   sync.Mutex
	// Guarded by mu: the file as last read, and what it was then. Its
	// modification time alone cannot tell two writes apart within the
	// file system's clock tick; a save replaces the file (a new inode),
	// which SameFile sees.
	list []Token
	fi   os.FileInfo
}

// TokenFile returns the token file at path.
func TokenFile(path string) *Tokens { return &Tokens{path: path} }

// maxTokenFile bounds what reading the token file allocates.
const maxTokenFile = 1 << 20

func (ts *Tokens) load() ([]Token, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	fi, err := os.Stat(ts.path)
	if errors.Is(err, os.ErrNotExist) {
		ts.list, ts.fi = nil, nil
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if ts.list != nil && ts.fi != nil && os.SameFile(fi, ts.fi) && fi.ModTime().Equal(ts.fi.ModTime()) && fi.Size() == ts.fi.Size() {
		return ts.list, nil
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("taxii: %s is readable by others (mode %v); chmod 600 it", ts.path, fi.Mode().Perm())
	}
	f, err := os.Open(ts.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	list, err := decodeTokens(io.LimitReader(f, maxTokenFile))
	if err != nil {
		return nil, fmt.Errorf("taxii: %s: %w; fix it or remove it and make the tokens again", ts.path, err)
	}
	ts.list, ts.fi = list, fi
	return list, nil
}

// decodeTokens reads a token file strictly: unknown fields, bad hashes or
// names, and trailing data are errors, not silently ignored.
func decodeTokens(r io.Reader) ([]Token, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var list []Token
	if err := dec.Decode(&list); err != nil {
		return nil, fmt.Errorf("not a token list: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the token list")
	}
	for _, t := range list {
		if err := checkName(t.Name); err != nil {
			return nil, err
		}
		if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("token %q: sha256 is not 64 hex digits", t.Name)
		}
	}
	if list == nil {
		list = []Token{}
	}
	return list, nil
}

func checkName(name string) error {
	if name == "" || len(name) > 64 || strings.ContainsAny(name, ":") ||
		strings.ContainsFunc(name, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
		return fmt.Errorf("token name %q: use 1 to 64 printable characters without spaces or colons", name)
	}
	return nil
}

// Add makes a token named name that may read collections (empty: every
// exposed one), keeps its hash, and returns its secret, which is shown
// once and stored nowhere.
func (ts *Tokens) Add(rand io.Reader, name string, collections []string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	list, err := ts.load()
	if err != nil {
		return "", err
	}
	if slices.ContainsFunc(list, func(t Token) bool { return t.Name == name }) {
		return "", fmt.Errorf("taxii: a token named %q exists already", name)
	}
	raw := make([]byte, tokenBytes)
	if _, err := io.ReadFull(rand, raw); err != nil {
		return "", err
	}
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(secret))
	list = append(slices.Clone(list), Token{Name: name, SHA256: hex.EncodeToString(sum[:]), Made: time.Now().UTC(), Collections: collections})
	return secret, ts.save(list)
}

// Remove removes the token named name.
func (ts *Tokens) Remove(name string) error {
	list, err := ts.load()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(list, func(t Token) bool { return t.Name == name })
	if i < 0 {
		return fmt.Errorf("taxii: no token named %q", name)
	}
	return ts.save(slices.Delete(slices.Clone(list), i, i+1))
}

// List returns the tokens (their names and rights; secrets are not kept).
func (ts *Tokens) List() ([]Token, error) { return ts.load() }

func (ts *Tokens) save(list []Token) error {
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(ts.path), ".taxii-tokens-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), ts.path); err != nil {
		return err
	}
	ts.mu.Lock()
	ts.list, ts.fi = nil, nil // read what was written, next time
	ts.mu.Unlock()
	return nil
}

// errNoCredentials and errBadCredentials are both a 401; the text says
// which.
var (
	errNoCredentials  = errors.New("no credentials: send a token as 'Authorization: Bearer TOKEN' or HTTP Basic (user: the token's name, password: the token)")
	errBadCredentials = errors.New("wrong credentials: the token is unknown or does not match its name (make one with 'ghostwire taxii token')")
)

// check finds the token an Authorization header carries.
func (ts *Tokens) check(header string) (*Token, error) {
	name, secret, ok := parseAuthorization(header)
	if !ok {
		if header == "" {
			return nil, errNoCredentials
		}
		return nil, errBadCredentials
	}
	list, err := ts.load()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(secret))
	want := hex.EncodeToString(sum[:])
	var found *Token
	for i := range list {
		// Every hash is compared, in constant time, whichever matches.
		if subtle.ConstantTimeCompare([]byte(list[i].SHA256), []byte(want)) == 1 && (name == "" || name == list[i].Name) {
			found = &list[i]
		}
	}
	if found == nil {
		return nil, errBadCredentials
	}
	return found, nil
}

// parseAuthorization reads "Bearer TOKEN" (name empty) or "Basic
// base64(name:TOKEN)" (RFC 6750, RFC 7617). A secret must look like a
// token; anything else is not ok.
func parseAuthorization(h string) (name, secret string, ok bool) {
	scheme, rest, found := strings.Cut(strings.TrimSpace(h), " ")
	if !found || len(h) > 1024 {
		return "", "", false
	}
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(scheme) {
	case "bearer":
		secret = rest
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "", "", false
		}
		name, secret, found = strings.Cut(string(raw), ":")
		if !found || checkName(name) != nil {
			return "", "", false
		}
	default:
		return "", "", false
	}
	if !wellFormed(secret) {
		return "", "", false
	}
	return name, secret, true
}

// wellFormed reports whether s has a token's shape.
func wellFormed(s string) bool {
	b, ok := strings.CutPrefix(s, tokenPrefix)
	if !ok {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(b)
	return err == nil && len(raw) == tokenBytes
}
