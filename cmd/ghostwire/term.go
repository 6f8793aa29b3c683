package main

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Terminal safety (issue 15): nothing a peer sends may reach the user's
// terminal as control. A message, a peer's name, an IOC's value or tags, a
// collection name, an error that quotes any of them: all of it is text
// someone else chose, and a terminal obeys escape sequences in it (clear the
// screen, set the window title, rewrite the clipboard on some terminals) and
// reorders it at bidi overrides (U+202E makes "txt.exe" read "exe.txt").
//
// So every human-format line goes through printf, which passes each string
// argument through neutralise. It does so whether or not stdout is a
// terminal: output piped into a file is often shown on a terminal later
// (less -R, cat), and a script that needs the exact bytes has --json, which
// is never neutralised.

// neutralise returns s with everything a terminal would act on rather than
// show replaced by a visible escape: invalid UTF-8 bytes and C0/C1 controls
// (ESC, BEL, newline, U+009B CSI, …) as \xNN or \n, \r, \t, and the bidi
// controls (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069) and the line
// and paragraph separators as U+NNNN. Everything else, every script and
// emoji, passes unchanged.
func neutralise(s string) string {
	if !needsNeutralising(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80 && unicode.IsControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.IsControl(r) || isFormatControl(r):
			fmt.Fprintf(&b, "U+%04X", r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func needsNeutralising(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) || isFormatControl(r) {
			return true
		}
	}
	return false
}

// isFormatControl reports the invisible characters that change how a
// terminal lays out the text around them: the bidi controls (the Unicode
// property Bidi_Control: U+061C, U+200E, U+200F, U+202A–U+202E,
// U+2066–U+2069) and the line and paragraph separators.
func isFormatControl(r rune) bool {
	return unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029'
}

// printf is fmt.Fprintf for the human format: every string, error and
// []string argument is neutralised first. Every line of human output that
// may carry text from a peer or from the store goes through it; the format
// itself is ours and passes as written.
func printf(w io.Writer, format string, a ...any) {
	safe := make([]any, len(a))
	for i, v := range a {
		switch v := v.(type) {
		case string:
			safe[i] = neutralise(v)
		case error:
			safe[i] = neutralise(v.Error())
		case []string:
			out := make([]string, len(v))
			for j, s := range v {
				out[j] = neutralise(s)
			}
			safe[i] = out
		default:
			safe[i] = v
		}
	}
	fmt.Fprintf(w, format, safe...)
}

// checkUTF8 refuses text that is not valid UTF-8 before it is sent: JSON
// would silently turn each bad byte into U+FFFD, so the peer would get
// other text than the user wrote.
func checkUTF8(what, s string) error {
	if utf8.ValidString(s) {
		return nil
	}
	at := 0
	for at < len(s) {
		r, n := utf8.DecodeRuneInString(s[at:])
		if r == utf8.RuneError && n <= 1 {
			break
		}
		at += n
	}
	return fail(exitUsage, fmt.Errorf("%s is not valid UTF-8 (byte 0x%02x at offset %d)", what, s[at], at),
		"convert it to UTF-8 first, for example with 'iconv -t UTF-8'")
}
