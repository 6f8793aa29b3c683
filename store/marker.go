package store

// The marker file beside the store directory (guard.go says why there are
// two records of the store): its format, and the value-log sizes it holds.

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// markerPath is the marker file of the store in dir: beside it, so that
// removing or emptying the directory leaves it behind.
func markerPath(dir string) string { return filepath.Clean(dir) + ".id" }

// markerHeader is the marker's first line; the file is small text so a
// user can see what it is.
const markerHeader = "ghostwire store marker v1"

// maxMarker bounds what readMarker reads.
const maxMarker = 512

// marker is what the marker file holds: the store's identity, a lower
// bound of its puts, and its value log as it was at the last clean close.
type marker struct {
	id   [16]byte
	puts uint64
	vlog vlogStat
}

// vlogStat describes the value-log files up to max (badger's file IDs):
// how many hold entries and their total size. Badger only appends to them
// (the store never runs value-log GC) and removes only empty ones, so a
// later open must find at least as many bytes in as many files: a value
// log truncated or deleted is seen before any value is read.
type vlogStat struct {
	max   uint64
	files int
	bytes int64
}

// vlogHeaderSize is the size of an empty value-log file (badger/v4
// value.go), which badger may delete.
const vlogHeaderSize = 20

// statVlogs measures the value-log files of dir with IDs up to max (all,
// if max is 0), and the highest ID it saw.
func statVlogs(dir string, max uint64) (vlogStat, error) {
	var st vlogStat
	entries, err := os.ReadDir(dir)
	if err != nil {
		return st, err
	}
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), ".vlog")
		if !ok {
			continue
		}
		fid, err := strconv.ParseUint(n, 10, 32)
		if err != nil || (max != 0 && fid > max) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return st, err
		}
		st.max = maxOf(st.max, fid)
		if info.Size() > vlogHeaderSize {
			st.files++
			st.bytes += info.Size()
		}
	}
	return st, nil
}

func maxOf(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// checkVlogs compares dir's value log with what the marker recorded.
func checkVlogs(dir string, want vlogStat) error {
	if want.max == 0 {
		return nil
	}
	got, err := statVlogs(dir, want.max)
	if err != nil {
		return fmt.Errorf("store: reading %s: %w", dir, err)
	}
	if got.files < want.files || got.bytes < want.bytes {
		return damaged(dir, "its value log (the .vlog files, holding the larger items) has %d files of %d bytes where %d files of %d bytes were recorded: a file was deleted or truncated",
			got.files, got.bytes, want.files, want.bytes)
	}
	return nil
}

// readMarker reads the marker of dir: nil and no error when there is none.
func readMarker(dir string) (*marker, error) {
	p := markerPath(dir)
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: reading %s: %w", p, err)
	}
	defer f.Close()
	buf := make([]byte, maxMarker+1)
	n, _ := io.ReadFull(f, buf)
	if m, ok := parseMarker(buf[:n]); ok {
		return &m, nil
	}
	return nil, damaged(dir, "its marker %s is unreadable (altered or truncated); if 'ghostwire check' finds the store itself whole, move the marker away and the store writes it again", p)
}

// parseMarker reads the marker text: the header, "id HEX", "items N",
// "vlog MAX FILES BYTES" and "crc HEX" over the lines before it.
func parseMarker(b []byte) (marker, bool) {
	var m marker
	if len(b) > maxMarker {
		return m, false
	}
	body, sum, ok := strings.Cut(string(b), "crc ")
	if !ok || sum != fmt.Sprintf("%08x\n", crc32.ChecksumIEEE([]byte(body))) {
		return m, false
	}
	var id []byte
	_, err := fmt.Sscanf(body, markerHeader+"\nid %x\nitems %d\nvlog %d %d %d\n", &id, &m.puts, &m.vlog.max, &m.vlog.files, &m.vlog.bytes)
	if err != nil || len(id) != len(m.id) || body != string(formatBody(m, id)) {
		return m, false
	}
	copy(m.id[:], id)
	return m, true
}

func formatBody(m marker, id []byte) []byte {
	return fmt.Appendf(nil, "%s\nid %x\nitems %d\nvlog %d %d %d\n", markerHeader, id, m.puts, m.vlog.max, m.vlog.files, m.vlog.bytes)
}

func formatMarker(m marker) []byte {
	body := formatBody(m, m.id[:])
	return fmt.Appendf(body, "crc %08x\n", crc32.ChecksumIEEE(body))
}

// writeMarker replaces dir's marker atomically: a crash leaves the old
// marker or the new one, never a torn file.
func writeMarker(dir string, m marker) error {
	p := markerPath(dir)
	tmp, err := os.CreateTemp(filepath.Dir(p), filepath.Base(p)+".tmp*")
	if err != nil {
		return fmt.Errorf("store: writing the marker %s: %w", p, err)
	}
	_, err = tmp.Write(formatMarker(m))
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("store: writing the marker %s: %w", p, err)
	}
	if d, err := os.Open(filepath.Dir(p)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
