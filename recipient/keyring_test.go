package recipient

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/wire"
)

var update = flag.Bool("update", false, "rewrite testdata/keyring_v1.hex")

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// fixedRand is a deterministic randomness source for the vector.
func fixedRand(b byte) *bytes.Reader { return bytes.NewReader(bytes.Repeat([]byte{b}, 4096)) }

// sealTo seals a short payload to p and reports whether q opens it.
func opensWith(t *testing.T, p, q *PrivateKey) bool {
	t.Helper()
	sealed, err := Seal(rand.Reader, []byte("old message"), nil, []*PublicKey{p.Public()})
	if err != nil {
		t.Fatal(err)
	}
	pt, err := Open(sealed, nil, q)
	return err == nil && string(pt) == "old message"
}

// TestKeyringFirstOpen: a data directory without a keyring (every node
// before keyrings, or one restored from its key file alone) gets one holding
// the key derived from the seed, so it reads what was sealed to it before.
func TestKeyringFirstOpen(t *testing.T) {
	id, derived := newPeer(t, 1)
	path := filepath.Join(t.TempDir(), "recipient.keyring")
	kr, err := OpenKeyring(path, id, rand.Reader, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !opensWith(t, derived, kr.InUse()) {
		t.Fatal("the first key is not the derived one: old messages would not open")
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("keyring file: %v, mode %v; want 0600", err, st.Mode())
	}
	list := kr.List()
	if len(list) != 1 || !list[0].InUse || !list[0].Derived || !list[0].Created.Equal(t0) {
		t.Fatalf("list %+v", list)
	}
	again, err := OpenKeyring(path, id, rand.Reader, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if l := again.List(); len(l) != 1 || l[0] != list[0] || !opensWith(t, derived, again.InUse()) {
		t.Fatalf("reopened: %+v, want %+v", l, list)
	}
}

func TestKeyringCreateDestroy(t *testing.T) {
	id, derived := newPeer(t, 1)
	path := filepath.Join(t.TempDir(), "recipient.keyring")
	kr, err := OpenKeyring(path, id, rand.Reader, t0)
	if err != nil {
		t.Fatal(err)
	}
	first := kr.List()[0].ID
	fresh, err := kr.Create(t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if kr.InUse() != fresh || opensWith(t, derived, fresh) {
		t.Fatal("the new key is not in use, or is the derived key again")
	}
	list := kr.List()
	if len(list) != 2 || list[0].InUse || !list[1].InUse || list[1].Derived || list[0].ID != first {
		t.Fatalf("after Create: %+v", list)
	}
	if err := kr.Destroy(list[1].ID); !errors.Is(err, ErrKeyInUse) {
		t.Fatalf("destroying the key in use: %v", err)
	}
	if err := kr.Destroy("0011223344556677"); !errors.Is(err, ErrNoSuchKey) {
		t.Fatalf("destroying an unknown key: %v", err)
	}
	if err := kr.Destroy(first); err != nil {
		t.Fatal(err)
	}
	// The file no longer holds the destroyed key: a fresh open sees only
	// the new one, and a payload sealed to the old key opens with nothing
	// the keyring holds.
	again, err := OpenKeyring(path, id, rand.Reader, t0)
	if err != nil {
		t.Fatal(err)
	}
	if l := again.List(); len(l) != 1 || l[0].ID != list[1].ID || !l[0].InUse {
		t.Fatalf("after Destroy, reopened: %+v, want only %+v", l, list[1])
	}
	if opensWith(t, derived, again.InUse()) || !opensWith(t, fresh, again.InUse()) {
		t.Fatal("reopened keyring opens the destroyed key's payloads, or not the new key's")
	}
	if _, err := os.Stat(path + ".new"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left behind: %v", err)
	}
	for range MaxKeyringKeys - 1 {
		if _, err := again.Create(t0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := again.Create(t0); err == nil {
		t.Fatalf("keyring grew past %d keys", MaxKeyringKeys)
	}
}

func TestKeyringRejects(t *testing.T) {
	id, _ := newPeer(t, 1)
	other, _ := newPeer(t, 2)
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if _, err := OpenKeyring(good, id, rand.Reader, t0); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	mut := func(f func([]byte) []byte) []byte { return f(bytes.Clone(data)) }
	for _, tc := range []struct {
		name string
		file []byte
		key  *identity.PrivateKey
		mode os.FileMode
		want error
	}{
		{"another identity's", data, other, 0o600, ErrKeyringCorrupt},
		{"readable by others", data, id, 0o644, identity.ErrKeyFilePermissions},
		{"empty", nil, id, 0o600, ErrKeyringCorrupt},
		{"truncated by one", data[:len(data)-1], id, 0o600, ErrKeyringCorrupt},
		{"one extra byte", append(bytes.Clone(data), 0), id, 0o600, ErrKeyringCorrupt},
		{"bad magic", mut(func(b []byte) []byte { b[0] = 'X'; return b }), id, 0o600, ErrKeyringCorrupt},
		{"future version", mut(func(b []byte) []byte { b[7] = 2; return b }), id, 0o600, ErrKeyringCorrupt},
		{"nonce changed", mut(func(b []byte) []byte { b[10] ^= 1; return b }), id, 0o600, ErrKeyringCorrupt},
		{"ciphertext flipped", mut(func(b []byte) []byte { b[40] ^= 1; return b }), id, 0o600, ErrKeyringCorrupt},
		{"too large", make([]byte, maxKeyringFile+1), id, 0o600, ErrKeyringCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(p, tc.file, tc.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(p, tc.mode)
			if _, err := OpenKeyring(p, tc.key, rand.Reader, t0); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if b, _ := os.ReadFile(p); !bytes.Equal(b, tc.file) {
				t.Fatal("a keyring that did not open was changed")
			}
		})
	}
}

// TestKeyringVector opens testdata/keyring_v1.hex, written with identity
// seed 0x05*32, randomness 0x09 bytes, the derived key dated t0 and a created
// key dated t0 + 1 min (regenerate with -update), so the file format stays
// readable by every later version.
func TestKeyringVector(t *testing.T) {
	id, err := identity.NewKeyFromSeed(bytes.Repeat([]byte{5}, identity.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	vec := filepath.Join("testdata", "keyring_v1.hex")
	path := filepath.Join(t.TempDir(), "recipient.keyring")
	if *update {
		kr, err := OpenKeyring(path, id, fixedRand(9), t0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kr.Create(t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(vec, []byte(hex.EncodeToString(b)+"\n"), 0o644)
		os.Remove(path)
	}
	h, err := os.ReadFile(vec)
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(h)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	kr, err := OpenKeyring(path, id, rand.Reader, t0)
	if err != nil {
		t.Fatal(err)
	}
	derived, err := Derive(id)
	if err != nil {
		t.Fatal(err)
	}
	l := kr.List()
	if len(l) != 2 || !l[0].Derived || l[1].Derived || !l[1].InUse ||
		!l[0].Created.Equal(t0) || !l[1].Created.Equal(t0.Add(time.Minute)) || l[0].ID != keyID(derived) {
		t.Fatalf("vector lists %+v", l)
	}
	// The second key came from 64 bytes of 0x09 after the 24-byte nonce of
	// the first write: its ID is fixed.
	if l[1].ID != "70d7c8fe234f90ae" {
		t.Fatalf("created key ID %s, want 70d7c8fe234f90ae", l[1].ID)
	}
}

// FuzzKeyringParse feeds the keyring's plaintext parser (what the AEAD
// opened) arbitrary bytes: no panic, and anything accepted holds 1 to
// MaxKeyringKeys keys whose encoding round-trips.
func FuzzKeyringParse(f *testing.F) {
	id, _ := newPeer(f, 1)
	kr := &Keyring{owner: id.ID()}
	derived, _ := Derive(id)
	b, _ := derived.k.Bytes()
	for _, n := range []int{1, 2} {
		var w wireKeyring
		for i := range n {
			w.Keys = append(w.Keys, wireRingKey{KEM: 0x647a, Private: b, Created: uint64(i), Derived: i == 0})
		}
		pt, err := wire.Marshal(&w)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pt)
	}
	f.Fuzz(func(t *testing.T, pt []byte) {
		keys, err := kr.parse(bytes.Clone(pt))
		if err != nil {
			return
		}
		if len(keys) < 1 || len(keys) > MaxKeyringKeys {
			t.Fatalf("accepted %d keys", len(keys))
		}
		for _, k := range keys {
			if _, err := k.priv.k.Bytes(); err != nil {
				t.Fatal(err)
			}
		}
	})
}
