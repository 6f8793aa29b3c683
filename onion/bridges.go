package onion

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strings"
)

// Bridge is one tor bridge: a relay that is not in the public consensus,
// reached directly (Transport "") or through the obfs4 pluggable transport,
// so that a censor who blocks every public relay and directory cannot see
// that the user runs tor. Its text form is tor's Bridge line without the
// keyword: "obfs4 192.0.2.1:443 FINGERPRINT cert=… iat-mode=0".
type Bridge struct {
	Transport   string // "" or "obfs4"
	Addr        netip.AddrPort
	Fingerprint string   // 40 hex digits, upper case; "" when the line has none
	Args        []string // key=value pairs for the transport, in order
}

// String is the bridge's line as tor's Bridge option takes it.
func (b Bridge) String() string {
	f := []string{}
	if b.Transport != "" {
		f = append(f, b.Transport)
	}
	f = append(f, b.Addr.String())
	if b.Fingerprint != "" {
		f = append(f, b.Fingerprint)
	}
	return strings.Join(append(f, b.Args...), " ")
}

// ErrBridgeLine is wrapped by every error ParseBridge returns.
var ErrBridgeLine = errors.New("onion: not a bridge line")

// ParseBridge reads a bridge line as Tor Browser and bridges.torproject.org
// give it: "[Bridge] [obfs4] IP:PORT [FINGERPRINT] [key=value …]". Only
// plain and obfs4 bridges are accepted (obfs4proxy is the one transport the
// node runs), an obfs4 bridge needs its fingerprint, cert= and iat-mode=,
// and no field may hold a character that could end the value in a torrc
// line or a control command (quotes, backslashes, control characters).
func ParseBridge(line string) (Bridge, error) {
	var b Bridge
	f := strings.Fields(line)
	if len(f) > 0 && strings.EqualFold(f[0], "Bridge") {
		f = f[1:]
	}
	if len(f) == 0 {
		return b, fmt.Errorf("%w: empty", ErrBridgeLine)
	}
	for _, s := range f {
		for _, r := range s {
			if r < 0x21 || r > 0x7e || r == '"' || r == '\\' {
				return b, fmt.Errorf("%w: %q holds a character tor does not take here", ErrBridgeLine, s)
			}
		}
	}
	if _, err := netip.ParseAddrPort(f[0]); err != nil {
		if !isTransportName(f[0]) {
			return b, fmt.Errorf("%w: %q is neither IP:PORT nor a transport name", ErrBridgeLine, f[0])
		}
		if f[0] != "obfs4" {
			return b, fmt.Errorf("%w: transport %q is not supported (only obfs4, through obfs4proxy)", ErrBridgeLine, f[0])
		}
		b.Transport, f = f[0], f[1:]
	}
	if len(f) == 0 {
		return b, fmt.Errorf("%w: no IP:PORT", ErrBridgeLine)
	}
	ap, err := netip.ParseAddrPort(f[0])
	if err != nil || ap.Port() == 0 || !ap.Addr().IsValid() || ap.Addr().Zone() != "" {
		return b, fmt.Errorf("%w: %q is not IP:PORT (a bridge is named by address, never by a host name)", ErrBridgeLine, f[0])
	}
	b.Addr, f = ap, f[1:]
	if len(f) > 0 && !strings.Contains(f[0], "=") {
		raw, err := hex.DecodeString(f[0])
		if err != nil || len(raw) != 20 {
			return b, fmt.Errorf("%w: %q is not a relay fingerprint (40 hex digits)", ErrBridgeLine, f[0])
		}
		b.Fingerprint, f = strings.ToUpper(f[0]), f[1:]
	}
	seen := map[string]bool{}
	for _, kv := range f {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || v == "" {
			return b, fmt.Errorf("%w: %q is not key=value", ErrBridgeLine, kv)
		}
		if seen[k] {
			return b, fmt.Errorf("%w: %s= given twice", ErrBridgeLine, k)
		}
		seen[k] = true
		b.Args = append(b.Args, kv)
	}
	if b.Transport == "" && len(b.Args) > 0 {
		return b, fmt.Errorf("%w: key=value arguments without a transport", ErrBridgeLine)
	}
	if b.Transport == "obfs4" && (b.Fingerprint == "" || !seen["cert"] || !seen["iat-mode"]) {
		return b, fmt.Errorf("%w: an obfs4 bridge needs its fingerprint, cert= and iat-mode=", ErrBridgeLine)
	}
	return b, nil
}

// isTransportName: tor's rule for a pluggable transport's name (a C
// identifier).
func isTransportName(s string) bool {
	for i, r := range s {
		ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9'
		if !ok {
			return false
		}
	}
	return s != ""
}

// ParseBridges reads a bridges file: one bridge line per line; blank lines
// and lines starting with # are skipped. An error names the line's number
// and text, so the user can fix it.
func ParseBridges(r io.Reader) ([]Bridge, error) {
	var out []Bridge
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		b, err := ParseBridge(line)
		if err != nil {
			return nil, fmt.Errorf("line %d %q: %w", n, line, err)
		}
		out = append(out, b)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("onion: reading bridges: %w", err)
	}
	return out, nil
}

// findObfs4proxy resolves the obfs4 client: given, else obfs4proxy on PATH,
// else Debian's /usr/bin/obfs4proxy.
func findObfs4proxy(given string) (string, error) {
	if given != "" {
		return given, nil
	}
	if p, err := exec.LookPath("obfs4proxy"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/obfs4proxy"); err == nil {
		return "/usr/bin/obfs4proxy", nil
	}
	return "", errors.New("onion: obfs4proxy not found on PATH or at /usr/bin/obfs4proxy (install Debian's obfs4proxy package)")
}

// bridgeTorrc is what a managed tor with bridges starts with.
// DisableNetwork 1 holds tor off the network until applyBridges has set
// UseBridges and the bridges over the control port: a tor that started
// without them would contact the public directory authorities and
// fallbacks at once, before the bridges could hide that the user runs tor.
// UseBridges cannot be in the torrc itself, as tor refuses it there without
// a Bridge line, and the bridge lines are kept off disk.
func bridgeTorrc(obfs4proxy string) string {
	s := "DisableNetwork 1\n"
	if obfs4proxy != "" {
		s += "ClientTransportPlugin obfs4 exec " + obfs4proxy + "\n"
	}
	return s
}

// applyBridges sets the bridges on a tor started with bridgeTorrc, then
// lets it onto the network. Bridge values were checked by ParseBridge, so
// quoting them cannot be escaped.
func applyBridges(sess *session, bridges []Bridge) error {
	cmd := "SETCONF UseBridges=1"
	for _, b := range bridges {
		cmd += ` Bridge="` + b.String() + `"`
	}
	sess.cmdMu.Lock()
	defer sess.cmdMu.Unlock()
	if _, err := sess.cmd.SendRequest("%s", cmd); err != nil {
		return fmt.Errorf("onion: setting bridges: %w", err)
	}
	if _, err := sess.cmd.SendRequest("SETCONF DisableNetwork=0"); err != nil {
		return fmt.Errorf("onion: enabling the network after the bridges: %w", err)
	}
	return nil
}

func hasObfs4(bridges []Bridge) bool {
	for _, b := range bridges {
		if b.Transport == "obfs4" {
			return true
		}
	}
	return false
}

// Bridges is the number of bridges the managed tor uses (0: it reaches the
// network directly, or tor is attached).
func (t *Tor) Bridges() int { return len(t.cfg.Bridges) }
