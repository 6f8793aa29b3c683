package recipient

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/wire"
)

// Keyring file format, docs/keyfile.md §5.
const (
	keyringMagic   = "GWKRING"
	keyringVersion = 1
	keyringLabel   = "ghostwire keyring v1" // HKDF info of the file key
	keyringHeader  = len(keyringMagic) + 1 + chacha20poly1305.NonceSizeX
	// MaxKeyringKeys bounds the keys a keyring holds, and so the file's size.
	MaxKeyringKeys = 64
	// maxKeyringFile is far above MaxKeyringKeys entries of about 60 bytes.
	maxKeyringFile = 16 << 10
)

// Errors from the keyring. Callers branch on them to give the user a hint.
var (
	// ErrKeyringCorrupt: the keyring file is damaged, or belongs to another
	// identity (its key derives from the identity seed).
	ErrKeyringCorrupt = errors.New("recipient: keyring file is damaged or belongs to another identity")
	// ErrKeyInUse: the key asked to be destroyed is the one in use; create
	// another first.
	ErrKeyInUse = errors.New("recipient: the key in use cannot be destroyed")
	// ErrNoSuchKey: no key in the keyring has that ID.
	ErrNoSuchKey = errors.New("recipient: no such key in the keyring")
)

// wireKeyring is the keyring file's plaintext (docs/keyfile.md §5).
type wireKeyring struct {
	Keys []wireRingKey `cbor:"1,keyasint"`
}

type wireRingKey struct {
	KEM     uint16 `cbor:"1,keyasint"`
	Private []byte `cbor:"2,keyasint"`
	Created uint64 `cbor:"3,keyasint"`
	Derived bool   `cbor:"4,keyasint,omitempty"`
}

// Keyring holds a peer's recipient private keys in a file beside its
// identity key file, encrypted under a key derived from the identity seed,
// so it opens exactly when the key file does (docs/keyfile.md §5). The
// newest key is the one in use; older ones stay until destroyed, so
// payloads sealed to them still open. A Keyring is safe for concurrent use;
// only one process may use its file at a time (the data directory's lock).
type Keyring struct {
	path    string
	owner   identity.ID
	fileKey []byte
	rand    io.Reader // file nonces and new keys

	mu   sync.Mutex
	keys []ringKey // in creation order; the last is in use
}

type ringKey struct {
	priv    *PrivateKey
	created time.Time
	derived bool
}

// KeyInfo describes one key of a keyring.
type KeyInfo struct {
	// ID names the key: the first 8 bytes of SHA-256 of its public key, in
	// hex. It is local: nothing on the wire names a recipient key.
	ID      string
	Created time.Time
	// InUse is true for the key new payloads are sealed to.
	InUse bool
	// Derived is true for the key derived from the identity seed (the only
	// key before keyrings existed): destroying it cannot stop anyone who
	// holds the identity key file from deriving it again.
	Derived bool
}

// OpenKeyring opens the keyring file at path, which must belong to id. When
// the file does not exist it creates it (O_EXCL, mode 0600) holding the key
// derived from the identity seed as docs/protocol.md §9.1 describes, dated
// now: the key every node had before keyrings, so an existing node, or one
// restored from its key file alone, keeps reading what was sealed to it.
// rand (crypto/rand.Reader outside tests) makes file nonces and new keys.
func OpenKeyring(path string, id *identity.PrivateKey, rand io.Reader, now time.Time) (*Keyring, error) {
	seed := id.Seed()
	fk, err := hkdf.Key(sha256.New, seed, nil, keyringLabel, chacha20poly1305.KeySize)
	clear(seed)
	if err != nil {
		return nil, fmt.Errorf("bug: %w", err)
	}
	kr := &Keyring{path: path, owner: id.ID(), fileKey: fk, rand: rand}
	data, err := readKeyring(path)
	if errors.Is(err, fs.ErrNotExist) {
		d, err := Derive(id)
		if err != nil {
			return nil, err
		}
		kr.keys = []ringKey{{priv: d, created: now.Truncate(time.Millisecond), derived: true}}
		if err := kr.write(true); err != nil {
			return nil, err
		}
		return kr, nil
	}
	if err != nil {
		return nil, err
	}
	if kr.keys, err = kr.decode(data); err != nil {
		return nil, err
	}
	return kr, nil
}

func readKeyring(path string) ([]byte, error) {
	return identity.ReadPrivateFile(path, maxKeyringFile, ErrKeyringCorrupt)
}

// decode checks and opens a keyring file: size, magic, version, the AEAD,
// then the strict canonical plaintext and every key in it.
func (kr *Keyring) decode(data []byte) ([]ringKey, error) {
	if len(data) > maxKeyringFile || len(data) < keyringHeader+chacha20poly1305.Overhead {
		return nil, fmt.Errorf("%w: %d bytes", ErrKeyringCorrupt, len(data))
	}
	if !bytes.HasPrefix(data, []byte(keyringMagic)) || data[len(keyringMagic)] != keyringVersion {
		return nil, fmt.Errorf("%w: not a version-%d keyring", ErrKeyringCorrupt, keyringVersion)
	}
	aead, err := chacha20poly1305.NewX(kr.fileKey)
	if err != nil {
		return nil, fmt.Errorf("bug: %w", err)
	}
	hdr := data[:keyringHeader]
	pt, err := aead.Open(nil, hdr[len(keyringMagic)+1:], data[keyringHeader:], hdr)
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed", ErrKeyringCorrupt)
	}
	defer clear(pt)
	return kr.parse(pt)
}

// parse checks a keyring's plaintext: strict canonical CBOR, 1 to
// MaxKeyringKeys keys, each a valid private key of our KEM.
func (kr *Keyring) parse(pt []byte) ([]ringKey, error) {
	var w wireKeyring
	if err := wire.UnmarshalCanonical(pt, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyringCorrupt, err)
	}
	if len(w.Keys) == 0 || len(w.Keys) > MaxKeyringKeys {
		return nil, fmt.Errorf("%w: %d keys", ErrKeyringCorrupt, len(w.Keys))
	}
	kem, _, _ := suite()
	keys := make([]ringKey, 0, len(w.Keys))
	for _, e := range w.Keys {
		if e.KEM != kem.ID() {
			return nil, fmt.Errorf("%w: KEM %#x", ErrKeyringCorrupt, e.KEM)
		}
		if e.Created > 1<<63-1 {
			return nil, fmt.Errorf("%w: creation time out of range", ErrKeyringCorrupt)
		}
		// The key may keep the slice it is given: give it its own, and
		// clear the decoder's.
		p, err := kem.NewPrivateKey(bytes.Clone(e.Private))
		clear(e.Private)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKeyringCorrupt, err)
		}
		keys = append(keys, ringKey{priv: &PrivateKey{owner: kr.owner, k: p},
			created: time.UnixMilli(int64(e.Created)).UTC(), derived: e.Derived})
	}
	return keys, nil
}

// write seals the keys into the file. The first write creates the file
// with O_EXCL; later ones write a new file beside it and rename it over the
// old one, so a crash leaves either the old keyring or the new, never a
// mixture. kr.mu must be held, or kr not yet shared.
func (kr *Keyring) write(create bool) error {
	var w wireKeyring
	kem, _, _ := suite()
	for _, k := range kr.keys {
		b, err := k.priv.k.Bytes()
		if err != nil {
			return fmt.Errorf("recipient: keyring: %w", err)
		}
		// Bytes may return the key's own storage: clear only a copy.
		w.Keys = append(w.Keys, wireRingKey{KEM: kem.ID(), Private: bytes.Clone(b), Created: uint64(k.created.UnixMilli()), Derived: k.derived})
	}
	pt, err := wire.Marshal(&w)
	for _, e := range w.Keys {
		clear(e.Private)
	}
	if err != nil {
		return fmt.Errorf("recipient: keyring: %w", err)
	}
	defer clear(pt)
	hdr := make([]byte, keyringHeader, keyringHeader+len(pt)+chacha20poly1305.Overhead)
	copy(hdr, keyringMagic)
	hdr[len(keyringMagic)] = keyringVersion
	// A random 24-byte nonce per write needs no counter state, and the
	// file key is fixed, so the nonce must never repeat: XChaCha20's
	// nonce is large enough to draw at random.
	if _, err := io.ReadFull(kr.rand, hdr[len(keyringMagic)+1:]); err != nil {
		return fmt.Errorf("recipient: reading randomness: %w", err)
	}
	aead, err := chacha20poly1305.NewX(kr.fileKey)
	if err != nil {
		return fmt.Errorf("bug: %w", err)
	}
	data := aead.Seal(hdr, hdr[len(keyringMagic)+1:], pt, hdr)
	if create {
		return writeSynced(kr.path, data)
	}
	tmp := kr.path + ".new"
	os.Remove(tmp) // a leftover of a crash; the data directory's lock keeps others out
	if err := writeSynced(tmp, data); err != nil {
		return err
	}
	if err := os.Rename(tmp, kr.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("recipient: keyring: %w", err)
	}
	return syncDir(kr.path)
}

// writeSynced creates path (O_EXCL, 0600), writes data and syncs the file
// and its directory.
func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("recipient: keyring: %w", err)
	}
	if _, err := f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("recipient: keyring: %w", err)
	}
	return syncDir(path)
}

func syncDir(path string) error {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("recipient: keyring: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("recipient: keyring: %w", err)
	}
	return nil
}

// InUse returns the key new payloads are sealed to and whose public half
// the node certifies: the newest.
func (kr *Keyring) InUse() *PrivateKey {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	return kr.keys[len(kr.keys)-1].priv
}

// List describes every key, oldest first.
func (kr *Keyring) List() []KeyInfo {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	out := make([]KeyInfo, len(kr.keys))
	for i, k := range kr.keys {
		out[i] = KeyInfo{ID: keyID(k.priv), Created: k.created, InUse: i == len(kr.keys)-1, Derived: k.derived}
	}
	return out
}

func keyID(p *PrivateKey) string {
	h := sha256.Sum256(p.k.PublicKey().Bytes())
	return hex.EncodeToString(h[:8])
}

// Create makes a new random key, dated now, writes the keyring and returns
// the key, which is now the one in use. Unlike the derived key it exists
// only in the keyring, so destroying it later is meaningful.
func (kr *Keyring) Create(now time.Time) (*PrivateKey, error) {
	ikm := make([]byte, 64)
	defer clear(ikm)
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if _, err := io.ReadFull(kr.rand, ikm); err != nil {
		return nil, fmt.Errorf("recipient: reading randomness: %w", err)
	}
	kem, _, _ := suite()
	priv, err := kem.DeriveKeyPair(ikm)
	if err != nil {
		return nil, fmt.Errorf("recipient: generate: %w", err)
	}
	p := &PrivateKey{owner: kr.owner, k: priv}
	if len(kr.keys) >= MaxKeyringKeys {
		return nil, fmt.Errorf("recipient: the keyring holds %d keys, the most it may; destroy an old one first", len(kr.keys))
	}
	kr.keys = append(kr.keys, ringKey{priv: p, created: now.Truncate(time.Millisecond).UTC()})
	if err := kr.write(false); err != nil {
		kr.keys = kr.keys[:len(kr.keys)-1]
		return nil, err
	}
	return p, nil
}

// Destroy removes the key with the given ID (KeyInfo.ID) from the keyring
// and rewrites the file without it. Payloads sealed only to that key no
// longer open here. What it cannot promise (docs/keyfile.md §5): backups and
// other old copies of the file still hold the key, the file system may keep
// the old blocks, and a derived key can be derived again from the seed. It
// returns ErrKeyInUse for the key in use and ErrNoSuchKey for an unknown ID.
func (kr *Keyring) Destroy(id string) error {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	i := -1
	for j, k := range kr.keys {
		if keyID(k.priv) == id {
			i = j
		}
	}
	switch {
	case i < 0:
		return fmt.Errorf("%w: %s", ErrNoSuchKey, id)
	case i == len(kr.keys)-1:
		return ErrKeyInUse
	}
	old := kr.keys
	kr.keys = append(append([]ringKey(nil), old[:i]...), old[i+1:]...)
	if err := kr.write(false); err != nil {
		kr.keys = old
		return err
	}
	return nil
}
