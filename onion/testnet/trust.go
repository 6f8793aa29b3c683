package testnet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ErrUntrustedDir is wrapped when a network directory, or a file in it that
// a node's tor would read, could have been written by another local user.
// A node joining the network puts those files into its own tor's
// configuration (%include), so a planted directory would run the planter's
// configuration, and anything it names, as this user.
var ErrUntrustedDir = errors.New("testnet: directory not trusted")

// checkTrusted refuses path unless it is this user's own (no symbolic link)
// and nobody else may write to it; for a directory, also unless its parent
// keeps others from replacing it (not writable by others, or sticky as
// /tmp is).
func checkTrusted(path string, wantDir bool) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUntrustedDir, err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("%w: %s is a symbolic link", ErrUntrustedDir, path)
	case fi.IsDir() != wantDir || (!wantDir && !fi.Mode().IsRegular()):
		return fmt.Errorf("%w: %s is not a regular %s", ErrUntrustedDir, path, map[bool]string{true: "directory", false: "file"}[wantDir])
	case int(st.Uid) != os.Getuid():
		return fmt.Errorf("%w: %s belongs to uid %d, not to you (uid %d); remove it or use another --dir", ErrUntrustedDir, path, st.Uid, os.Getuid())
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%w: %s is writable by other users (mode %o); remove it or use another --dir", ErrUntrustedDir, path, fi.Mode().Perm())
	}
	if !wantDir {
		return nil
	}
	parent := filepath.Dir(path)
	pfi, err := os.Stat(parent)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUntrustedDir, err)
	}
	if pfi.Mode().Perm()&0o002 != 0 && pfi.Mode()&os.ModeSticky == 0 {
		return fmt.Errorf("%w: %s is in %s, which any user can write to (and it is not sticky)", ErrUntrustedDir, path, parent)
	}
	return nil
}

// checkFiles refuses a loaded network whose state names files outside its
// directory, or whose files a node's tor reads could be someone else's.
func (nw *Network) checkFiles() error {
	inside := func(p string) bool { return filepath.Dir(p) == nw.Dir }
	if !inside(nw.DirAuthFile) {
		return fmt.Errorf("%w: its state names %s, outside %s", ErrUntrustedDir, nw.DirAuthFile, nw.Dir)
	}
	for _, n := range nw.Nodes {
		if !inside(n.DataDir) {
			return fmt.Errorf("%w: its state names %s, outside %s", ErrUntrustedDir, n.DataDir, nw.Dir)
		}
	}
	for _, f := range []string{filepath.Join(nw.Dir, stateFile), nw.DirAuthFile, filepath.Join(nw.Dir, emptyGeoIPFile)} {
		if err := checkTrusted(f, false); err != nil {
			return err
		}
	}
	return nil
}
