package testnet

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// nobody is the uid another local user's files get in these tests (root
// can chown to it without the account existing).
const nobody = 65534

// plantable builds a network directory as Start would leave it, without
// starting tor, and returns it.
func plantable(t *testing.T) *Network {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "net")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	nw := &Network{Dir: dir, DirAuthFile: filepath.Join(dir, dirAuthFile),
		Nodes: []Node{{Name: "client0", Role: RoleClient, DataDir: filepath.Join(dir, "client0")}}}
	for _, f := range []string{nw.DirAuthFile, filepath.Join(dir, emptyGeoIPFile)} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := nw.save(); err != nil {
		t.Fatal(err)
	}
	return nw
}

// TestLoadRefusesPlantedDirectory: a node joining a network %includes its
// files into its own tor's configuration, so Load refuses a directory, or a
// file a tor reads, that another user owns or can write, and a state file
// that points outside the directory.
func TestLoadRefusesPlantedDirectory(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test chowns files to another user and must run as root")
	}
	if _, err := Load(plantable(t).Dir); err != nil {
		t.Fatalf("a directory of our own was refused: %v", err)
	}
	for _, c := range []struct {
		name  string
		plant func(nw *Network) error
	}{
		{"directory of another user", func(nw *Network) error { return os.Chown(nw.Dir, nobody, nobody) }},
		{"directory writable by all", func(nw *Network) error { return os.Chmod(nw.Dir, 0o777) }},
		{"directory writable by its group", func(nw *Network) error { return os.Chmod(nw.Dir, 0o770) }},
		{"state file of another user", func(nw *Network) error { return os.Chown(filepath.Join(nw.Dir, stateFile), nobody, nobody) }},
		{"dirauth writable by all", func(nw *Network) error { return os.Chmod(nw.DirAuthFile, 0o666) }},
		{"dirauth of another user", func(nw *Network) error { return os.Chown(nw.DirAuthFile, nobody, nobody) }},
		{"geoip file of another user", func(nw *Network) error {
			return os.Chown(filepath.Join(nw.Dir, emptyGeoIPFile), nobody, nobody)
		}},
		{"dirauth a symbolic link", func(nw *Network) error {
			os.Remove(nw.DirAuthFile)
			return os.Symlink("/etc/hostname", nw.DirAuthFile)
		}},
		{"state names a dirauth outside", func(nw *Network) error {
			nw.DirAuthFile = "/etc/tor/torrc"
			return nw.save()
		}},
		{"state names a data directory outside", func(nw *Network) error {
			nw.Nodes[0].DataDir = "/var/lib/tor"
			return nw.save()
		}},
		{"directory in a world-writable, non-sticky parent", func(nw *Network) error {
			return os.Chmod(filepath.Dir(nw.Dir), 0o777)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			nw := plantable(t)
			if err := c.plant(nw); err != nil {
				t.Fatal(err)
			}
			_, err := Load(nw.Dir)
			if !errors.Is(err, ErrUntrustedDir) {
				t.Errorf("Load: %v, want ErrUntrustedDir", err)
			}
		})
	}
}

// TestStartRefusesPlantedEmptyDirectory: an empty directory another user
// made in advance could be filled by them after Start, so Start refuses it.
func TestStartRefusesPlantedEmptyDirectory(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test chowns files to another user and must run as root")
	}
	dir := filepath.Join(t.TempDir(), "net")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if _, err := prepareDir(dir); !errors.Is(err, ErrUntrustedDir) {
		t.Errorf("prepareDir on another user's directory: %v, want ErrUntrustedDir", err)
	}
	os.Chown(dir, 0, 0)
	os.Chmod(dir, 0o777)
	if _, err := prepareDir(dir); !errors.Is(err, ErrUntrustedDir) {
		t.Errorf("prepareDir on a directory anyone can write: %v, want ErrUntrustedDir", err)
	}
}
