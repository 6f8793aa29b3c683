// Package vault keeps secrets that can really be destroyed: 32-byte keys,
// one per slot of a small file of fixed-size slots, each overwritten in
// place and synced to disk when it is destroyed.
//
// The one thing to know: a database cannot forget. Badger keeps old
// versions of a value in its tables and value log until a compaction
// happens to drop them, so deleting what a message was stored as erases
// nothing a copy of the disk would not show. What vault offers instead is
// crypto-shredding: store the message only as AEAD under a vault key, and
// destroying that one slot makes every copy the database kept unreadable,
// wherever it lies. The slot file is the only place the key ever reaches
// disk, and it is rewritten in place, not copied, so destroying it leaves
// no older version behind on an ordinary filesystem. docs/storage.md
// ("Burn") says what this holds against and what it cannot promise
// (copy-on-write filesystems, SSD wear levelling, swap, a copy made before).
//
// Slots are themselves sealed under a key derived from the store's data
// key, so the file without the passphrase says nothing, not even which
// slots hold what.
//
// # File format
//
// A 64-byte header (magic "GWVAULT1", a 32-byte random salt, a 16-byte
// check of the data key, 8 zero bytes) and then slots of SlotSize bytes. A
// slot of zero bytes is empty; a used one is a 24-byte nonce and
// XChaCha20-Poly1305 over key (32) ‖ ref (32), with the header's magic and
// salt and the slot's number as associated data, so a slot cannot be
// moved to another place or file.
package vault

import (
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
)

// File-format constants (package doc, docs/storage.md "Burn").
const (
	// Magic opens every vault file.
	Magic = "GWVAULT1"
	// HeaderSize is the header's size; slot 0 starts there.
	HeaderSize = 64
	// SlotSize is one slot: nonce (24), key and ref (64), tag (16).
	SlotSize = chacha20poly1305.NonceSizeX + 2*KeySize + chacha20poly1305.Overhead
	// KeySize is the size of a slot's key and of its reference.
	KeySize = 32
	// slotsLabel and checkLabel derive the slot key and the data-key check
	// from the data key (HKDF-SHA256, the header's salt).
	slotsLabel = "ghostwire vault v1 slots"
	checkLabel = "ghostwire vault v1 check"
)

// MaxSlots bounds the file: 1M slots are 104 MiB, far beyond the messages
// a node keeps burnable at once; a header or size beyond it is damage.
const MaxSlots = 1 << 20

// Errors callers branch on.
var (
	// ErrDestroyed means the slot is empty: its key was destroyed (or never
	// written there).
	ErrDestroyed = errors.New("vault: the key was destroyed")
	// ErrDamaged means a slot, or the whole file, does not open with the
	// data key: it was altered or damaged. Other slots are unaffected.
	ErrDamaged = errors.New("vault: damaged")
	// ErrWrongKey means the data key is not the one the file was made with.
	ErrWrongKey = errors.New("vault: the data key does not open this vault")
	// ErrFull means every one of MaxSlots slots is in use.
	ErrFull = errors.New("vault: full")
)

// Key is a slot's secret.
type Key [KeySize]byte

// Ref is what a slot's key protects, chosen by the caller (an item ID), so
// that a sweep can find keys whose data is gone.
type Ref [KeySize]byte

// Vault is an open slot file. Its methods are safe for concurrent use.
type Vault struct {
	path string
	aead cipher.AEAD
	ad   []byte // magic ‖ salt: every slot's associated data starts with it

	// mu guards the file and the slot table: Create picks a free slot and
	// writes it under mu, so two creates never share one.
	mu     sync.Mutex
	f      file
	used   []bool // by slot number: not all zero on disk
	closed bool
}

// Open opens the vault file at path with the store's 32-byte data key,
// creating it (mode 0600, its salt from rand) if it does not exist. The
// caller keeps one Vault per file: the data directory's lock keeps a
// second process out. A header that is not a vault's is ErrDamaged; a
// header made with another key is ErrWrongKey. A damaged slot does not
// stop Open: Key reports it for that slot alone.
func Open(path string, dataKey []byte, rand io.Reader) (*Vault, error) {
	if len(dataKey) != 32 {
		return nil, fmt.Errorf("vault: data key is %d bytes, want 32", len(dataKey))
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	v, err := open(f, dataKey, rand)
	if err != nil {
		f.Close()
		return nil, err
	}
	v.path = path
	return v, nil
}

// open writes a new file's header if f is empty, then loads it.
func open(f *os.File, dataKey []byte, rand io.Reader) (*Vault, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	size := fi.Size()
	if size == 0 {
		hdr := make([]byte, HeaderSize)
		copy(hdr, Magic)
		if _, err := io.ReadFull(rand, hdr[8:40]); err != nil {
			return nil, fmt.Errorf("vault: reading randomness: %w", err)
		}
		copy(hdr[40:56], derive(dataKey, hdr[8:40], checkLabel, 16))
		if _, err := f.WriteAt(hdr, 0); err != nil {
			return nil, fmt.Errorf("vault: writing %s: %w", f.Name(), err)
		}
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("vault: syncing %s: %w", f.Name(), err)
		}
		size = HeaderSize
	}
	v, err := load(f, size, dataKey)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, f.Name())
	}
	return v, nil
}

// file is what a Vault needs of its file: an *os.File, or in the fuzz
// target bytes in memory.
type file interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Close() error
}

// load decodes a vault of size bytes read from f: the header, checked
// against dataKey, and which slots are used. It is the file's decoder
// (FuzzLoad).
func load(f file, size int64, dataKey []byte) (*Vault, error) {
	hdr := make([]byte, HeaderSize)
	if size < HeaderSize {
		return nil, fmt.Errorf("%w: its header is truncated (%d bytes)", ErrDamaged, size)
	}
	if _, err := f.ReadAt(hdr, 0); err != nil {
		return nil, fmt.Errorf("vault: reading the header: %w", err)
	}
	body := size - HeaderSize
	if err := checkHeader(hdr, body); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	if subtle.ConstantTimeCompare(hdr[40:56], derive(dataKey, hdr[8:40], checkLabel, 16)) != 1 {
		return nil, ErrWrongKey
	}
	aead, err := chacha20poly1305.NewX(derive(dataKey, hdr[8:40], slotsLabel, chacha20poly1305.KeySize))
	if err != nil {
		return nil, err
	}
	v := &Vault{f: f, aead: aead, ad: bytes.Clone(hdr[:40])}
	// A trailing partial slot is a Create that never finished (it returns
	// only after a whole slot is synced): no key was handed out, and the
	// next Create overwrites it.
	n := int(body / SlotSize)
	v.used = make([]bool, n)
	buf := make([]byte, SlotSize)
	for i := range n {
		if _, err := f.ReadAt(buf, HeaderSize+int64(i)*SlotSize); err != nil {
			return nil, fmt.Errorf("vault: reading slot %d: %w", i, err)
		}
		v.used[i] = !zero(buf)
	}
	return v, nil
}

// checkHeader checks what can be checked without the key: the magic, the
// reserved bytes and the file's size.
func checkHeader(hdr []byte, body int64) error {
	if string(hdr[:8]) != Magic {
		return errors.New("it is not a vault file (bad magic)")
	}
	if !zero(hdr[56:]) {
		return errors.New("its header's reserved bytes are not zero")
	}
	if body < 0 || body/SlotSize > MaxSlots {
		return fmt.Errorf("its size (%d bytes past the header) is beyond %d slots", body, MaxSlots)
	}
	return nil
}

func derive(secret, salt []byte, label string, n int) []byte {
	k, err := hkdf.Key(sha256.New, secret, salt, label, n)
	if err != nil {
		panic("bug: vault: hkdf: " + err.Error())
	}
	return k
}

func zero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func (v *Vault) slotAD(slot uint32) []byte {
	return binary.BigEndian.AppendUint32(bytes.Clone(v.ad), slot)
}

// Create stores a new random key for ref in a free slot, durably (synced)
// before it returns, and returns the slot's number and the key.
func (v *Vault) Create(rand io.Reader, ref Ref) (uint32, Key, error) {
	var k Key
	if _, err := io.ReadFull(rand, k[:]); err != nil {
		return 0, Key{}, fmt.Errorf("vault: reading randomness: %w", err)
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := io.ReadFull(rand, nonce); err != nil {
		return 0, Key{}, fmt.Errorf("vault: reading randomness: %w", err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return 0, Key{}, errors.New("vault: closed")
	}
	slot := -1
	for i, u := range v.used {
		if !u {
			slot = i
			break
		}
	}
	if slot < 0 {
		if len(v.used) >= MaxSlots {
			return 0, Key{}, ErrFull
		}
		slot = len(v.used)
		v.used = append(v.used, false)
	}
	pt := append(k[:], ref[:]...)
	buf := v.aead.Seal(nonce, nonce, pt, v.slotAD(uint32(slot)))
	clear(pt)
	if err := v.write(uint32(slot), buf); err != nil {
		return 0, Key{}, err
	}
	v.used[slot] = true
	return uint32(slot), k, nil
}

// write writes a whole slot in place and syncs it; mu is held.
func (v *Vault) write(slot uint32, buf []byte) error {
	if _, err := v.f.WriteAt(buf, HeaderSize+int64(slot)*SlotSize); err != nil {
		return fmt.Errorf("vault: writing slot %d of %s: %w", slot, v.path, err)
	}
	if err := v.f.Sync(); err != nil {
		return fmt.Errorf("vault: syncing %s: %w", v.path, err)
	}
	return nil
}

// Key returns the key in slot and checks that it was made for ref. An
// empty slot is ErrDestroyed; one that does not open, or holds the key of
// another ref, is ErrDamaged.
func (v *Vault) Key(slot uint32, ref Ref) (Key, error) {
	got, k, err := v.read(slot)
	if err != nil {
		return Key{}, err
	}
	if got != ref {
		return Key{}, fmt.Errorf("%w: slot %d holds the key of something else", ErrDamaged, slot)
	}
	return k, nil
}

func (v *Vault) read(slot uint32) (Ref, Key, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return Ref{}, Key{}, errors.New("vault: closed")
	}
	if int(slot) >= len(v.used) || !v.used[slot] {
		return Ref{}, Key{}, ErrDestroyed
	}
	buf := make([]byte, SlotSize)
	if _, err := v.f.ReadAt(buf, HeaderSize+int64(slot)*SlotSize); err != nil {
		return Ref{}, Key{}, fmt.Errorf("vault: reading slot %d of %s: %w", slot, v.path, err)
	}
	pt, err := v.aead.Open(nil, buf[:chacha20poly1305.NonceSizeX], buf[chacha20poly1305.NonceSizeX:], v.slotAD(slot))
	if err != nil {
		return Ref{}, Key{}, fmt.Errorf("%w: slot %d does not open", ErrDamaged, slot)
	}
	var k Key
	var r Ref
	copy(k[:], pt[:KeySize])
	copy(r[:], pt[KeySize:])
	clear(pt)
	return r, k, nil
}

// Destroy overwrites slot with zeros in place and syncs the file: once it
// returns, the key is gone from the file on disk. Destroying an empty slot
// is not an error.
func (v *Vault) Destroy(slot uint32) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return errors.New("vault: closed")
	}
	if int(slot) >= len(v.used) || !v.used[slot] {
		return nil
	}
	if err := v.write(slot, make([]byte, SlotSize)); err != nil {
		return err
	}
	v.used[slot] = false
	return nil
}

// Slots calls fn with each used slot and the ref its key was made for; a
// damaged slot is reported with ErrDamaged (and a zero ref), so a sweep can
// destroy it. fn must not call back into the vault.
func (v *Vault) Slots(fn func(slot uint32, ref Ref, err error)) {
	v.mu.Lock()
	n := len(v.used)
	v.mu.Unlock()
	for i := range n {
		ref, _, err := v.read(uint32(i))
		if errors.Is(err, ErrDestroyed) {
			continue
		}
		fn(uint32(i), ref, err)
	}
}

// Used counts the slots in use.
func (v *Vault) Used() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, u := range v.used {
		if u {
			n++
		}
	}
	return n
}

// Close closes the file. It is idempotent.
func (v *Vault) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil
	}
	v.closed = true
	return v.f.Close()
}
