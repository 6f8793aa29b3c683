// Package ghostwire_test holds the repository's rules as tests, so later
// work cannot drift from them: formatting, which package may import which
// dependency, and where sockets may be opened.
package ghostwire_test

import (
	"bufio"
	"encoding/json"
	"go/format"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/ghostwire/ghostwire"

type pkg struct {
	ImportPath                         string
	Imports, TestImports, XTestImports []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 4 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func TestGofmt(t *testing.T) {
	n := 0
	filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && p != "." || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		n++
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := format.Source(src); err != nil || string(got) != string(src) {
			t.Errorf("%s is not gofmt-clean (run gofmt -w %s)", p, p)
		}
		return nil
	})
	if n == 0 {
		t.Fatal("no Go files found")
	}
}

// TestImportRules: identity imports nothing of ours; each outside
// dependency stays behind the one package that owns it.
func TestImportRules(t *testing.T) {
	owners := map[string][]string{
		"github.com/dgraph-io/badger": {module + "/store"},
		"github.com/cretz/bine":       {module + "/onion"},
		"golang.org/x/net/proxy":      {module + "/onion"},
		"github.com/fxamacker/cbor":   {module + "/wire"},
	}
	for _, p := range listPackages(t) {
		all := append(append(append([]string{}, p.Imports...), p.TestImports...), p.XTestImports...)
		for _, imp := range all {
			if p.ImportPath == module+"/identity" && strings.HasPrefix(imp, module) {
				t.Errorf("identity imports %s; identity must import nothing of ours", imp)
			}
			for dep, allowed := range owners {
				if !strings.HasPrefix(imp, dep) {
					continue
				}
				ok := false
				for _, a := range allowed {
					if p.ImportPath == a || strings.HasPrefix(p.ImportPath, a+"/") {
						ok = true
					}
				}
				if !ok {
					t.Errorf("%s imports %s; only %v may", p.ImportPath, imp, allowed)
				}
			}
		}
	}
}

// TestNoSocketsOutsideTransports: non-test code outside onion/ and lan/
// opens no network socket of its own. The few lines that must (the local
// API's Unix socket, the private Tor network's loopback listeners) carry
// the marker "cloak:allow" with a reason, so each is a visible decision.
func TestNoSocketsOutsideTransports(t *testing.T) {
	calls := []string{"net.Dial(", "net.DialTimeout(", "net.Listen(", "net.ListenPacket(", "net.ListenTCP(",
		"net.ListenUDP(", "net.DialTCP(", "net.DialUDP(", "net.Dialer{", ".DialContext(", "net.ListenConfig{"}
	filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p == "onion" || p == "lan" || (strings.HasPrefix(d.Name(), ".") && p != ".") || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for line := 1; sc.Scan(); line++ {
			text := sc.Text()
			for _, c := range calls {
				if strings.Contains(text, c) && !strings.Contains(text, "cloak:allow") {
					t.Errorf("%s:%d opens a socket (%s) outside onion/ and lan/: %s", p, line, c, strings.TrimSpace(text))
				}
			}
		}
		return nil
	})
}

// TestNoHTTPBelowTheAPI: only the local API (localapi, and the commands
// above it) speaks HTTP. The domain returns typed errors and knows nothing
// of statuses, so none of these packages, nor their tests, may import
// net/http. (onion/testnet, a tool that runs a private Tor network, reads
// its own authorities' consensus over HTTP on 127.0.0.1; it is not below
// the API.)
func TestNoHTTPBelowTheAPI(t *testing.T) {
	below := map[string]bool{}
	for _, p := range []string{"node", "store", "syncproto", "item", "ioc", "recipient", "identity", "recon", "wire", "cloak", "onion", "localapi/apitype"} {
		below[module+"/"+p] = true
	}
	seen := 0
	for _, p := range listPackages(t) {
		if !below[p.ImportPath] {
			continue
		}
		seen++
		all := append(append(append([]string{}, p.Imports...), p.TestImports...), p.XTestImports...)
		for _, imp := range all {
			if imp == "net/http" || strings.HasPrefix(imp, "net/http/") {
				t.Errorf("%s imports %s; only localapi (and what is above it) may speak HTTP", p.ImportPath, imp)
			}
		}
	}
	if seen < 8 {
		t.Fatalf("found only %d of the packages below the API; were they renamed?", seen)
	}
}
