package store

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ReleaseMapped drops from this process's resident memory the pages of the
// store's files that badger maps (tables, value logs, write-ahead logs),
// and returns how many bytes of mappings it asked the kernel to drop.
//
// Badger reads its tables through shared file mappings, and every page a
// scan touches (the startup checks, a session building a scope's set, an
// import's compactions) stays counted in the process's RSS until the kernel
// needs the memory: a node holding a million IOCs sat at about 540 MB RSS
// idle, most of it such pages. MADV_DONTNEED on a shared file mapping only
// unmaps the pages from this process: their contents stay in the file and
// the page cache, and the next read maps them back (madvise(2)), so nothing
// is lost and nothing read changes.
func (db *DB) ReleaseMapped() (int64, error) {
	dir, err := filepath.Abs(db.dir)
	if err != nil {
		return 0, err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	type span struct{ start, end uint64 }
	var spans []span
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || !strings.Contains(fields[1], "s") || filepath.Dir(fields[5]) != dir {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || end <= start {
			continue
		}
		spans = append(spans, span{start, end})
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	var n int64
	for _, s := range spans {
		// A mapping unmapped since the read (a table compacted away)
		// fails with ENOMEM: nothing to release there.
		if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, uintptr(s.start), uintptr(s.end-s.start), syscall.MADV_DONTNEED); e == 0 {
			n += int64(s.end - s.start)
		}
	}
	return n, nil
}
