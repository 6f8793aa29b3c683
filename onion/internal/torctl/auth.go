package torctl

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cretz/bine/control"
)

// ErrUntrusted is wrapped by every refusal to authenticate to a control
// port that has not proven it is the tor we meant: one that offers no
// authentication (NULL), names a cookie file outside the expected place or
// owned by a stranger, or cannot prove it knows the cookie. Nothing secret
// has been sent when it is returned.
var ErrUntrusted = errors.New("torctl: control port not trusted")

// SAFECOOKIE labels (control-spec §3.24 AUTHCHALLENGE).
const (
	serverHashLabel     = "Tor safe cookie authentication server-to-controller hash"
	controllerHashLabel = "Tor safe cookie authentication controller-to-server hash"
	cookieLen           = 32
)

// Auth says how a control connection authenticates and which cookie file it
// is willing to read. The zero value trusts no cookie, so it can only
// authenticate with a password.
type Auth struct {
	// Password is sent with AUTHENTICATE when tor offers HASHEDPASSWORD; it
	// is the user's own secret, so it goes only to a port that offers it.
	Password string
	// CookieFile, if set, is the only cookie path accepted.
	CookieFile string
	// CookieDirs are the directories a cookie file may be in when
	// CookieFile is empty.
	CookieDirs []string
}

// Addr splits a control or SOCKS address into a network and an address for
// net.Dial: "unix:/run/tor/control" is a Unix socket, anything else must be
// a loopback ip:port.
func Addr(s string) (network, addr string, err error) {
	if p, ok := strings.CutPrefix(s, "unix:"); ok {
		if !filepath.IsAbs(p) {
			return "", "", fmt.Errorf("torctl: Unix socket %q is not an absolute path", p)
		}
		return "unix", p, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", "", fmt.Errorf("torctl: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return "", "", fmt.Errorf("torctl: %q is not a loopback address or unix:PATH", host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("torctl: bad port %q", port)
	}
	return "tcp", s, nil
}

// DialRaw connects to a control address and authenticates, returning the
// bare connection (for a liveness probe that owns its reads) as well as
// the bine connection over it. The authentication must finish within 10 s.
func DialRaw(ctx context.Context, addr string, auth Auth) (net.Conn, *control.Conn, error) {
	network, a, err := Addr(addr)
	if err != nil {
		return nil, nil, err
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	nc, err := d.DialContext(ctx, network, a)
	if err != nil {
		return nil, nil, err
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	c := control.NewConn(textproto.NewConn(nc))
	if err := authenticate(c, auth); err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("authenticating to tor control port %s: %w", addr, err)
	}
	nc.SetDeadline(time.Time{})
	return nc, c, nil
}

// Dial is DialRaw without the bare connection.
func Dial(ctx context.Context, addr string, auth Auth) (*control.Conn, error) {
	_, c, err := DialRaw(ctx, addr, auth)
	return c, err
}

// authenticate proves to tor that we may control it, and makes tor prove it
// knows the cookie before anything else is sent. bine's Authenticate is not
// used: it accepts NULL authentication and reads whatever cookie path the
// server names, so a stranger's fake port would be handed our commands.
func authenticate(c *control.Conn, auth Auth) error {
	pi, err := c.ProtocolInfo()
	if err != nil {
		return err
	}
	switch {
	case auth.Password != "" && pi.HasAuthMethod("HASHEDPASSWORD"):
		if _, err := c.SendRequest("AUTHENTICATE %s", quote(auth.Password)); err != nil {
			return err
		}
	case pi.HasAuthMethod("SAFECOOKIE"):
		if err := safeCookie(c, pi.CookieFile, auth); err != nil {
			return err
		}
	case pi.HasAuthMethod("NULL"):
		return fmt.Errorf("%w: it asks for no authentication (NULL), so anyone could be listening there; set CookieAuthentication 1 in the torrc", ErrUntrusted)
	default:
		return fmt.Errorf("%w: it offers %v, and GhostWire accepts only SAFECOOKIE or a control password you supply", ErrUntrusted, pi.AuthMethods)
	}
	c.Authenticated = true
	return nil
}

func safeCookie(c *control.Conn, path string, auth Auth) error {
	cookie, err := readCookie(path, auth)
	if err != nil {
		return err
	}
	defer clear(cookie)
	var clientNonce [32]byte
	rand.Read(clientNonce[:])
	resp, err := c.SendRequest("AUTHCHALLENGE SAFECOOKIE %s", hex.EncodeToString(clientNonce[:]))
	if err != nil {
		return err
	}
	serverHash, serverNonce, ok := parseAuthChallenge(resp.Reply)
	if !ok {
		return fmt.Errorf("%w: malformed AUTHCHALLENGE reply", ErrUntrusted)
	}
	mac := func(label string) []byte {
		m := hmac.New(sha256.New, []byte(label))
		m.Write(cookie)
		m.Write(clientNonce[:])
		m.Write(serverNonce)
		return m.Sum(nil)
	}
	if !hmac.Equal(serverHash, mac(serverHashLabel)) {
		return fmt.Errorf("%w: it does not know the cookie in %s", ErrUntrusted, path)
	}
	_, err = c.SendRequest("AUTHENTICATE %s", hex.EncodeToString(mac(controllerHashLabel)))
	return err
}

// parseAuthChallenge reads "AUTHCHALLENGE SERVERHASH=<64 hex>
// SERVERNONCE=<64 hex>" (control-spec §3.24), strictly: exactly these
// three words, in this order, each value 32 bytes.
func parseAuthChallenge(reply string) (hash, nonce []byte, ok bool) {
	f := strings.Split(reply, " ")
	if len(f) != 3 || f[0] != "AUTHCHALLENGE" {
		return nil, nil, false
	}
	h, ok1 := strings.CutPrefix(f[1], "SERVERHASH=")
	n, ok2 := strings.CutPrefix(f[2], "SERVERNONCE=")
	if !ok1 || !ok2 || len(h) != 64 || len(n) != 64 {
		return nil, nil, false
	}
	hash, err1 := hex.DecodeString(h)
	nonce, err2 := hex.DecodeString(n)
	if err1 != nil || err2 != nil {
		return nil, nil, false
	}
	return hash, nonce, true
}

// readCookie reads a cookie file only if its path is the expected one (or
// in an expected directory) and it and its directory belong to root, a tor
// system user or us and are not writable by anyone else: otherwise another
// local user could have put it there, and its fake control port could
// answer the challenge.
func readCookie(path string, auth Auth) ([]byte, error) {
	if path == "" || !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return nil, fmt.Errorf("%w: it names no usable cookie file (%q)", ErrUntrusted, path)
	}
	expected := false
	if auth.CookieFile != "" {
		expected = path == filepath.Clean(auth.CookieFile)
	} else {
		for _, d := range auth.CookieDirs {
			expected = expected || filepath.Dir(path) == filepath.Clean(d)
		}
	}
	if !expected {
		want := auth.CookieFile
		if want == "" {
			want = "a file in " + strings.Join(auth.CookieDirs, " or ")
		}
		return nil, fmt.Errorf("%w: its cookie file %s is not the expected one (%s)", ErrUntrusted, path, want)
	}
	if err := CheckOwner(filepath.Dir(path), true); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUntrusted, err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: cookie file: %v", ErrUntrusted, err)
	}
	defer f.Close()
	if err := checkOwnerFile(f, path, false); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUntrusted, err)
	}
	b := make([]byte, cookieLen+1)
	n, err := io.ReadFull(f, b)
	if n != cookieLen || !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("%w: cookie file %s is not %d bytes", ErrUntrusted, path, cookieLen)
	}
	return b[:cookieLen], nil
}

// CheckOwner refuses a file or directory that is not owned by root, a tor
// system user or us, or that others can write, or a symbolic link.
func CheckOwner(path string, wantDir bool) error {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return checkOwnerFile(f, path, wantDir)
}

func checkOwnerFile(f *os.File, path string, wantDir bool) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.IsDir() != wantDir || (!wantDir && !fi.Mode().IsRegular()) {
		return fmt.Errorf("%s is not a regular %s", path, map[bool]string{true: "directory", false: "file"}[wantDir])
	}
	st := fi.Sys().(*syscall.Stat_t)
	if !trustedUID(int(st.Uid)) {
		return fmt.Errorf("%s belongs to uid %d, not to root, tor or you", path, st.Uid)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by other users (mode %o)", path, fi.Mode().Perm())
	}
	return nil
}

// torUsers are the accounts distributions run tor as (Debian, Fedora and
// Arch, OpenBSD).
var torUsers = []string{"debian-tor", "toranon", "tor", "_tor"}

func trustedUID(uid int) bool {
	if uid == 0 || uid == os.Getuid() {
		return true
	}
	return slices.Contains(torUsers, localUser(passwdFile, uid))
}

// passwdFile is the local account database.
const passwdFile = "/etc/passwd"

// localUser returns the name of the account uid in the passwd file, "" if
// there is none. It reads the file itself rather than asking os/user: a
// distribution's tor account is a local system account, and os/user goes
// through NSS, which may ask nscd, sssd or an LDAP server — a connection
// outside tor, made as the node attaches, that the leak tests forbid.
func localUser(passwd string, uid int) string {
	b, err := os.ReadFile(passwd)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 3 && f[2] == strconv.Itoa(uid) && f[0] != "" && !strings.HasPrefix(f[0], "+") && !strings.HasPrefix(f[0], "-") {
			return f[0]
		}
	}
	return ""
}

// quote is control-spec §2.1's QuotedString.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
