package node

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ghostwire/ghostwire/ioc"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/store"
)

// Import limits (docs/ioc.md §7).
const (
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

// CheckImport checks an import's parameters before any input is read, so
// a bad request is refused before its upload is taken.
func (n *Node) CheckImport(req ImportRequest) error {
	_, _, err := n.importParams(&req)
	return err
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
			return opts, nil, badRequest("TLP is clear, green, amber, amber+strict or red", "%v", err)
		}
		opts.DefaultTLP = t
		if t.Restricted() && len(req.To) == 0 {
			return opts, nil, errorf(NeedsRecipients, "name the recipients in to", "TLP %s needs recipients", t)
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
// req.Partial is false it stores nothing and returns the result with an
// ImportFailed error naming the failures: never a silent partial import. progress,
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
		var e *Error
		if errors.As(err, &e) { // the reader's own, such as a size limit
			return nil, e
		}
		return nil, badRequest("give a STIX 2.1 bundle or MISP event JSON (docs/ioc.md §5, §6)", "%v", err)
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
		return out, errorf(ImportFailed, "see the issues; fix them, or import what converted with partial",
			"%d objects failed; nothing was stored", out.Failed)
	}
	if err := n.addCollection(req.Collection); err != nil {
		return out, err
	}
	sp := collectionSpace(req.Collection)
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
	return badRequest("formats: stix, misp", "unknown export format %q", format)
}
