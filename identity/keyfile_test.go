package identity

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata vectors")

// testKDF is the cheapest setting the decoder accepts, to keep tests fast.
var testKDF = KDFParams{Time: 1, Threads: 1, MemKiB: minArgonMemKiB}

// fixedRand is a deterministic randomness source for vectors.
func fixedRand(b byte) *bytes.Reader { return bytes.NewReader(bytes.Repeat([]byte{b}, 4096)) }

func testSecrets(t testing.TB) *Secrets {
	s, err := GenerateSecrets(fixedRand(5))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestKeyFileVectors seals with fixed randomness and compares with the
// vectors in testdata (regenerate with -update), then opens them.
func TestKeyFileVectors(t *testing.T) {
	s := testSecrets(t)
	for _, v := range []struct {
		file string
		pass []byte
	}{
		{"testdata/keyfile_argon2id.hex", []byte("correct horse battery staple")},
		{"testdata/keyfile_nopass.hex", nil},
	} {
		got, err := s.Seal(v.pass, testKDF, fixedRand(9))
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			os.WriteFile(v.file, []byte(hex.EncodeToString(got)+"\n"), 0o644)
		}
		want, err := os.ReadFile(v.file)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(got) != strings.TrimSpace(string(want)) {
			t.Fatalf("%s: sealed bytes changed; the key file format is frozen (version %d)", v.file, keyFileVersion)
		}
		o, err := OpenKeyFile(got, v.pass)
		if err != nil {
			t.Fatalf("%s: %v", v.file, err)
		}
		if !o.Key.Equal(s.Key) || o.StoreKey != s.StoreKey {
			t.Fatalf("%s: secrets differ after open", v.file)
		}
		if len(got) != KeyFileSize {
			t.Fatalf("size %d", len(got))
		}
	}
}

func TestKeyFileErrors(t *testing.T) {
	s := testSecrets(t)
	pass := []byte("pw")
	good, err := s.Seal(pass, testKDF, fixedRand(3))
	if err != nil {
		t.Fatal(err)
	}
	nopass, _ := s.Seal(nil, testKDF, fixedRand(3))
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := []struct {
		name string
		file []byte
		pass []byte
		want error
	}{
		{"wrong passphrase", good, []byte("pW"), ErrWrongPassphrase},
		{"no passphrase given", good, nil, ErrPassphraseRequired},
		{"empty", nil, pass, ErrCorruptKeyFile},
		{"truncated by one", good[:len(good)-1], pass, ErrCorruptKeyFile},
		{"one extra byte", append(bytes.Clone(good), 0), pass, ErrCorruptKeyFile},
		{"bad magic", mut(func(b []byte) []byte { b[0] = 'X'; return b }), pass, ErrCorruptKeyFile},
		{"future version", mut(func(b []byte) []byte { b[7] = 2; return b }), pass, ErrCorruptKeyFile},
		{"unknown kdf", mut(func(b []byte) []byte { b[8] = 9; return b }), pass, ErrCorruptKeyFile},
		{"huge memory", mut(func(b []byte) []byte { b[11] = 0xff; return b }), pass, ErrCorruptKeyFile},
		{"zero time", mut(func(b []byte) []byte { b[9] = 0; return b }), pass, ErrCorruptKeyFile},
		{"salt changed", mut(func(b []byte) []byte { b[20] ^= 1; return b }), pass, ErrWrongPassphrase},
		{"ciphertext flipped", mut(func(b []byte) []byte { b[70] ^= 1; return b }), pass, ErrWrongPassphrase},
		{"tag flipped", mut(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), pass, ErrWrongPassphrase},
		{"nopass flipped", func() []byte { b := bytes.Clone(nopass); b[80] ^= 1; return b }(), nil, ErrCorruptKeyFile},
		{"nopass with params", func() []byte { b := bytes.Clone(nopass); b[9] = 1; return b }(), nil, ErrCorruptKeyFile},
	}
	for _, c := range cases {
		_, err := OpenKeyFile(c.file, c.pass)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := OpenKeyFile(nopass, []byte("ignored")); err != nil {
		t.Errorf("no-passphrase file with a passphrase given: %v", err)
	}
	if _, err := s.Seal([]byte{}, testKDF, fixedRand(1)); err == nil {
		t.Error("sealed with an empty passphrase")
	}
}

func TestKeyFileOnDisk(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "identity.key")
	data, _ := testSecrets(t).Seal(nil, testKDF, fixedRand(1))
	if err := CreateKeyFile(path, data); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	if err := CreateKeyFile(path, []byte("other")); !errors.Is(err, os.ErrExist) {
		t.Fatalf("overwrite: %v", err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, data) {
		t.Fatal("existing key file changed")
	}
	got, err := ReadKeyFile(path)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadKeyFile: %v", err)
	}
	os.Chmod(path, 0o644)
	if _, err := ReadKeyFile(path); !errors.Is(err, ErrKeyFilePermissions) {
		t.Fatalf("world-readable: %v", err)
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, 10<<20), 0o600)
	b, err := ReadKeyFile(big)
	if err != nil || len(b) != KeyFileSize+1 {
		t.Fatalf("big file read %d bytes, %v", len(b), err)
	}
	if _, err := OpenKeyFile(b, nil); !errors.Is(err, ErrCorruptKeyFile) {
		t.Fatal("big file opened")
	}
}

func TestDefaultKDFWithinLimits(t *testing.T) {
	if err := DefaultKDF.check(); err != nil {
		t.Fatal(err)
	}
}

// FuzzOpenKeyFile: no panic, no success without the right key material, and
// bounded cost (the decoder refuses parameters above the limits before
// running the KDF).
func FuzzOpenKeyFile(f *testing.F) {
	for _, name := range []string{"testdata/keyfile_argon2id.hex", "testdata/keyfile_nopass.hex"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		raw, _ := hex.DecodeString(strings.TrimSpace(string(b)))
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Keep each exec cheap: only the no-passphrase path runs with the
		// real KDF; Argon2id files are checked up to their header.
		need, err := KeyFileNeedsPassphrase(data)
		if err != nil || need {
			return
		}
		s, err := OpenKeyFile(data, nil)
		if err != nil {
			return
		}
		again, err := s.Seal(nil, KDFParams{}, bytes.NewReader(data[len(keyFileMagic)+8:headerSize]))
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("opened file does not re-seal to the same bytes")
		}
	})
}

func FuzzParseID(f *testing.F) {
	f.Add(rfcKey(f).ID().String())
	f.Add("")
	f.Add(strings.Repeat("a", 56))
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			return
		}
		back, err := ParseID(id.String())
		if err != nil || back != id {
			t.Fatalf("canonical form does not round-trip")
		}
		if !strings.EqualFold(strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".onion"), id.Onion()) {
			t.Fatalf("accepted %q as %s", s, id)
		}
	})
}
