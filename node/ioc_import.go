package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/ioc"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/store"
)

// Import limits (docs/api.md, docs/ioc.md §7).
const (
	// maxImportBody bounds one import upload. ioc.Import holds one JSON
	// object at a time, so memory follows the records, not this.
	maxImportBody = 1 << 30
	// importTimeout bounds reading and answering one import.
	importTimeout = 30 * time.Minute
	// importBatch is how many records are signed and stored per
	// store.PutItems call: bounded memory for items and entries, and
	// progress between batches. (Batches of 100 and 1,000 measured the
	// same once PutItems stopped scanning inside its transaction; see
	// BenchmarkIOCImport100k.)
	importBatch = 1000
	// importProgressEvery is how many stored records a store progress line
	// reports.
	importProgressEvery = 1000
)

// ImportRequest is how POST /v1/iocs/import is parameterised (its query).
type ImportRequest struct {
	Collection string
	// TLP is given to objects that carry no TLP marking; empty refuses them.
	TLP string
	// To names the recipients of every AMBER, AMBER+STRICT and RED record.
	To []string
	// Partial stores what converted even when some objects failed;
	// otherwise any failure means nothing is stored.
	Partial bool
}

// ImportIssue is an object that was skipped, imported in part, or failed.
type ImportIssue struct {
	Severity string `json:"severity"`
	Where    string `json:"where"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Reason   string `json:"reason"`
}

// ImportResult is what an import read and stored.
type ImportResult struct {
	Format    string         `json:"format"`
	Objects   int            `json:"objects"`
	Records   int            `json:"records"` // distinct indicators
	Merged    int            `json:"merged"`  // objects merged into an earlier indicator
	Stored    int            `json:"stored"`  // items newly stored
	Committed bool           `json:"committed"`
	ByType    map[string]int `json:"by_type"`
	ByTLP     map[string]int `json:"by_tlp"`
	Failed    int            `json:"failed"`
	Issues    []ImportIssue  `json:"issues,omitempty"`
	Unlisted  int            `json:"unlisted_issues,omitempty"` // issues past ioc.MaxIssues, counted only
}

// ImportProgress is one progress report of an import.
type ImportProgress struct {
	Phase   string  `json:"phase"` // "read" or "store"
	Objects int     `json:"objects"`
	Records int     `json:"records"`
	Stored  int     `json:"stored"`
	Bytes   int64   `json:"bytes"`
	Rate    float64 `json:"rate"` // objects (read) or records (store) per second
}

// ImportLine is one line of the import reply (application/x-ndjson):
// progress lines, then one line with the result, an error, or both.
type ImportLine struct {
	Progress *ImportProgress `json:"progress,omitempty"`
	Result   *ImportResult   `json:"result,omitempty"`
	Error    string          `json:"error,omitempty"`
	Hint     string          `json:"hint,omitempty"`
}

// importParams checks an import request before any input is read.
func (n *Node) importParams(req *ImportRequest) (ioc.ImportOptions, []*recipient.PublicKey, error) {
	var opts ioc.ImportOptions
	if req.Collection == "" {
		req.Collection = DefaultCollection
	}
	if err := checkCollection(req.Collection); err != nil {
		return opts, nil, err
	}
	if req.TLP != "" {
		t, err := ioc.ParseTLP(req.TLP)
		if err != nil {
			return opts, nil, fault.Invalidf("TLP is clear, green, amber, amber+strict or red", "%v", err)
		}
		opts.DefaultTLP = t
		if t.Restricted() && len(req.To) == 0 {
			return opts, nil, fault.Invalidf("name the recipients with --to", "TLP %s needs recipients", t)
		}
	}
	ids, keys, err := n.recipientKeys(req.To)
	if err != nil {
		return opts, nil, err
	}
	opts.Recipients = ids
	return opts, keys, nil
}

// ImportIOCs reads a STIX 2.1 bundle or MISP JSON from r (ioc.Import),
// then signs and stores every record in batches. If any object failed and
// req.Partial is false it stores nothing and returns the result with a
// 422 error naming the failures: never a silent partial import. progress,
// if set, is called while reading and while storing.
func (n *Node) ImportIOCs(r io.Reader, req ImportRequest, progress func(ImportProgress)) (*ImportResult, error) {
	opts, keys, err := n.importParams(&req)
	if err != nil {
		return nil, err
	}
	if progress != nil {
		opts.Progress = func(p ioc.Progress) {
			if !p.Done {
				progress(ImportProgress{Phase: "read", Objects: p.Objects, Records: p.Records, Bytes: p.Bytes, Rate: p.Rate()})
			}
		}
	}
	res, err := ioc.Import(r, opts)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &fault.Error{Kind: fault.TooLarge, Msg: fmt.Sprintf("import is larger than %d bytes", maxImportBody),
				Hint: "split the file"}
		}
		return nil, fault.Invalidf("give a STIX 2.1 bundle or MISP event JSON (docs/ioc.md §5, §6)", "%v", err)
	}
	out := &ImportResult{Format: res.Format.String(), Objects: res.Objects, Records: len(res.Records), Merged: res.Merged,
		ByType: map[string]int{}, ByTLP: map[string]int{}, Unlisted: res.Unlisted[0] + res.Unlisted[1] + res.Unlisted[2]}
	for _, i := range res.Issues {
		out.Issues = append(out.Issues, ImportIssue{Severity: i.Severity.String(), Where: i.Where, ID: i.ID, Type: i.Type, Reason: i.Reason})
		if i.Severity == ioc.Failed {
			out.Failed++
		}
	}
	out.Failed += res.Unlisted[ioc.Failed-1]
	for i := range res.Records {
		out.ByType[res.Records[i].Type.String()]++
		out.ByTLP[res.Records[i].TLP.Name()]++
	}
	if ierr := res.Err(); ierr != nil && !req.Partial {
		return out, &fault.Error{Kind: fault.Unprocessable,
			Msg:  fmt.Sprintf("%d objects failed; nothing was stored", out.Failed),
			Hint: "see the issues; fix them, or import what converted with --partial"}
	}
	if err := n.addCollection(req.Collection); err != nil {
		return out, err
	}
	sp := item.CollectionSpace(req.Collection)
	adm := n.admission()
	start := time.Now()
	for i := 0; i < len(res.Records); i += importBatch {
		batch := res.Records[i:min(i+importBatch, len(res.Records))]
		entries := make([]store.Entry, 0, len(batch))
		var exp []iocExpiry
		for j := range batch {
			it, err := n.iocItem(sp, n.cfg.Now(), &batch[j], keys)
			if err != nil {
				return out, fmt.Errorf("node: import: signing record %d: %w (%d items stored before it)", i+j, err, out.Stored)
			}
			scopes, err := iocScopesOf(it)
			if err != nil {
				return out, err
			}
			if err := adm.admit(it, scopes); err != nil {
				// Keep what was admitted before it, as a batch that fails
				// to store does; the reply says how much.
				added, perr := n.putItems(entries, exp)
				out.Stored += added
				n.pushToAll(entries)
				if perr != nil {
					return out, fmt.Errorf("node: import: storing: %w (%d items stored before this batch)", perr, out.Stored)
				}
				return out, refusedHere(req.Collection, fmt.Errorf("record %d: %w; %d items stored before it", i+j, err, out.Stored))
			}
			entries = append(entries, store.Entry{Item: it, Scopes: scopes})
			if u := batch[j].ValidUntil; !u.IsZero() {
				exp = append(exp, iocExpiry{it.ID(), u})
			}
		}
		added, err := n.putItems(entries, exp)
		if err != nil {
			return out, fmt.Errorf("node: import: storing: %w (%d items stored before this batch)", err, out.Stored)
		}
		out.Stored += added
		n.pushToAll(entries)
		if done := i + len(batch); progress != nil && (done%importProgressEvery == 0 || done == len(res.Records)) {
			progress(ImportProgress{Phase: "store", Objects: res.Objects, Records: done, Stored: out.Stored,
				Rate: float64(done) / max(time.Since(start).Seconds(), 1e-9)})
		}
	}
	out.Committed = true
	return out, nil
}

// importRequest reads an ImportRequest from the query string.
func importRequest(q url.Values) ImportRequest {
	req := ImportRequest{Collection: q.Get("collection"), TLP: q.Get("tlp"), Partial: q.Get("partial") != ""}
	for _, t := range q["to"] {
		for _, p := range strings.Split(t, ",") {
			if p = strings.TrimSpace(p); p != "" {
				req.To = append(req.To, p)
			}
		}
	}
	return req
}

// apiImportIOCs is POST /v1/iocs/import: the body is the file itself. The
// reply is NDJSON: progress lines while it works (sent only once there is
// progress to report, so small imports get one line with a fitting
// status), then the result. Once progress lines went out the status is
// 200 and an error is in the last line.
func (n *Node) apiImportIOCs(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(importTimeout))
	rc.SetWriteDeadline(time.Now().Add(importTimeout))
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeError(w, &httpError{status: http.StatusUnsupportedMediaType, msg: "body must be application/json"})
		return
	}
	req := importRequest(r.URL.Query())
	if _, _, err := n.importParams(&req); err != nil {
		writeError(w, err)
		return
	}
	// Progress goes out while the body is still being read. Whatever
	// the import did not read is drained (bounded by maxImportBody), so the
	// connection stays usable.
	rc.EnableFullDuplex()
	body := http.MaxBytesReader(w, r.Body, maxImportBody)
	defer io.Copy(io.Discard, body)
	enc := json.NewEncoder(w)
	streaming := false
	progress := func(p ImportProgress) {
		if !streaming {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(http.StatusOK)
			streaming = true
		}
		enc.Encode(ImportLine{Progress: &p})
		rc.Flush()
	}
	res, err := n.ImportIOCs(body, req, progress)
	line := ImportLine{Result: res}
	status := http.StatusOK
	if err != nil {
		st, body, internal := reply(err)
		if internal {
			n.log.Error("api", "path", r.URL.Path, "err", err)
		}
		line.Error, line.Hint, status = body.Error, body.Hint, st
	}
	if !streaming {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(status)
	}
	enc.Encode(line)
}

// ExportIOCs writes the IOCs ListIOCs would list for f as one STIX 2.1 bundle
// or one MISP event.
func (n *Node) ExportIOCs(w io.Writer, format string, f IOCFilter) error {
	ls, err := n.currentIOCs(f)
	if err != nil {
		return err
	}
	entries := make([]ioc.Entry, len(ls))
	for i, l := range ls {
		entries[i] = l.entry
	}
	switch format {
	case "stix", "":
		return ioc.ExportSTIX(w, entries)
	case "misp":
		return ioc.ExportMISP(w, entries)
	}
	return fault.Invalidf("formats: stix, misp", "unknown export format %q", format)
}

// iocFilter reads the list filters from a query string.
func (n *Node) iocFilter(q url.Values) (IOCFilter, error) {
	f := IOCFilter{Collection: q.Get("collection"), TLP: q.Get("tlp"), Type: q.Get("type"), IncludeExpired: q.Get("expired") != ""}
	if a := q.Get("author"); a != "" {
		id, err := n.resolveAuthor(a)
		if err != nil {
			return f, err
		}
		f.Author = &id
	}
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return f, fault.Invalidf("use RFC 3339, e.g. 2026-11-23T00:00:00Z", "bad since: %v", err)
		}
		f.Since = t
	}
	return f, nil
}

func (n *Node) apiExportIOCs(w http.ResponseWriter, r *http.Request) {
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(importTimeout))
	q := r.URL.Query()
	f, err := n.iocFilter(q)
	if err != nil {
		writeError(w, err)
		return
	}
	format := q.Get("format")
	if format != "" && format != "stix" && format != "misp" {
		writeError(w, fault.Invalidf("formats: stix, misp", "unknown export format %q", format))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	cw := &countWriter{w: w}
	if err := n.ExportIOCs(cw, format, f); err != nil {
		n.log.Error("api", "path", r.URL.Path, "err", err)
		if cw.n == 0 {
			writeError(w, err)
			return
		}
		// Part of the document is out: break the reply, so the client
		// sees a cut transfer instead of a short document and success.
		panic(http.ErrAbortHandler)
	}
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
