package vault

import (
	"bytes"
	"crypto/rand"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var dataKey = bytes.Repeat([]byte{0x42}, 32)

func openTemp(t testing.TB) (*Vault, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vault")
	v, err := Open(p, dataKey, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v, p
}

func ref(b byte) Ref { return Ref(bytes.Repeat([]byte{b}, KeySize)) }

// TestDestroyErasesFromTheFile: a key is readable after a reopen until it
// is destroyed; then neither the vault nor the file's bytes hold it, and
// the other slots are untouched.
func TestDestroyErasesFromTheFile(t *testing.T) {
	v, p := openTemp(t)
	s1, k1, err := v.Create(rand.Reader, ref(1))
	if err != nil {
		t.Fatal(err)
	}
	s2, k2, err := v.Create(rand.Reader, ref(2))
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	if v, err = Open(p, dataKey, rand.Reader); err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if got, err := v.Key(s1, ref(1)); err != nil || got != k1 {
		t.Fatalf("key 1 after reopen: %v", err)
	}
	if err := v.Destroy(s1); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Key(s1, ref(1)); !errors.Is(err, ErrDestroyed) {
		t.Fatalf("destroyed key: err %v, want ErrDestroyed", err)
	}
	if got, err := v.Key(s2, ref(2)); err != nil || got != k2 {
		t.Fatalf("key 2 after destroying 1: %v", err)
	}
	raw, _ := os.ReadFile(p)
	slot := raw[HeaderSize+int(s1)*SlotSize:][:SlotSize]
	if !zero(slot) {
		t.Fatal("the destroyed slot is not zero on disk")
	}
	if bytes.Contains(raw, k1[:]) || bytes.Contains(raw, k2[:]) {
		t.Fatal("a key is in the file in the clear")
	}
	// The freed slot is used again.
	s3, _, err := v.Create(rand.Reader, ref(3))
	if err != nil || s3 != s1 {
		t.Fatalf("new key went to slot %d (%v), want the freed slot %d", s3, err, s1)
	}
	if v.Used() != 2 {
		t.Fatalf("%d slots used, want 2", v.Used())
	}
}

// TestDamage: bad headers, a wrong key and a damaged slot each give their
// own error; a damaged slot costs only itself.
func TestDamage(t *testing.T) {
	v, p := openTemp(t)
	s1, _, _ := v.Create(rand.Reader, ref(1))
	s2, k2, _ := v.Create(rand.Reader, ref(2))
	v.Close()
	good, _ := os.ReadFile(p)

	if _, err := Open(p, bytes.Repeat([]byte{0x43}, 32), rand.Reader); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("wrong key: %v, want ErrWrongKey", err)
	}
	for name, mutate := range map[string]func([]byte) []byte{
		"bad magic":      func(b []byte) []byte { b[0] ^= 1; return b },
		"reserved bytes": func(b []byte) []byte { b[60] = 1; return b },
		"truncated":      func(b []byte) []byte { return b[:HeaderSize-1] },
		"check altered":  func(b []byte) []byte { b[41] ^= 1; return b },
		"salt altered":   func(b []byte) []byte { b[9] ^= 1; return b },
	} {
		bad := mutate(bytes.Clone(good))
		os.WriteFile(p, bad, 0o600)
		_, err := Open(p, dataKey, rand.Reader)
		if !errors.Is(err, ErrDamaged) && !errors.Is(err, ErrWrongKey) {
			t.Errorf("%s: %v, want ErrDamaged or ErrWrongKey", name, err)
		}
	}
	bad := bytes.Clone(good)
	bad[HeaderSize+int(s1)*SlotSize+30] ^= 1
	bad = append(bad, 1, 2, 3) // a create that never finished
	os.WriteFile(p, bad, 0o600)
	v, err := Open(p, dataKey, rand.Reader)
	if err != nil {
		t.Fatalf("a damaged slot stopped Open: %v", err)
	}
	defer v.Close()
	if _, err := v.Key(s1, ref(1)); !errors.Is(err, ErrDamaged) {
		t.Fatalf("damaged slot: %v, want ErrDamaged", err)
	}
	if got, err := v.Key(s2, ref(2)); err != nil || got != k2 {
		t.Fatalf("the undamaged slot: %v", err)
	}
	if _, err := v.Key(s2, ref(9)); !errors.Is(err, ErrDamaged) {
		t.Fatalf("key asked for another ref: %v, want ErrDamaged", err)
	}
	var damaged int
	v.Slots(func(_ uint32, _ Ref, err error) {
		if errors.Is(err, ErrDamaged) {
			damaged++
		}
	})
	if damaged != 1 {
		t.Fatalf("Slots reported %d damaged, want 1", damaged)
	}
	s3, _, err := v.Create(rand.Reader, ref(3))
	if err != nil || s3 != 2 {
		t.Fatalf("create after a partial slot: slot %d, %v; want 2", s3, err)
	}
	if fi, _ := os.Stat(p); fi.Size() != HeaderSize+3*SlotSize {
		t.Fatalf("file is %d bytes, want %d: the partial slot was not overwritten", fi.Size(), HeaderSize+3*SlotSize)
	}
}

// memFile is a vault file in memory, for the fuzz target.
type memFile struct{ *bytes.Reader }

func (memFile) WriteAt([]byte, int64) (int, error) { return 0, errors.New("read-only") }
func (memFile) Sync() error                        { return nil }
func (memFile) Close() error                       { return nil }

// FuzzLoad: any file content decodes or fails cleanly, and a decoded
// vault lists and reads its slots without panic.
func FuzzLoad(f *testing.F) {
	seed, _ := os.ReadFile("testdata/two-slots.vault")
	f.Add(seed)
	f.Add([]byte(Magic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > HeaderSize+64*SlotSize {
			return
		}
		v, err := load(memFile{bytes.NewReader(data)}, int64(len(data)), dataKey)
		if err != nil {
			return
		}
		v.Slots(func(slot uint32, r Ref, err error) {
			if err == nil {
				if _, err := v.Key(slot, r); err != nil {
					t.Fatalf("slot %d listed but not readable: %v", slot, err)
				}
			}
		})
	})
}

// TestSeedOpens: the fuzz seed (a vault of two slots under dataKey) opens;
// -update writes it again.
func TestSeedOpens(t *testing.T) {
	if *update {
		p := "testdata/two-slots.vault"
		os.Remove(p)
		v, err := Open(p, dataKey, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		v.Create(rand.Reader, ref(1))
		v.Create(rand.Reader, ref(2))
		v.Close()
	}
	v, err := Open("testdata/two-slots.vault", dataKey, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if v.Used() != 2 {
		t.Fatalf("seed holds %d slots, want 2", v.Used())
	}
}

var update = flag.Bool("update", false, "rewrite testdata")
