package onion

import (
	"os"
	"path/filepath"
	"testing"
)

// TestClosedToTor: the directories above a shared socket directory are
// judged as tor's account would meet them (owner, group, others), and the
// first one it cannot pass through is named; the socket directory itself is
// not judged, since it is shared through tor's group.
func TestClosedToTor(t *testing.T) {
	const torUID, torGID = 4242, 4243
	for _, c := range []struct {
		name   string
		mode   os.FileMode // of the directory above the socket directory
		uid    int         // its owner; -1: left alone
		gid    int         // its group; -1: left alone
		closed bool
	}{
		{"open to others", 0o711, -1, -1, false},
		{"private home", 0o700, -1, -1, true},
		{"group tor's, g+x", 0o710, -1, torGID, false},
		{"group tor's, no g+x", 0o701, -1, torGID, true},
		{"tor's own", 0o700, torUID, -1, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if (c.uid >= 0 || c.gid >= 0) && os.Geteuid() != 0 {
				t.Fatal("this case chowns a directory to tor's account and must run as root")
			}
			base := t.TempDir()
			for d := base; d != "/"; d = filepath.Dir(d) {
				if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
					os.Chmod(d, fi.Mode().Perm()|0o001)
				}
			}
			home := filepath.Join(base, "home")
			sock := filepath.Join(home, "sock")
			if err := os.MkdirAll(sock, 0o700); err != nil {
				t.Fatal(err)
			}
			if c.uid >= 0 || c.gid >= 0 {
				if err := os.Chown(home, c.uid, c.gid); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(home, c.mode); err != nil {
				t.Fatal(err)
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
