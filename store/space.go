package store

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"syscall"

	"github.com/ghostwire/ghostwire/fault"
)

// A full disk must be an error, not a crash. Badger writes its
// write-ahead log, value log and new tables into mmap'd files created at
// their full size but sparse, so space is taken page by page as they are
// written; a page the filesystem cannot back kills the process with
// SIGBUS, in badger's goroutines where nothing can recover it. So the store
// refuses writes early, while the space badger may still fill behind a
// write is free: checked with statfs before every write.

// DefaultReserve is the free space writes leave on the filesystem, beyond
// what badger itself may need (sizes.engineReserve), unless Config.Reserve says otherwise; it is capped at 5 %
// of the filesystem, as ext4 keeps 5 % for root, so that a small
// filesystem stays usable.
const DefaultReserve = 64 << 20

// spaceGuard decides whether the filesystem has room for a write. Its
// methods are safe for concurrent use.
type spaceGuard struct {
	dir     string
	reserve int64 // 0: DefaultReserve capped at 5 %
	engine  int64 // sizes.engineReserve
	full    atomic.Bool
	// statfs is syscall.Statfs; a field so a test can cover the arithmetic
	// (the real behaviour is tested on a small tmpfs).
	statfs func(path string, st *syscall.Statfs_t) error
}

func (g *spaceGuard) init(dir string, reserve int64) {
	g.dir, g.reserve, g.statfs = dir, reserve, syscall.Statfs
}

// stat reads the filesystem holding dir (or its parent, before dir exists).
func (g *spaceGuard) stat() (free, total int64, err error) {
	var st syscall.Statfs_t
	err = g.statfs(g.dir, &st)
	if err != nil {
		err = g.statfs(filepath.Dir(g.dir), &st)
	}
	if err != nil {
		return 0, 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize), nil
}

// free is the space left for us; a failing statfs reads as plenty, since
// the write itself will report a real problem.
func (g *spaceGuard) free() int64 {
	free, _, err := g.stat()
	if err != nil {
		return 1 << 62
	}
	return free
}

// threshold is the free space under which writes are refused.
func (g *spaceGuard) threshold() int64 {
	reserve := g.reserve
	if reserve == 0 {
		reserve = DefaultReserve
		if _, total, err := g.stat(); err == nil {
			reserve = min(reserve, total/20)
		}
	}
	return g.engine + reserve
}

// check returns ErrDiskFull when a write must not start, and records the
// state for Full.
func (g *spaceGuard) check() error {
	free, need := g.free(), g.threshold()
	if free < need {
		g.full.Store(true)
		return diskFullError{f: &fault.Error{
			Kind: fault.DiskFull,
			Msg: fmt.Sprintf("%v: %d KiB free on the filesystem of %s, under the %d KiB the store keeps in reserve; nothing was written",
				ErrDiskFull, free>>10, g.dir, need>>10),
			Hint: "free some space on that filesystem: writes resume by themselves, and reads go on meanwhile",
		}}
	}
	g.full.Store(false)
	return nil
}

// diskFullError is ErrDiskFull as the fault kind DiskFull, so that the
// local API answers it as such (507, with the hint) wherever it surfaces.
type diskFullError struct{ f *fault.Error }

func (e diskFullError) Error() string        { return e.f.Msg }
func (e diskFullError) Is(target error) bool { return target == ErrDiskFull }
func (e diskFullError) Unwrap() error        { return e.f }

// Full reports whether the last write (or open) found the disk full. It
// clears once a write finds space again.
func (db *DB) Full() bool { return db.space.full.Load() || db.isReadOnly() }

func (db *DB) isReadOnly() bool {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.readOnly
}

// writable is called, with db.mu not held, before every write: it refuses
// the write on a full disk, and reopens a store opened read-only (on a
// full disk) for writing once there is space again.
func (db *DB) writable() error {
	if err := db.space.check(); err != nil {
		return err
	}
	if !db.isReadOnly() {
		return nil
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return ErrClosed
	}
	if !db.readOnly {
		return nil
	}
	if err := db.bdb.Close(); err != nil {
		return fmt.Errorf("store: closing the read-only store to reopen it: %w", err)
	}
	// The store was checked when it was opened read-only, and nothing has
	// written to it since; this open only gains writing.
	bdb, err := openBadger(badgerOptions(db.dir, db.key, db.sizes, db.log))
	if err != nil {
		// Leave it usable for reads, as it was.
		opts := badgerOptions(db.dir, db.key, db.sizes, db.log)
		opts.ReadOnly = true
		if ro, rerr := openBadger(opts); rerr == nil {
			db.bdb = ro
		} else {
			db.closed = true
		}
		return fmt.Errorf("store: reopening for writing: %w", err)
	}
	db.bdb, db.readOnly = bdb, false
	db.log.Info("store: space is free again; writes resume", "dir", db.dir)
	return nil
}
