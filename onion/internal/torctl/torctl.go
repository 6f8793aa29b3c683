// Package torctl holds the small pieces of tor control-port handling that
// package onion and its testnet share: an authenticated connection, a
// liveness probe and a strict parser for bootstrap status lines. Only onion
// may use bine.
//
// The one thing to know: Dial authenticates with SAFECOOKIE only after
// checking the cookie file's path, owner and mode, and only if tor proves it
// knows the cookie first; it refuses NULL authentication (ErrUntrusted).
// bine's own Authenticate does neither and must not be used
// (rules_test.go).
package torctl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Phase is a tor bootstrap phase, from a STATUS_CLIENT BOOTSTRAP event or
// GETINFO status/bootstrap-phase.
type Phase struct {
	Progress int    // 0–100
	Tag      string // machine-readable phase name, e.g. "conn_done"
	Summary  string // human-readable phase, e.g. "Connected to a relay"
	Warning  string // set when the phase reports a problem
}

// maxStatusLen bounds what ParsePhase reads; tor's lines are far shorter.
const maxStatusLen = 4096

// ParsePhase reads "NOTICE BOOTSTRAP PROGRESS=85 TAG=ap_conn_done SUMMARY=\"...\""
// (the severity is optional, as in event bodies). It refuses any line that
// is not a BOOTSTRAP status or lacks a progress in 0–100.
func ParsePhase(s string) (Phase, error) {
	if len(s) > maxStatusLen {
		return Phase{}, errors.New("torctl: status line too long")
	}
	words, err := splitQuoted(s)
	if err != nil {
		return Phase{}, err
	}
	i := 0
	if i < len(words) && words[i] != "BOOTSTRAP" {
		i++ // severity
	}
	if i >= len(words) || words[i] != "BOOTSTRAP" {
		return Phase{}, errors.New("torctl: not a BOOTSTRAP status")
	}
	var p Phase
	seen := false
	for _, w := range words[i+1:] {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			continue
		}
		switch k {
		case "PROGRESS":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 100 {
				return Phase{}, fmt.Errorf("torctl: bad progress %q", v)
			}
			p.Progress, seen = n, true
		case "TAG":
			p.Tag = v
		case "SUMMARY":
			p.Summary = v
		case "WARNING":
			p.Warning = v
		}
	}
	if !seen {
		return Phase{}, errors.New("torctl: BOOTSTRAP status without PROGRESS")
	}
	return p, nil
}

// splitQuoted splits on spaces, keeping KEY="quoted value" together and
// unescaping \" and \\ inside quotes (control-spec §2.1 QuotedString).
func splitQuoted(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inQuote, escaped, have := false, false, false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case inQuote && r == '\\':
			escaped = true
		case r == '"':
			inQuote = !inQuote
			have = true
		case !inQuote && (r == ' ' || r == '\r' || r == '\n'):
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if inQuote || escaped {
		return nil, errors.New("torctl: unterminated quoted string")
	}
	if have {
		out = append(out, cur.String())
	}
	return out, nil
}
