package ioc

import (
	"fmt"
	"strings"
	"time"
)

// Progress reports how far an import has come.
type Progress struct {
	Objects int   // objects (STIX objects, MISP attributes) read so far
	Records int   // records produced so far, before dedup (STIX: known only at the end, when markings resolve)
	Bytes   int64 // input bytes consumed
	Elapsed time.Duration
	Done    bool
}

// Rate returns objects read per second.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Objects) / p.Elapsed.Seconds()
}

// Severity says what happened to an object that is not simply imported.
type Severity uint8

// Severities.
const (
	// Skipped: the object is not an indicator (a relationship, a malware
	// description, a MISP "text" attribute...); nothing was expected of it.
	Skipped Severity = iota + 1
	// Partial: the object was imported, but part of what it said is not
	// represented; Reason says exactly what.
	Partial
	// Failed: the object should have given indicators and gave none.
	Failed
)

// String returns "skipped", "partial" or "failed".
func (s Severity) String() string {
	switch s {
	case Skipped:
		return "skipped"
	case Partial:
		return "partial"
	case Failed:
		return "failed"
	}
	return "unknown"
}

// Issue reports one object that was skipped, imported in part, or failed.
type Issue struct {
	Severity Severity
	Where    string // "objects[12]", "Event[0].Attribute[5]", "Event[0].Object[2]"
	ID       string // the object's STIX id or MISP uuid, if it had one
	Type     string // STIX type, or MISP attribute type / object name
	Reason   string
}

// String returns one line: severity, where, id, type and reason.
func (i Issue) String() string {
	s := i.Severity.String() + " " + i.Where
	if i.ID != "" {
		s += " " + i.ID
	}
	if i.Type != "" {
		s += " (" + i.Type + ")"
	}
	return s + ": " + i.Reason
}

// Result is what Import read.
type Result struct {
	Format Format
	// Records holds one record per content ID, in first-seen order. When
	// several objects give the same indicator they are merged: the
	// strictest TLP, the highest confidence, the union of tags and
	// references, the first description; Merged counts such merges.
	Records []Record
	Merged  int
	Issues  []Issue
	// Unlisted counts, by severity (index Severity-1), the issues past
	// MaxIssues that were not kept.
	Unlisted [3]int
	Objects  int
}

// Failed returns the issues of severity Failed.
func (r *Result) Failed() []Issue {
	var out []Issue
	for _, i := range r.Issues {
		if i.Severity == Failed {
			out = append(out, i)
		}
	}
	return out
}

// Err returns an *ImportError listing every failed object, or nil. A
// caller that commits records only when Err is nil never commits a silent
// partial import.
func (r *Result) Err() error {
	if f := r.Failed(); len(f) > 0 || r.Unlisted[Failed-1] > 0 {
		return &ImportError{Failed: f, Unlisted: r.Unlisted[Failed-1]}
	}
	return nil
}

// ImportError lists the objects an import could not convert.
type ImportError struct {
	Failed   []Issue
	Unlisted int // failures past MaxIssues, counted but not listed
}

// Error names the count and the first three failures.
func (e *ImportError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ioc: import: %d objects failed", len(e.Failed)+e.Unlisted)
	for i, f := range e.Failed {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Failed)-3)
			break
		}
		b.WriteString("; " + f.String())
	}
	return b.String()
}
