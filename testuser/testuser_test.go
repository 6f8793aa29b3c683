package testuser

import (
	"os"
	"path/filepath"
	"testing"
)

// TestUIDs: the four user IDs read from /proc are this process's own, so
// AssertRuns passes for the test's account and fails for another uid.
func TestUIDs(t *testing.T) {
	ids, err := UIDs(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if id != os.Getuid() {
			t.Fatalf("UIDs = %v, want all %d", ids, os.Getuid())
		}
	}
	self(t).AssertRuns(t, "this test", os.Getpid())
	if _, err := UIDs(-1); err == nil {
		t.Error("UIDs of no process: no error")
	}
}

// TestShareTorrcFiles: the files a join torrc names become readable by
// everyone, and nothing becomes writable by others.
func TestShareTorrcFiles(t *testing.T) {
	dir := t.TempDir()
	auth, geo := filepath.Join(dir, "dirauth"), filepath.Join(dir, "empty-geoip")
	for _, f := range []string{auth, geo} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ShareTorrcFiles(t, "TestingTorNetwork 1\n%include "+auth+"\nGeoIPFile "+geo+"\nGeoIPv6File "+geo+"\n")
	for _, f := range []string{auth, geo} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %o, want 644", f, fi.Mode().Perm())
		}
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm()&0o011 != 0o011 || fi.Mode().Perm()&0o022 != 0 {
		t.Errorf("%s: mode %o, want passable and not writable by others", dir, fi.Mode().Perm())
	}
}
