// Package ghostwire_test holds the repository's rules as tests, so later
// work cannot drift from them: formatting, which package may import which
// dependency, and where sockets may be opened.
package ghostwire_test

import (
	"bufio"
	"encoding/json"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
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

// goFiles calls fn with the path of every Go file of the repository,
// outside hidden directories and testdata.
func goFiles(fn func(path string)) {
	filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && p != "." || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(p, ".go") {
			fn(p)
		}
		return nil
	})
}

func TestGofmt(t *testing.T) {
	n := 0
	goFiles(func(p string) {
		n++
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := format.Source(src); err != nil || string(got) != string(src) {
			t.Errorf("%s is not gofmt-clean (run gofmt -w %s)", p, p)
		}
	})
	if n == 0 {
		t.Fatal("no Go files found")
	}
}

// TestImportRules: identity and vault import nothing of ours; each outside
// dependency stays behind the one package that owns it.
func TestImportRules(t *testing.T) {
	testTAXIIImports(t)
	owners := map[string][]string{
		"github.com/dgraph-io/badger": {module + "/store"},
		"github.com/cretz/bine":       {module + "/onion"},
		"golang.org/x/net/proxy":      {module + "/onion"},
		"github.com/fxamacker/cbor":   {module + "/wire"},
		// mDNS and DNS messages: only the LAN transport multicasts.
		"github.com/libp2p/zeroconf": {module + "/lan"},
		"github.com/miekg/dns":       {module + "/lan"},
		// The PAKE's group: only pairing does group arithmetic, so no
		// other package grows a protocol of its own on it.
		"github.com/cloudflare/circl": {module + "/pairing"},
		// The OASIS schema validator checks what export writes, in tests:
		// only the test helper that holds the schemas imports it.
		"github.com/santhosh-tekuri/jsonschema": {module + "/ioc/stixschema"},
		// badger's cache and mmap helpers: salvage opens table files
		// itself (store/rebuild.go).
		"github.com/dgraph-io/ristretto": {module + "/store"},
	}
	for _, p := range listPackages(t) {
		all := append(append(append([]string{}, p.Imports...), p.TestImports...), p.XTestImports...)
		for _, imp := range all {
			if p.ImportPath == module+"/identity" && strings.HasPrefix(imp, module) {
				t.Errorf("identity imports %s; identity must import nothing of ours", imp)
			}
			// The vault holds the keys burning destroys; importing nothing
			// of ours keeps it a leaf that rooms and anything else can use
			// without dragging in the store or a service.
			if p.ImportPath == module+"/vault" && strings.HasPrefix(imp, module) {
				t.Errorf("vault imports %s; vault must import nothing of ours", imp)
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

// TestTransportSeam: the node reaches the network only through cloak's
// Transport interface and cloak's guard, so a transport (onion; later lan)
// plugs in at cmd/ghostwire without the node knowing it, and cloak, which
// decides for every transport, depends on none of them. Tests count too: a
// node test that needs a transport uses a double of the interface.
func TestTransportSeam(t *testing.T) {
	rules := []struct {
		pkg   string
		never []string
		why   string
	}{
		{"cloak", []string{"onion", "lan", "node"}, "cloak decides for every transport and must depend on none"},
		{"node", []string{"onion", "lan"}, "the node knows transports only as cloak.Transport"},
		{"onion", []string{"node", "lan"}, "a transport implements cloak's interface and knows nothing above it or beside it"},
		{"lan", []string{"node", "onion", "pairing"}, "a transport implements cloak's interface and knows nothing above it or beside it; " +
			"and an advert must never be able to reach a pairing code's secret (docs/protocol.md §12.5.1)"},
		{"pairing", []string{"node", "onion", "lan", "cloak"}, "pairing is a protocol over a channel: it opens nothing and knows no transport"},
	}
	under := func(path, dir string) bool {
		return path == module+"/"+dir || strings.HasPrefix(path, module+"/"+dir+"/")
	}
	for _, p := range listPackages(t) {
		all := append(append(append([]string{}, p.Imports...), p.TestImports...), p.XTestImports...)
		for _, r := range rules {
			if !under(p.ImportPath, r.pkg) {
				continue
			}
			for _, imp := range all {
				for _, n := range r.never {
					if under(imp, n) {
						t.Errorf("%s imports %s; %s never imports %s: %s", p.ImportPath, imp, r.pkg, n, r.why)
					}
				}
				// cloak sits just above identity: anything else of ours
				// could one day import a transport.
				if r.pkg == "cloak" && strings.HasPrefix(imp, module+"/") && !under(imp, "identity") && !under(imp, "cloak") {
					t.Errorf("%s imports %s; cloak imports nothing of ours but identity", p.ImportPath, imp)
				}
			}
		}
	}
}

// TestNoSocketsOutsideTransports: non-test code outside onion/ and lan/
// opens no network socket of its own and resolves no name. The few lines
// that must (the local API's Unix socket, at the node and in the CLI)
// carry the marker "cloak:allow" with a reason, so each is a visible
// decision.
func TestNoSocketsOutsideTransports(t *testing.T) {
	calls := []string{"net.Dial(", "net.DialTimeout(", "net.Listen(", "net.ListenPacket(", "net.ListenTCP(",
		"net.ListenUDP(", "net.DialTCP(", "net.DialUDP(", "net.Dialer{", ".DialContext(", "net.ListenConfig{",
		"net.ListenUnix(", "net.ListenUnixgram(", "net.DialUnix(", "net.ListenIP(", "net.DialIP(",
		"net.ListenMulticastUDP(", "net.FileListener(", "net.FileConn(", "net.FilePacketConn(",
		"syscall.Socket(", "unix.Socket(", "tls.Dial(", "tls.DialWithDialer(", "tls.Listen(", "tls.Dialer{",
		"http.Get(", "http.Head(", "http.Post(", "http.PostForm(", "http.DefaultClient", ".ListenAndServe(",
		// A name lookup asks a resolver on the network who we talk to.
		"net.Lookup", "net.Resolver{", "net.DefaultResolver", ".LookupHost(", ".LookupIP(", ".LookupNetIP(",
		".LookupAddr(", ".LookupCNAME(", ".LookupMX(", ".LookupTXT(", ".LookupSRV(", ".LookupNS(", ".LookupPort("}
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

// TestNoAccountLookupsThroughNSS: no non-test code imports os/user. Its
// lookups go through NSS, which may ask nscd, sssd or an LDAP server over a
// socket outside tor; the node found the tor account that way while
// attaching, until the leak test that runs it unprivileged caught it.
// Accounts are read from /etc/passwd instead (onion/internal/torctl). The
// exception is testuser, which only tests import.
func TestNoAccountLookupsThroughNSS(t *testing.T) {
	for _, p := range listPackages(t) {
		if p.ImportPath != module+"/testuser" && slices.Contains(p.Imports, "os/user") {
			t.Errorf("%s imports os/user: read the local account database instead (see onion/internal/torctl localUser)", p.ImportPath)
		}
	}
}

// TestNoGlobalSharedState: no package-level variable of non-test code
// holds state behind a lock or an atomic (sync, sync/atomic), directly or
// inside one of our own types. State that goroutines share has an owner
// that creates it and passes it in, as the handshake's spare keys live in
// the syncproto.Spares a node creates; a process-global one is hidden from
// every caller and shared by all. allowed lists the exceptions, each with
// its reason.
func TestNoGlobalSharedState(t *testing.T) {
	allowed := map[string]string{
		"identity/keycache.go validKeys": "a memo of a pure function of the key bytes: sharing it changes no answer",
	}
	type file struct {
		path, dir string
		f         *ast.File
	}
	fset := token.NewFileSet()
	var files []file
	parseSources(t, fset, func(p string, f *ast.File) {
		files = append(files, file{filepath.ToSlash(p), filepath.ToSlash(filepath.Dir(p)), f})
	})

	// stateful holds our types ("dir.Name") that contain a lock or an
	// atomic, found by repeating until nothing new turns up.
	stateful := map[string]bool{}
	holdsState := func(fl file, n ast.Node) (what string) {
		ast.Inspect(n, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				x, ok := n.X.(*ast.Ident)
				if !ok {
					return true
				}
				for _, imp := range fl.f.Imports {
					path := strings.Trim(imp.Path.Value, `"`)
					name := path[strings.LastIndex(path, "/")+1:]
					if imp.Name != nil {
						name = imp.Name.Name
					}
					if name != x.Name {
						continue
					}
					if path == "sync" || path == "sync/atomic" || stateful[strings.TrimPrefix(path, module+"/")+"."+n.Sel.Name] {
						what = x.Name + "." + n.Sel.Name
					}
				}
				return false
			case *ast.Ident:
				if stateful[fl.dir+"."+n.Name] {
					what = n.Name
				}
			}
			return what == ""
		})
		return what
	}
	for changed := true; changed; {
		changed = false
		for _, fl := range files {
			for _, decl := range fl.f.Decls {
				if g, ok := decl.(*ast.GenDecl); ok && g.Tok == token.TYPE {
					for _, spec := range g.Specs {
						ts := spec.(*ast.TypeSpec)
						if key := fl.dir + "." + ts.Name.Name; !stateful[key] && holdsState(fl, ts.Type) != "" {
							stateful[key], changed = true, true
						}
					}
				}
			}
		}
	}
	if !stateful["syncproto.Spares"] {
		t.Fatal("the rule does not see that syncproto.Spares holds state")
	}
	for _, fl := range files {
		for _, decl := range fl.f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.VAR {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				if _, ok := allowed[fl.path+" "+vs.Names[0].Name]; ok || vs.Names[0].Name == "_" {
					continue // an exception, or a compile-time interface check that holds nothing
				}
				if what := holdsState(fl, vs); what != "" {
					t.Errorf("%s: package-level variable %s holds state (%s); give it an owner that passes it in",
						fset.Position(vs.Pos()), vs.Names[0].Name, what)
				}
			}
		}
	}
}

// TestSignaturesOnlyThroughIdentity: non-test code outside identity does
// not import an Ed25519 package, so every signature GhostWire accepts is
// checked by identity.ID.Verify with the rules of docs/protocol.md §1.3
// (keys of prime order, R not of small order), never by a bare
// ed25519.Verify that accepts more. Tests and benchmarks may sign and
// verify directly.
func TestSignaturesOnlyThroughIdentity(t *testing.T) {
	banned := []string{"crypto/ed25519", "golang.org/x/crypto/ed25519", "crypto/internal/fips140/ed25519"}
	for _, p := range listPackages(t) {
		if p.ImportPath == module+"/identity" {
			continue
		}
		for _, imp := range p.Imports {
			for _, b := range banned {
				if imp == b {
					t.Errorf("%s imports %s; verify signatures with identity.ID.Verify (docs/protocol.md §1.3)", p.ImportPath, imp)
				}
			}
		}
	}
}

// TestServicesStayBelowTheNode: an item-kind service (dm, collection,
// room; trust to come) is called by the node through its Scopes, Check and
// Accepted methods and reaches the node only through the Host interface it
// declares, so it never imports node; it speaks neither HTTP nor a
// transport (the local API and cloak's transports are the node's). The
// sets the sync engine reconciles (scopeset) sit below the services too:
// they know the store, never a service.
func TestServicesStayBelowTheNode(t *testing.T) {
	services := []string{"service", "dm", "collection", "contacts", "rating", "quota"}
	never := []string{module + "/node", module + "/onion", module + "/cloak", "net/http", "net"}
	rules := map[string][]string{
		"scopeset": append(slices.Clone(never), module+"/dm", module+"/collection", module+"/contacts", module+"/room"),
		// gate holds accepted connections (net.Conn) but opens none.
		"gate": {module + "/node", module + "/onion", module + "/cloak", "net/http", module + "/dm", module + "/collection", module + "/contacts", module + "/store"},
	}
	for _, svc := range services {
		rules[svc] = never
	}
	// room, the newest service, imports no sibling service either: what it
	// needs of another kind (a peer's recipient key) comes through Host.
	rules["room"] = append(slices.Clone(never), module+"/dm", module+"/collection", module+"/contacts")
	// keys, too: it marks a contact revoked through Host, and it judges
	// every item the node receives, so it must not depend on the kinds it
	// judges.
	rules["keys"] = append(slices.Clone(never), module+"/dm", module+"/collection", module+"/contacts", module+"/room", module+"/rating")
	for _, p := range listPackages(t) {
		for pkg, never := range rules {
			if p.ImportPath != module+"/"+pkg {
				continue
			}
			for _, imp := range p.Imports {
				if slices.Contains(never, imp) {
					t.Errorf("%s imports %s; %s never imports the node, a service, HTTP or a transport", p.ImportPath, imp, pkg)
				}
			}
		}
	}
}

// TestNoHTTPBelowTheAPI: only the local API (localapi, and the commands
// above it) speaks HTTP. The domain returns typed errors and knows nothing
// of statuses, so none of these packages, nor their tests, may import
// net/http; nor may the LAN transport, whose only protocols are mDNS and
// the handshake. (onion/testnet, a tool that runs a private Tor network, reads
// its own authorities' consensus over HTTP on 127.0.0.1; it is not below
// the API.)
func TestNoHTTPBelowTheAPI(t *testing.T) {
	below := map[string]bool{}
	for _, p := range []string{"node", "dm", "collection", "room", "contacts", "quota", "fault", "store", "syncproto", "item", "ioc", "recipient", "identity", "recon", "wire", "cloak", "onion", "lan", "localapi/apitype"} {
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

// TestNodeAcceptsOnlyThroughTheGate: the node takes inbound connections
// in one place, node/listen.go, whose accept loop retries temporary errors
// and hands every connection to the admission gate (docs/limits.md). An
// Accept anywhere else in the node would take connections past the caps.
func TestNodeAcceptsOnlyThroughTheGate(t *testing.T) {
	filepath.WalkDir("node", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") || p == filepath.Join("node", "listen.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), ".Accept()") {
			t.Errorf("%s calls Accept; the node accepts only in node/listen.go, through its gate", p)
		}
		return nil
	})
	b, err := os.ReadFile(filepath.Join("node", "listen.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "g.Enter(") {
		t.Error("node/listen.go no longer admits connections through the gate (gate.Enter)")
	}
}

// TestSessionsAdmittedByContacts: a blocked or revoked peer never gets a
// session (docs/trust.md §1), because every handshake the node runs takes
// its config from handshakeConfig, whose Authorize asks the contacts book,
// and because the dialer asks the book before it dials. A handshake with a
// config built anywhere else, or an Authorize that is not n.authorize,
// would let a blocked peer past.
func TestSessionsAdmittedByContacts(t *testing.T) {
	calls := 0
	filepath.WalkDir("node", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		for _, l := range strings.Split(src, "\n") {
			if strings.Contains(l, "Authorize:") && !strings.Contains(l, "Authorize: n.authorize,") {
				t.Errorf("%s sets a handshake's Authorize to something other than n.authorize: %s", p, strings.TrimSpace(l))
			}
			if strings.Contains(l, "syncproto.Client(") || strings.Contains(l, "syncproto.Server(") {
				calls++
			}
		}
		if strings.Contains(src, "syncproto.Config{") && !strings.Contains(src, "func (n *Node) handshakeConfig()") {
			t.Errorf("%s builds a syncproto.Config outside handshakeConfig", p)
		}
		return nil
	})
	if calls == 0 {
		t.Error("found no handshake in node/; was it moved?")
	}
	b, err := os.ReadFile(filepath.Join("node", "sessions.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "n.contacts.Admit(peer)") {
		t.Error("node/sessions.go: dialPeer no longer asks the contacts book before it dials")
	}
}

// TestTorAuthOnlyThroughTorctl: every control connection authenticates
// through onion/internal/torctl, which refuses NULL authentication and
// reads only a cookie whose place and owner it has checked (docs/tor.md),
// so the identity key never reaches a control port that has not proven it
// is the user's tor. bine's Authenticate accepts NULL and reads whatever
// cookie path the server names, and bine's tor.Start calls it: non-test
// code calls neither.
func TestTorAuthOnlyThroughTorctl(t *testing.T) {
	for _, p := range listPackages(t) {
		if slices.Contains(p.Imports, "github.com/cretz/bine/tor") {
			t.Errorf("%s imports bine's tor package, whose Start authenticates with bine's Authenticate; start tor in onion with torctl.Dial", p.ImportPath)
		}
	}
	filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if (strings.HasPrefix(d.Name(), ".") && p != ".") || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") || p == filepath.Join("onion", "internal", "torctl", "auth.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, ".Authenticate(") || strings.Contains(line, "AUTHENTICATE") {
				t.Errorf("%s:%d authenticates to tor outside torctl: %s", p, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
}

// TestBridgesOnlyThroughApplyBridges: tor's network is enabled, and its
// bridges set, only in onion/bridges.go, which sets the bridges first and
// enables the network after (docs/tor.md, "Bridges"), so no other code can
// let a tor meant to use bridges reach a public directory first. Comments
// may name the options; code elsewhere may not.
func TestBridgesOnlyThroughApplyBridges(t *testing.T) {
	opts := regexp.MustCompile(`DisableNetwork|UseBridges|Bridge=|EnableNetwork`)
	filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if (strings.HasPrefix(d.Name(), ".") && p != ".") || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") || p == filepath.Join("onion", "bridges.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if code, _, _ := strings.Cut(line, "//"); opts.MatchString(code) {
				t.Errorf("%s:%d sets tor's network or bridges outside onion/bridges.go: %s", p, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
}

// TestCLIOutputNeutralised: the CLI's human output reaches the terminal
// only through printf (cmd/ghostwire/term.go), which neutralises control
// characters and bidi overrides in text from peers or the store. A print to
// stdout or stderr of anything but a literal is refused elsewhere, unless
// its line carries "terminal:exact" with a reason (--json output, exact by
// promise).
func TestCLIOutputNeutralised(t *testing.T) {
	bad := regexp.MustCompile(`fmt\.(Printf|Println|Print)\(|fmt\.Fprintf\(e\.std(out|err),|fmt\.Fprint(ln)?\(e\.std(out|err), [^")]`)
	dir := filepath.Join("cmd", "ghostwire")
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) < 5 {
		t.Fatalf("found %d Go files in %s (%v); was it moved?", len(files), dir, err)
	}
	for _, p := range files {
		if strings.HasSuffix(p, "_test.go") || filepath.Base(p) == "term.go" {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i, text := range strings.Split(string(b), "\n") {
			if bad.MatchString(text) && !strings.Contains(text, "terminal:exact") {
				t.Errorf("%s:%d prints without neutralising (use printf from term.go): %s", p, i+1, strings.TrimSpace(text))
			}
		}
	}
}

// TestImportsStream: non-test code outside ioc never calls ioc.Import,
// which holds every record of its input in memory, nor ioc.ImportStream,
// which holds a MISP event's attributes until the event's tags (MISP writes
// them last); the node imports with ioc.ImportStreamPrescan, whose memory
// its options bound (docs/ioc.md §7), so that no input, however large,
// sets what an import costs. Outside item, nothing derives a restricted
// class's scope from a collection (item.DirectClass): restricted
// indicators are reconciled in item.RestrictedScope, which spans every
// collection (docs/protocol.md §10.1).
func TestImportsStream(t *testing.T) {
	fset := token.NewFileSet()
	seen := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || filepath.Dir(path) == "ioc" {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		seen++
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == "ioc" && sel.Sel.Name == "Import" {
				t.Errorf("%s: calls ioc.Import, which holds the whole input's records; use ioc.ImportStreamPrescan", fset.Position(sel.Pos()))
			}
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == "item" && sel.Sel.Name == "DirectClass" {
				t.Errorf("%s: calls item.DirectClass: a restricted class is never seen through one collection's space (a recipient that does not hold the collection never offers that scope); use item.RestrictedScope (docs/protocol.md §10.1)", fset.Position(sel.Pos()))
			}
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == "ioc" && sel.Sel.Name == "ImportStream" {
				t.Errorf("%s: calls ioc.ImportStream, which holds a MISP event's attributes until the event's tags and refuses a large event; use ioc.ImportStreamPrescan", fset.Position(sel.Pos()))
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 50 {
		t.Fatalf("read only %d Go files; is the test run from the repository's root?", seen)
	}
}

// TestBadgerNeverDeletesUnasked: the store never lets badger delete data
// the user did not ask to delete (docs/storage.md). badger.Open is called
// only from store's openBadger, which runs after the checks that keep
// badger from "repairing" a damaged directory by deleting tables; and no
// code runs value-log GC or drops keys wholesale (GC also rewrites the value
// log, whose sizes the store's marker records to find a truncated one).
func TestBadgerNeverDeletesUnasked(t *testing.T) {
	banned := map[string]string{
		"RunValueLogGC":         "value-log GC rewrites and deletes .vlog files",
		"DropAll":               "it deletes every key",
		"DropPrefix":            "it deletes keys wholesale",
		"DropPrefixNonBlocking": "it deletes keys wholesale",
	}
	fset := token.NewFileSet()
	n := 0
	parseSources(t, fset, func(p string, f *ast.File) {
		n++
		for _, decl := range f.Decls {
			fn, _ := decl.(*ast.FuncDecl)
			ast.Inspect(decl, func(node ast.Node) bool {
				sel, ok := node.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if why, ok := banned[sel.Sel.Name]; ok {
					t.Errorf("%s calls %s: %s (docs/storage.md)", fset.Position(sel.Pos()), sel.Sel.Name, why)
				}
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "badger" && sel.Sel.Name == "Open" &&
					(filepath.ToSlash(filepath.Dir(p)) != "store" || fn == nil || fn.Name.Name != "openBadger") {
					t.Errorf("%s opens badger outside store.openBadger, without the checks that run before it", fset.Position(sel.Pos()))
				}
				return true
			})
		}
	})
	if n == 0 {
		t.Fatal("no Go files found")
	}
}

// parseSources parses every non-test Go file of the repository (outside
// hidden directories and testdata) and calls fn with each.
func parseSources(t *testing.T, fset *token.FileSet, fn func(path string, f *ast.File)) {
	t.Helper()
	goFiles(func(p string) {
		if strings.HasSuffix(p, "_test.go") {
			return
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		fn(p, f)
	})
}

// TestReputationIsPureComputation: reputation turns opinions into scores
// and nothing else. It never reads a file, the network, the clock or
// randomness, and imports no GhostWire package (so never the node or a
// store): the same opinions give the same scores everywhere, and the
// computation can be tested and benchmarked alone. Its non-test imports
// come from this list; widening it is a decision, not a drive-by.
func TestReputationIsPureComputation(t *testing.T) {
	allowed := []string{"cmp", "errors", "fmt", "maps", "math", "slices", "sort", "strings"}
	found := false
	for _, p := range listPackages(t) {
		if p.ImportPath != module+"/reputation" {
			continue
		}
		found = true
		for _, imp := range p.Imports {
			if !slices.Contains(allowed, imp) {
				t.Errorf("reputation imports %s; it may import only %v: it is pure computation, no I/O, no clock, no node", imp, allowed)
			}
		}
	}
	if !found {
		t.Error("package reputation not found")
	}
}

// TestRoomKindsOnlyInRoom: the room item kinds (docs/protocol.md §13.2)
// are made and read only by package room, which checks every one against
// the room's states (who may sign what, which epoch) before anything uses
// it. item assigns the numbers; no other package names them, so nothing
// can sign a room state or read a room message around those checks.
func TestRoomKindsOnlyInRoom(t *testing.T) {
	fset := token.NewFileSet()
	seen := 0
	parseSources(t, fset, func(p string, f *ast.File) {
		dir := filepath.ToSlash(filepath.Dir(p))
		if dir == "room" {
			seen++
		}
		if dir == "room" || dir == "item" {
			return
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && strings.HasPrefix(sel.Sel.Name, "KindRoom") {
				t.Errorf("%s names %s; room items are made and read only by package room", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
	})
	if seen == 0 {
		t.Fatal("found no files of package room; was it renamed?")
	}
}

// TestBurnOnlyAfterTheKey: the store's Burn only tidies up: it removes a
// sealed item's records, while what erases it is destroying its vault key
// first (docs/storage.md §4). So outside dm, which destroys the key and
// then calls it (dm.Service.Burn), no package calls Store().Burn: a room
// message burnt that way would leave its key in the vault, and every copy
// badger kept of it readable. Rooms burn through their Host, which is the
// node's way to dm (docs/protocol.md §13.6).
func TestBurnOnlyAfterTheKey(t *testing.T) {
	fset := token.NewFileSet()
	parseSources(t, fset, func(p string, f *ast.File) {
		if dir := filepath.ToSlash(filepath.Dir(p)); dir == "dm" || dir == "store" {
			return
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "Burn" {
				return true
			}
			if inner, ok := sel.X.(*ast.CallExpr); ok {
				if is, ok := inner.Fun.(*ast.SelectorExpr); ok && is.Sel.Name == "Store" {
					t.Errorf("%s calls Store().Burn; burn through dm (its vault key first), as Host.Burn does", fset.Position(call.Pos()))
				}
			}
			return true
		})
	})
}

// testTAXIIImports: taxii has no business logic of its own (docs/taxii.md):
// of ours it imports only the local API's types, never the node, the
// collections or the store, so everything it serves went through the
// local API. And ioc/stixschema, a test helper, is imported by tests only.
func testTAXIIImports(t *testing.T) {
	for _, p := range listPackages(t) {
		if p.ImportPath == module+"/taxii" {
			for _, imp := range p.Imports {
				if strings.HasPrefix(imp, module+"/") && imp != module+"/localapi/apitype" {
					t.Errorf("taxii imports %s; it may import only localapi/apitype of ours", imp)
				}
			}
		}
		for _, imp := range p.Imports {
			if imp == module+"/ioc/stixschema" {
				t.Errorf("%s imports ioc/stixschema outside its tests; it is a test helper", p.ImportPath)
			}
		}
	}
}

// TestNoRaceTestsRunInCI: a test built only without the race detector
// (`//go:build !race`) never runs in `./run test`'s race suite, so it must be
// named, with its package, in that verb's second, plain go test; otherwise
// moving a test out of the race suite would quietly drop it from CI.
func TestNoRaceTestsRunInCI(t *testing.T) {
	script, err := os.ReadFile("run")
	if err != nil {
		t.Fatal(err)
	}
	plain := regexp.MustCompile(`(?m)^\s*go test -count=1 [^\n]*-run '\^\(([^)]*)\)\$' ([^\n]*)$`).FindSubmatch(script)
	if plain == nil {
		t.Fatal("./run test has no plain `go test -count=1 ... -run '^(A|B)$' ./pkg...` line; the !race tests need one")
	}
	names := strings.Split(string(plain[1]), "|")
	pkgs := strings.Fields(string(plain[2]))
	fset := token.NewFileSet()
	found := 0
	goFiles(func(p string) {
		if !strings.HasSuffix(p, "_test.go") {
			return
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		noRace := false
		for _, cg := range f.Comments {
			if cg.Pos() >= f.Package {
				break
			}
			for _, c := range cg.List {
				if strings.HasPrefix(c.Text, "//go:build") && strings.Contains(c.Text, "!race") {
					noRace = true
				}
			}
		}
		if !noRace {
			return
		}
		dir := "./" + filepath.ToSlash(filepath.Dir(p))
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Test") || fn.Name.Name == "TestMain" {
				continue
			}
			found++
			if !slices.Contains(names, fn.Name.Name) || !slices.Contains(pkgs, dir) {
				t.Errorf("%s: %s is built without -race only, so ./run test must run it in its plain go test: add %s to its -run list and %s to its packages", p, fn.Name.Name, fn.Name.Name, dir)
			}
		}
	})
	if found == 0 {
		t.Fatal("found no test built without -race; if none is left, remove ./run test's plain go test and this rule")
	}
}
