package onion

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// maxSocketPath is the longest Unix socket path that fits sockaddr_un
// (108 bytes with its terminating NUL), less room for the longest name we
// put in the directory ("/control").
const maxSocketPath = 107 - len("/control")

// Socket names inside the socket directory.
const (
	controlSocket = "control"
	socksSocket   = "socks"
	targetSocket  = "service"
)

// socketDir creates (or checks) the directory that holds our Unix sockets.
// Only its owner may enter it: another local user can then neither reach
// the onion service's target (and learn the onion address from a handshake)
// nor use the SOCKS or control socket. When want is empty or unusable (too
// long for sockaddr_un, or characters a torrc cannot quote), a fresh
// directory under os.TempDir is made instead; fresh reports that, so the
// caller removes it when done.
func socketDir(want string) (dir string, fresh bool, err error) {
	if want != "" && len(want) <= maxSocketPath && !strings.ContainsAny(want, " \t\"\\\n") {
		if err := os.MkdirAll(want, 0o700); err != nil {
			return "", false, fmt.Errorf("onion: socket directory: %w", err)
		}
		if err := os.Chmod(want, 0o700); err != nil {
			return "", false, fmt.Errorf("onion: socket directory: %w", err)
		}
		if err := checkPrivateDir(want); err != nil {
			return "", false, err
		}
		return want, false, nil
	}
	d, err := os.MkdirTemp("", "gw-")
	if err != nil {
		return "", false, fmt.Errorf("onion: socket directory: %w", err)
	}
	if len(d) > maxSocketPath {
		os.Remove(d)
		return "", false, fmt.Errorf("onion: socket directory %s is too long for a Unix socket (set TMPDIR to a shorter path)", d)
	}
	return d, true, nil
}

// checkPrivateDir refuses a socket directory that is not ours, is a
// symbolic link, or that others may enter.
func checkPrivateDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("onion: socket directory: %w", err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || int(st.Uid) != os.Getuid() || fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("onion: socket directory %s must be a directory of yours with mode 0700 (it is %v, uid %d); remove it and start again", dir, fi.Mode(), st.Uid)
	}
	return nil
}

// shareWithTor lets a tor that runs as another user (a system tor) reach
// the onion service's target: the directory becomes 0710 with tor's group,
// so tor may enter it but not list it, and nobody else may do either.
func shareWithTor(dir string, torUID, torGID int) error {
	if torUID == os.Getuid() {
		return nil
	}
	if err := os.Chown(dir, -1, torGID); err != nil {
		return fmt.Errorf("onion: tor runs as uid %d and cannot enter %s without joining its group %d: %w (add your user to tor's group, e.g. 'adduser $USER debian-tor')", torUID, dir, torGID, err)
	}
	if err := os.Chmod(dir, 0o710); err != nil {
		return fmt.Errorf("onion: %w", err)
	}
	// Tor connects to the target by path, so it must pass through every
	// directory above; otherwise the service is published, yet every
	// connection to it fails inside tor, silently for the user.
	if closed := closedToTor(dir, torUID, torGID); closed != "" {
		return fmt.Errorf("onion: tor runs as uid %d and cannot pass through %s to reach the onion service's socket in %s; set TMPDIR to a directory it can pass through, or give ghostwire a --data directory outside it", torUID, closed, dir)
	}
	// The target socket (if Listen made it already) gets tor's group too,
	// so tor may write to it (Listen makes it 0660).
	if err := os.Chown(sockPath(dir, targetSocket), -1, torGID); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("onion: %w", err)
	}
	return nil
}

// closedToOthers returns the first of dir and its ancestors that other
// users cannot pass through (no x for others), "" if there is none.
func closedToOthers(dir string) string {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm()&0o001 == 0 {
			return d
		}
		if d == "/" || d == "." {
			return ""
		}
	}
}

// closedToTor returns the first ancestor of dir (dir itself excluded: it is
// shared through tor's group) that a tor running as torUID and torGID
// cannot pass through, "" if there is none. Supplementary groups of tor's
// account are not considered: a directory that needs one is reported.
func closedToTor(dir string, torUID, torGID int) string {
	for d := filepath.Dir(filepath.Clean(dir)); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return d
		}
		st, perm := fi.Sys().(*syscall.Stat_t), fi.Mode().Perm()
		var ok bool
		switch {
		case int(st.Uid) == torUID:
			ok = perm&0o100 != 0
		case int(st.Gid) == torGID:
			ok = perm&0o010 != 0
		default:
			ok = perm&0o001 != 0
		}
		if !ok {
			return d
		}
		if d == "/" || d == "." {
			return ""
		}
	}
}

// removeSocket removes a stale socket left by an earlier run, and only a
// socket: anything else at that path is an error.
func removeSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("onion: %s exists and is not a socket", path)
	}
	return os.Remove(path)
}

func sockPath(dir, name string) string { return filepath.Join(dir, name) }
