package identity

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// Key file format, docs/keyfile.md. Every byte before the ciphertext is
// authenticated as associated data, so a changed parameter fails to open.
const (
	keyFileMagic   = "GWIDKEY" // §1
	keyFileVersion = 1
	kdfNone        = 0 // §2: no passphrase, explicit opt-out
	kdfArgon2id    = 1 // §2
	saltSize       = 16
	headerSize     = len(keyFileMagic) + 1 + 1 + 1 + 1 + 4 + saltSize + chacha20poly1305.NonceSizeX
	plaintextSize  = SeedSize + StoreKeySize
	// KeyFileSize is the exact size of every version-1 key file.
	KeyFileSize = headerSize + plaintextSize + chacha20poly1305.Overhead

	noPassphraseInfo = "ghostwire keyfile v1 no passphrase"
)

// Limits a key file may ask of us (§2). They bound what a corrupt or hostile
// file can cost before we find out it is wrong.
const (
	maxArgonTime    = 10
	maxArgonThreads = 16
	minArgonMemKiB  = 8 << 10
	maxArgonMemKiB  = 256 << 10
)

// StoreKeySize is the size of the at-rest data key for the store.
const StoreKeySize = 32

// KDFParams are Argon2id parameters.
type KDFParams struct {
	Time    uint8
	Threads uint8
	MemKiB  uint32
}

// DefaultKDF is RFC 9106 §4's second recommended setting: t=3, 64 MiB, p=4.
// It costs about 0.15–0.3 s on the project's 2-core machine (docs/keyfile.md).
var DefaultKDF = KDFParams{Time: 3, Threads: 4, MemKiB: 64 << 10}

// Errors from OpenKeyFile. Callers branch on them to give the user a hint.
var (
	// ErrWrongPassphrase: the file is well formed but does not open with the
	// passphrase given (or its sealed part was altered).
	ErrWrongPassphrase = errors.New("identity: wrong passphrase, or the key file's sealed part is damaged")
	// ErrCorruptKeyFile: the file is not a key file this version can read.
	ErrCorruptKeyFile = errors.New("identity: key file is corrupt or truncated")
	// ErrKeyFilePermissions: the file is readable by other users.
	ErrKeyFilePermissions = errors.New("identity: key file is readable by other users")
	// ErrPassphraseRequired: the file is sealed with a passphrase and none was given.
	ErrPassphraseRequired = errors.New("identity: key file needs a passphrase")
)

// Secrets are what a key file protects: the identity key and the store's
// data key.
type Secrets struct {
	Key      *PrivateKey
	StoreKey [StoreKeySize]byte
}

// GenerateSecrets makes a new identity key and store key.
func GenerateSecrets(rand io.Reader) (*Secrets, error) {
	k, err := GenerateKey(rand)
	if err != nil {
		return nil, err
	}
	s := &Secrets{Key: k}
	if _, err := io.ReadFull(rand, s.StoreKey[:]); err != nil {
		return nil, fmt.Errorf("identity: reading randomness: %w", err)
	}
	return s, nil
}

// Destroy zeroes the secrets.
func (s *Secrets) Destroy() {
	s.Key.Destroy()
	clear(s.StoreKey[:])
}

// Seal encodes the secrets as a key file. A nil passphrase selects the
// unprotected form (kdf 0), which only the explicit --no-passphrase opt-out
// should use; an empty non-nil passphrase is refused.
func (s *Secrets) Seal(passphrase []byte, p KDFParams, rand io.Reader) ([]byte, error) {
	hdr := make([]byte, 0, KeyFileSize)
	hdr = append(hdr, keyFileMagic...)
	hdr = append(hdr, keyFileVersion)
	if passphrase == nil {
		hdr = append(hdr, kdfNone, 0, 0)
		hdr = binary.BigEndian.AppendUint32(hdr, 0)
	} else {
		if len(passphrase) == 0 {
			return nil, fmt.Errorf("identity: empty passphrase")
		}
		if err := p.check(); err != nil {
			return nil, err
		}
		hdr = append(hdr, kdfArgon2id, p.Time, p.Threads)
		hdr = binary.BigEndian.AppendUint32(hdr, p.MemKiB)
	}
	salt := make([]byte, saltSize+chacha20poly1305.NonceSizeX)
	if _, err := io.ReadFull(rand, salt); err != nil {
		return nil, fmt.Errorf("identity: reading randomness: %w", err)
	}
	hdr = append(hdr, salt...)
	key, err := fileKey(hdr, passphrase)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("bug: %w", err)
	}
	pt := make([]byte, 0, plaintextSize)
	pt = append(pt, s.Key.Seed()...)
	pt = append(pt, s.StoreKey[:]...)
	defer clear(pt)
	nonce := hdr[headerSize-chacha20poly1305.NonceSizeX : headerSize]
	return aead.Seal(hdr, nonce, pt, hdr), nil
}

func (p KDFParams) check() error {
	if p.Time < 1 || p.Time > maxArgonTime || p.Threads < 1 || p.Threads > maxArgonThreads ||
		p.MemKiB < minArgonMemKiB || p.MemKiB > maxArgonMemKiB {
		return fmt.Errorf("%w: KDF parameters out of range (t=%d p=%d m=%d KiB)", ErrCorruptKeyFile, p.Time, p.Threads, p.MemKiB)
	}
	return nil
}

// parseHeader checks everything before the ciphertext, without any KDF work.
func parseHeader(file []byte) (kdf byte, p KDFParams, err error) {
	if len(file) != KeyFileSize {
		return 0, p, fmt.Errorf("%w: %d bytes, want %d", ErrCorruptKeyFile, len(file), KeyFileSize)
	}
	if !bytes.HasPrefix(file, []byte(keyFileMagic)) {
		return 0, p, fmt.Errorf("%w: not a GhostWire key file", ErrCorruptKeyFile)
	}
	off := len(keyFileMagic)
	if v := file[off]; v != keyFileVersion {
		return 0, p, fmt.Errorf("%w: version %d, this build reads version %d", ErrCorruptKeyFile, v, keyFileVersion)
	}
	kdf = file[off+1]
	p = KDFParams{Time: file[off+2], Threads: file[off+3], MemKiB: binary.BigEndian.Uint32(file[off+4:])}
	switch kdf {
	case kdfNone:
		if p != (KDFParams{}) {
			return 0, p, fmt.Errorf("%w: parameters set without a KDF", ErrCorruptKeyFile)
		}
	case kdfArgon2id:
		if err := p.check(); err != nil {
			return 0, p, err
		}
	default:
		return 0, p, fmt.Errorf("%w: unknown KDF %d", ErrCorruptKeyFile, kdf)
	}
	return kdf, p, nil
}

// KeyFileNeedsPassphrase reports whether a well-formed key file is sealed
// with a passphrase.
func KeyFileNeedsPassphrase(file []byte) (bool, error) {
	kdf, _, err := parseHeader(file)
	return kdf == kdfArgon2id, err
}

// OpenKeyFile decodes and opens a key file. Decoding is strict: exact size,
// known magic, version and KDF, parameters within limits, and an
// authenticated ciphertext. The errors wrap ErrCorruptKeyFile,
// ErrWrongPassphrase or ErrPassphraseRequired.
func OpenKeyFile(file, passphrase []byte) (*Secrets, error) {
	kdf, _, err := parseHeader(file)
	if err != nil {
		return nil, err
	}
	if kdf == kdfArgon2id && len(passphrase) == 0 {
		return nil, ErrPassphraseRequired
	}
	if kdf == kdfNone {
		passphrase = nil
	}
	hdr := file[:headerSize]
	key, err := fileKey(hdr, passphrase)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("bug: %w", err)
	}
	pt, err := aead.Open(nil, hdr[headerSize-chacha20poly1305.NonceSizeX:], file[headerSize:], hdr)
	if err != nil {
		if kdf == kdfNone {
			return nil, fmt.Errorf("%w: authentication failed", ErrCorruptKeyFile)
		}
		return nil, ErrWrongPassphrase
	}
	defer clear(pt)
	k, err := NewKeyFromSeed(pt[:SeedSize])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptKeyFile, err)
	}
	s := &Secrets{Key: k}
	copy(s.StoreKey[:], pt[SeedSize:])
	return s, nil
}

// fileKey derives the AEAD key from the header (which holds the salt and KDF
// parameters) and the passphrase.
func fileKey(hdr, passphrase []byte) ([]byte, error) {
	off := len(keyFileMagic) + 1
	salt := hdr[off+7 : off+7+saltSize]
	if hdr[off] == kdfNone {
		return hkdf.Key(sha256.New, nil, salt, noPassphraseInfo, chacha20poly1305.KeySize)
	}
	p := KDFParams{Time: hdr[off+1], Threads: hdr[off+2], MemKiB: binary.BigEndian.Uint32(hdr[off+3:])}
	return argon2.IDKey(passphrase, salt, uint32(p.Time), p.MemKiB, p.Threads, chacha20poly1305.KeySize), nil
}

// CreateKeyFile writes a new key file with O_EXCL and mode 0600: it never
// replaces an existing file. The data is synced before it returns.
func CreateKeyFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// The directory entry must be durable too: the file holds the store's
	// data key, and losing it after a crash would lose the whole store.
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ReadKeyFile reads a key file, refusing one that group or others can read
// (ErrKeyFilePermissions) and reading at most one byte more than a key file
// holds, so a huge file costs nothing.
func ReadKeyFile(path string) ([]byte, error) {
	return ReadPrivateFile(path, int64(KeyFileSize), ErrCorruptKeyFile)
}

// ReadPrivateFile reads a file that holds secrets (a key file, a keyring):
// a regular file (else notRegular, wrapped), that group and others cannot
// read (else ErrKeyFilePermissions), of which it reads at most max+1 bytes,
// so a huge file costs nothing and the caller sees it is too long.
func ReadPrivateFile(path string, max int64, notRegular error) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", notRegular, path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o, want 0600", ErrKeyFilePermissions, path, st.Mode().Perm())
	}
	return io.ReadAll(io.LimitReader(f, max+1))
}
