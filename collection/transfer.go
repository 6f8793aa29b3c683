package collection

import (
	"fmt"
	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/ioc"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/store"
	"io"
	"time"
)

// Import limits (docs/api.md, docs/ioc.md §7).
const (
	// importBatch is how many records are signed and stored per
	// store.PutItems call: bounded memory for items and entries, and
	// progress between batches. (Batches of 100 and 1,000 measured the
	// same once PutItems stopped scanning inside its transaction; see
	// BenchmarkIOCImport100k.)
	importBatch = 1000
	// ImportProgressEvery is how many stored records a store progress line
	// reports.
	ImportProgressEvery = 1000
)

// ImportRequest is how POST /v1/iocs/import is parameterised (its query).
type ImportRequest = apitype.ImportRequest

// ImportIssue is an object that was skipped, imported in part, or failed.
type ImportIssue = apitype.ImportIssue

// ImportResult is what an import read and stored.
type ImportResult = apitype.ImportResult

// ImportProgress is one progress report of an import.
type ImportProgress = apitype.ImportProgress

// importParams checks an import request before any input is read.
// CheckImport checks an import's parameters before its input is read.
func (s *Service) CheckImport(req *ImportRequest) error {
	_, _, err := s.importParams(req)
	return err
}

func (s *Service) importParams(req *ImportRequest) (ioc.ImportOptions, []*recipient.PublicKey, error) {
	var opts ioc.ImportOptions
	if req.Collection == "" {
		req.Collection = Default
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
			return opts, nil, fault.New(fault.NeedsRecipients, "name the recipients in to", "TLP %s needs recipients", t)
		}
	}
	ids, keys, err := s.recipientKeys(req.To)
	if err != nil {
		return opts, nil, err
	}
	opts.Recipients = ids
	return opts, keys, nil
}

// Import reads a STIX 2.1 bundle or MISP JSON from r (ioc.Import),
// then signs and stores every record in batches. If any object failed and
// req.Partial is false it stores nothing and returns the result with a
// 422 error naming the failures: never a silent partial import. progress,
// if set, is called while reading and while storing.
func (s *Service) Import(r io.Reader, req ImportRequest, progress func(ImportProgress)) (*ImportResult, error) {
	opts, keys, err := s.importParams(&req)
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
		if fault.KindOf(err) == fault.TooLarge { // the reader's limit
			return nil, err
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
		return out, &fault.Error{Kind: fault.ImportFailed,
			Msg:  fmt.Sprintf("%d objects failed; nothing was stored", out.Failed),
			Hint: "see the issues; fix them, or import what converted with --partial"}
	}
	if err := s.addCollection(req.Collection); err != nil {
		return out, err
	}
	sp := item.CollectionSpace(req.Collection)
	adm := s.h.Admission()
	start := time.Now()
	for i := 0; i < len(res.Records); i += importBatch {
		batch := res.Records[i:min(i+importBatch, len(res.Records))]
		entries := make([]store.Entry, 0, len(batch))
		var exp []item.Expiry
		for j := range batch {
			it, err := s.iocItem(sp, s.h.Now(), &batch[j], keys)
			if err != nil {
				return out, fmt.Errorf("import: signing record %d: %w (%d items stored before it)", i+j, err, out.Stored)
			}
			scopes, err := ScopesOf(it)
			if err != nil {
				return out, err
			}
			if err := adm.Admit(it, scopes); err != nil {
				// Keep what was admitted before it, as a batch that fails
				// to store does; the reply says how much.
				added, perr := s.h.Publish(entries, exp)
				out.Stored += added
				if perr != nil {
					return out, fmt.Errorf("import: storing: %w (%d items stored before this batch)", perr, out.Stored)
				}
				return out, refusedHere(req.Collection, fmt.Errorf("record %d: %w; %d items stored before it", i+j, err, out.Stored))
			}
			entries = append(entries, store.Entry{Item: it, Scopes: scopes})
			if u := batch[j].ValidUntil; !u.IsZero() {
				exp = append(exp, item.Expiry{ID: it.ID(), Until: u})
			}
		}
		added, err := s.h.Publish(entries, exp)
		if err != nil {
			return out, fmt.Errorf("import: storing: %w (%d items stored before this batch)", err, out.Stored)
		}
		out.Stored += added
		if done := i + len(batch); progress != nil && (done%ImportProgressEvery == 0 || done == len(res.Records)) {
			progress(ImportProgress{Phase: "store", Objects: res.Objects, Records: done, Stored: out.Stored,
				Rate: float64(done) / max(time.Since(start).Seconds(), 1e-9)})
		}
	}
	out.Committed = true
	return out, nil
}

// Export writes the IOCs List would list for f as one STIX 2.1 bundle
// or one MISP event.
func (s *Service) Export(w io.Writer, format string, f Filter) error {
	ls, err := s.currentIOCs(f)
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
