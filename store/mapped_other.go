//go:build !linux

package store

// ReleaseMapped is a no-op where the store does not know how to drop
// mapped pages from the process's resident memory (see mapped_linux.go).
func (db *DB) ReleaseMapped() (int64, error) { return 0, nil }
