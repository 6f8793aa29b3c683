package collection

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/store"
)

// ImportRecord is what the node records of an import (docs/ioc.md §7).
type ImportRecord = apitype.ImportRecord

// Import states (ImportRecord.State).
const (
	importRunning     = "running"
	importInterrupted = "interrupted"
	importFailed      = "failed"
	importDone        = "done"
)

// bucketImport holds the import records: import ID → storedImport as JSON.
// Each batch of an import rewrites its record in the batch's own
// transaction, so the record never claims less or more than is stored.
const bucketImport = "import"

// maxImportRecords bounds the records kept: the oldest finished ones go
// first, then the oldest that stopped (failed or interrupted: they can no
// longer be resumed once dropped, but an unbounded list of them would grow
// with every import a flood of bad files fails).
const maxImportRecords = 64

// storedImport is an import record as stored: the API's view plus what
// matching a resumed import needs.
type storedImport struct {
	ImportRecord
	// Params is the import's options (collection, default TLP, recipients,
	// partial) in one string: an import resumes only with the same ones,
	// since the records it produces depend on them.
	Params string `json:"params"`
}

// imports tracks the imports running in this process: a stored "running"
// record that is not among them was cut short by a stop.
type imports struct {
	mu     sync.Mutex
	active map[string]bool
	// storing counts the imports storing now; gcWas is the collector's
	// target before the first of them lowered it (lowerGC).
	storing int
	gcWas   int
}

// importGCPercent is the garbage collector's target (GOGC) while an import
// stores. An import allocates fast (JSON, CBOR, signatures, badger's
// buffers) while badger holds some 80–100 MB live, and at the default
// target of 100 the heap grows to twice that between collections: a
// million-indicator import peaked at +286 MiB RSS, and at 30 still near
// +253 MiB. At 20 the heap stays within 1.2 times the live set, for more
// frequent collections during the import only (issue 19: peak growth at
// most 256 MiB).
const importGCPercent = 20

// lowerGC lowers the collector's target to importGCPercent (never raising
// one set lower) until the returned restore is called; concurrent imports
// share it, and the last to end restores the target.
func (im *imports) lowerGC() (restore func()) {
	im.mu.Lock()
	if im.storing == 0 {
		im.gcWas = debug.SetGCPercent(importGCPercent)
		if im.gcWas >= 0 && im.gcWas < importGCPercent {
			debug.SetGCPercent(im.gcWas)
		}
	}
	im.storing++
	im.mu.Unlock()
	return func() {
		im.mu.Lock()
		defer im.mu.Unlock()
		if im.storing--; im.storing == 0 {
			debug.SetGCPercent(im.gcWas)
		}
	}
}

func (im *imports) start(id string) bool {
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.active == nil {
		im.active = map[string]bool{}
	}
	if im.active[id] {
		return false
	}
	im.active[id] = true
	return true
}

func (im *imports) end(id string) {
	im.mu.Lock()
	defer im.mu.Unlock()
	delete(im.active, id)
}

func (im *imports) running(id string) bool {
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.active[id]
}

func importParams(req *ImportRequest) string {
	to := slices.Clone(req.To)
	sort.Strings(to)
	return fmt.Sprintf("c=%s;tlp=%s;to=%s;partial=%t", req.Collection, req.TLP, strings.Join(to, ","), req.Partial)
}

// Imports lists the import records, newest first; a "running" one whose
// import is no longer running shows as "interrupted".
func (s *Service) Imports() ([]ImportRecord, error) {
	all, err := s.storedImports()
	out := make([]ImportRecord, len(all))
	for i, r := range all {
		out[i] = r.ImportRecord
	}
	return out, err
}

func (s *Service) storedImports() ([]storedImport, error) {
	var out []storedImport
	err := s.h.Store().View(func(tx *store.Tx) error {
		return tx.Scan(bucketImport, nil, func(_, v []byte) error {
			var r storedImport
			if json.Unmarshal(v, &r) != nil {
				return nil // not ours to fail a listing over
			}
			if r.State == importRunning && !s.imports.running(r.ID) {
				r.State = importInterrupted
			}
			out = append(out, r)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Started.After(out[j].Started) })
	return out, err
}

// resumable finds an earlier import of the same input with the same
// options that stopped before the end.
func (s *Service) resumable(sum, params string) (*storedImport, error) {
	all, err := s.storedImports()
	if err != nil {
		return nil, err
	}
	for _, r := range all {
		if r.SHA256 == sum && r.Params == params && (r.State == importInterrupted || r.State == importFailed) {
			return &r, nil
		}
	}
	return nil, nil
}

func putImport(tx *store.Tx, r *storedImport) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Put(bucketImport, []byte(r.ID), v)
}

// saveImport writes r in a transaction of its own, and drops the oldest
// records past maxImportRecords: finished ones first, then stopped ones.
// A running import's record is never dropped.
func (s *Service) saveImport(r *storedImport) error {
	all, err := s.storedImports()
	if err != nil {
		return err
	}
	return s.h.Store().Update(func(tx *store.Tx) error {
		n := len(all)
		if !slices.ContainsFunc(all, func(o storedImport) bool { return o.ID == r.ID }) {
			n++ // r is new: it takes a place too
		}
		for _, drop := range []func(string) bool{
			func(st string) bool { return st == importDone },
			func(st string) bool { return st == importFailed || st == importInterrupted },
		} {
			for i := len(all) - 1; i >= 0 && n > maxImportRecords; i-- {
				if o := all[i]; o.ID != r.ID && drop(o.State) {
					if err := tx.Delete(bucketImport, []byte(o.ID)); err != nil {
						return err
					}
					all = slices.Delete(all, i, i+1)
					n--
				}
			}
		}
		return putImport(tx, r)
	})
}

func newImportID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// spool is an import's input written to disk, so it can be read twice
// (checked whole before anything is stored, then stored) with memory
// bounded whatever its size. It is encrypted with a key that lives only in
// memory (AES-256-CTR: a private scratch file needs secrecy, not
// integrity), so a stop leaves nothing readable behind, and it is
// removed when the import ends.
type spool struct {
	f    *os.File
	key  []byte
	size int64
	sum  string // SHA-256 of the plaintext, hex
}

// newSpool copies r into an encrypted file in dir (the system's temporary
// directory if empty), calling progress with the bytes copied so far.
func newSpool(dir string, r io.Reader, progress func(int64)) (*spool, error) {
	f, err := os.CreateTemp(dir, "import-*.spool")
	if err != nil {
		return nil, fmt.Errorf("import: cannot create a scratch file: %w", err)
	}
	// Unlinked at once: the file lives only as long as the descriptor,
	// so no stop, not even kill -9, leaves it behind.
	os.Remove(f.Name())
	sp := &spool{f: f, key: make([]byte, 32)}
	rand.Read(sp.key)
	h := sha256.New()
	bw := bufio.NewWriterSize(f, 256<<10)
	w := &cipher.StreamWriter{S: sp.stream(), W: bw}
	buf := make([]byte, 256<<10)
	next := int64(spoolProgressEvery)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			h.Write(buf[:n])
			if _, err := w.Write(buf[:n]); err != nil {
				sp.Close()
				return nil, fmt.Errorf("import: writing the scratch file: %w", err)
			}
			sp.size += int64(n)
			if progress != nil && sp.size >= next {
				progress(sp.size)
				next += spoolProgressEvery
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			sp.Close()
			return nil, rerr
		}
	}
	if err := bw.Flush(); err != nil {
		sp.Close()
		return nil, fmt.Errorf("import: writing the scratch file: %w", err)
	}
	sp.sum = hex.EncodeToString(h.Sum(nil))
	return sp, nil
}

// spoolProgressEvery is how many uploaded bytes an "upload" progress line
// reports.
const spoolProgressEvery = 64 << 20

func (sp *spool) stream() cipher.Stream {
	b, err := aes.NewCipher(sp.key)
	if err != nil {
		panic("bug: " + err.Error())
	}
	return cipher.NewCTR(b, make([]byte, aes.BlockSize)) // one key per file: a zero IV is safe
}

// reader reads the spool from its start.
func (sp *spool) reader() io.Reader {
	return &cipher.StreamReader{S: sp.stream(), R: bufio.NewReaderSize(io.NewSectionReader(sp.f, 0, sp.size), 256<<10)}
}

// Close removes the spool.
func (sp *spool) Close() error {
	clear(sp.key)
	return sp.f.Close()
}

var errStopImport = errors.New("import stopped")

// nowUTC is the time written in import records.
func nowUTC(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }
