package onion

import (
	"os"
	"path/filepath"
	"testing"
)

// TestClosedToTor: the directories above a shared socket directory are
// judged as tor's account would meet them (owner, group, others), and the
// first one it cannot pass through is named; the socket directory itself is
// not judged, since it is shared through tor's group. The directories are
// the test's own; tor's account is made to own them, or to have their
// group, by choosing its IDs, so no case needs root.
func TestClosedToTor(t *testing.T) {
	const strangerUID, strangerGID = 4242, 4243
	for _, c := range []struct {
		name     string
		mode     os.FileMode // of the directory above the socket directory
		torOwns  bool        // tor's account owns it
		torGroup bool        // it has tor's group
		closed   bool
	}{
		{"open to others", 0o711, false, false, false},
		{"private home", 0o700, false, false, true},
		{"group tor's, g+x", 0o710, false, true, false},
		{"group tor's, no g+x", 0o701, false, true, true},
		{"tor's own", 0o700, true, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := t.TempDir()
			for d := base; d != "/"; d = filepath.Dir(d) {
				// Open to tor by every path: as a stranger, a group member
				// or the owner.
				if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o011 != 0o011 {
					os.Chmod(d, fi.Mode().Perm()|0o011)
				}
			}
			home := filepath.Join(base, "home")
			sock := filepath.Join(home, "sock")
			if err := os.MkdirAll(sock, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(home, c.mode); err != nil {
				t.Fatal(err)
			}
			torUID, torGID := strangerUID, strangerGID
			if c.torOwns {
				torUID = os.Getuid()
			}
			if c.torGroup {
				torGID = os.Getgid()
			}
			got := closedToTor(sock, torUID, torGID)
			if c.closed && got != home || !c.closed && got != "" {
				t.Errorf("closedToTor: %q, want %q closed: %v", got, home, c.closed)
			}
			want := ""
			if c.mode&0o001 == 0 {
				want = home
			}
			if got := closedToOthers(home); got != want {
				t.Errorf("closedToOthers(%s) = %q, want %q", home, got, want)
			}
		})
	}
}
