package ioc

import (
	"fmt"
	"strings"
)

// The lexer of the STIX 2.1 patterning language (STIX 2.1 §9.1): tokens,
// string literals and object paths. The parser is in pattern.go.

type ptokKind uint8

const (
	tEOF ptokKind = iota
	tLBrack
	tRBrack
	tLParen
	tRParen
	tString // '…' with escapes decoded
	tTyped  // t'…', b'…', h'…'
	tOp     // = != < > <= >=
	tWord   // keyword, number, boolean
	tPath   // object-type:property…
	tComma
)

type ptok struct {
	kind ptokKind
	text string
}

func lexPattern(s string) ([]ptok, error) {
	var toks []ptok
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '[':
			toks, i = append(toks, ptok{tLBrack, "["}), i+1
		case c == ']':
			toks, i = append(toks, ptok{tRBrack, "]"}), i+1
		case c == '(':
			toks, i = append(toks, ptok{tLParen, "("}), i+1
		case c == ')':
			toks, i = append(toks, ptok{tRParen, ")"}), i+1
		case c == ',':
			toks, i = append(toks, ptok{tComma, ","}), i+1
		case c == '\'':
			str, n, err := lexString(s[i:])
			if err != nil {
				return nil, err
			}
			toks, i = append(toks, ptok{tString, str}), i+n
		case (c == 't' || c == 'b' || c == 'h') && i+1 < len(s) && s[i+1] == '\'':
			str, n, err := lexString(s[i+1:])
			if err != nil {
				return nil, err
			}
			toks, i = append(toks, ptok{tTyped, string(c) + str}), i+1+n
		case c == '=' || c == '!' || c == '<' || c == '>':
			j := i + 1
			if j < len(s) && s[j] == '=' {
				j++
			}
			op := s[i:j]
			if op == "!" {
				return nil, fmt.Errorf("%w: lone '!' at offset %d", errPattern, i)
			}
			toks, i = append(toks, ptok{tOp, op}), j
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			if j < len(s) && s[j] == ':' {
				p, n, err := lexPath(s[i:])
				if err != nil {
					return nil, err
				}
				toks, i = append(toks, ptok{tPath, p}), i+n
				break
			}
			toks, i = append(toks, ptok{tWord, s[i:j]}), j
		default:
			return nil, fmt.Errorf("%w: unexpected %q at offset %d", errPattern, c, i)
		}
		if len(toks) > 8*maxComparisons {
			return nil, fmt.Errorf("%w: too many tokens", errPattern)
		}
	}
	return append(toks, ptok{kind: tEOF}), nil
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '+'
}

// lexString reads a quoted string starting at s[0] == '\” and returns its
// decoded value and the bytes consumed. Only \' and \\ are escapes (STIX 2.1
// §9.3).
func lexString(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 >= len(s) || s[i+1] != '\'' && s[i+1] != '\\' {
				return "", 0, fmt.Errorf("%w: bad escape in string", errPattern)
			}
			i++
			b.WriteByte(s[i])
		case '\'':
			return b.String(), i + 1, nil
		default:
			b.WriteByte(s[i])
		}
	}
	return "", 0, fmt.Errorf("%w: unterminated string", errPattern)
}

// lexPath reads object-type:step(.step)* where a step is a name, a quoted
// name ('SHA-256') or a list index ([*], [0]). It returns the path with
// quoted names unquoted ("file:hashes.SHA-256") and index steps kept.
func lexPath(s string) (string, int, error) {
	var b strings.Builder
	i := strings.IndexByte(s, ':')
	b.WriteString(s[:i+1])
	i++
	needStep := true
	for i < len(s) {
		c := s[i]
		switch {
		case needStep && c == '\'':
			str, n, err := lexString(s[i:])
			if err != nil {
				return "", 0, err
			}
			b.WriteString(str)
			i += n
			needStep = false
		case needStep && (isWordByte(c) && c != '.'):
			j := i
			for j < len(s) && isWordByte(s[j]) && s[j] != '.' {
				j++
			}
			b.WriteString(s[i:j])
			i = j
			needStep = false
		case !needStep && c == '.':
			b.WriteByte('.')
			i++
			needStep = true
		case !needStep && c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return "", 0, fmt.Errorf("%w: unclosed index in path", errPattern)
			}
			idx := s[i+1 : i+j]
			if idx != "*" && (idx == "" || strings.Trim(idx, "0123456789") != "") {
				return "", 0, fmt.Errorf("%w: bad list index %q", errPattern, idx)
			}
			b.WriteString(s[i : i+j+1])
			i += j + 1
		default:
			if needStep {
				return "", 0, fmt.Errorf("%w: empty step in object path", errPattern)
			}
			return b.String(), i, nil
		}
	}
	if needStep {
		return "", 0, fmt.Errorf("%w: object path ends with '.'", errPattern)
	}
	return b.String(), i, nil
}
