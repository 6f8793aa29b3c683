package collection

import (
	"errors"
	"fmt"
	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/ioc"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/store"
	"io"
	"runtime/debug"
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

// Import reads a STIX 2.1 bundle or MISP JSON from r and signs and stores
// its records (docs/ioc.md §7), with memory bounded by its limits, not by
// the input:
//   - the input is spooled to an encrypted scratch file and read twice
//     with ioc.ImportStreamPrescan: once whole, to check it, then to store it. If
//     any object failed and req.Partial is false it stores nothing and
//     returns the result with a 422 error naming the failures: never a
//     silent partial import;
//   - records are stored in batches, each one store transaction together
//     with the import's record (Imports), so a crash leaves either nothing
//     of the import or a record saying exactly how much is stored;
//   - an import of the same input with the same options as one that was
//     interrupted (or failed while storing) skips what that one stored and
//     goes on under its record.
//
// progress, if set, is called while uploading, reading and storing.
func (s *Service) Import(r io.Reader, req ImportRequest, progress func(ImportProgress)) (*ImportResult, error) {
	opts, keys, err := s.importParams(&req)
	if err != nil {
		return nil, err
	}
	var upload func(int64)
	if progress != nil {
		upload = func(n int64) { progress(ImportProgress{Phase: "upload", Bytes: n}) }
		opts.Progress = func(p ioc.Progress) {
			if !p.Done {
				progress(ImportProgress{Phase: "read", Objects: p.Objects, Records: p.Records, Bytes: p.Bytes, Rate: p.Rate()})
			}
		}
	}
	sp, err := newSpool(s.h.SpoolDir(), r, upload)
	if err != nil {
		return nil, err
	}
	defer sp.Close()
	out := &ImportResult{ByType: map[string]int{}, ByTLP: map[string]int{}}
	// Read with a prescan (ioc.ImportStreamPrescan): a MISP event of a
	// million attributes, its tags at its end as MISP writes them, then
	// streams instead of being refused for what would wait.
	res, err := ioc.ImportStreamPrescan(sp.reader, opts, importBatch, func(recs []ioc.Record) error {
		out.Records += len(recs)
		for i := range recs {
			out.ByType[recs[i].Type.String()]++
			out.ByTLP[recs[i].TLP.Name()]++
		}
		return nil
	})
	if err != nil {
		if fault.KindOf(err) == fault.TooLarge { // the reader's limit
			return nil, err
		}
		return nil, fault.New(fault.Malformed, "give a STIX 2.x bundle or list of objects, or MISP JSON (docs/ioc.md §5, §6)", "%v", err)
	}
	out.Format, out.Objects, out.Merged = res.Format.String(), res.Objects, res.Merged
	out.Unlisted = res.Unlisted[0] + res.Unlisted[1] + res.Unlisted[2]
	for _, i := range res.Issues {
		out.Issues = append(out.Issues, ImportIssue{Severity: i.Severity.String(), Where: i.Where, ID: i.ID, Type: i.Type, Reason: i.Reason})
		if i.Severity == ioc.Failed {
			out.Failed++
		}
	}
	out.Failed += res.Unlisted[ioc.Failed-1]
	if ierr := res.Err(); ierr != nil && !req.Partial {
		return out, &fault.Error{Kind: fault.ImportFailed,
			Msg:  fmt.Sprintf("%d objects failed; nothing was stored", out.Failed),
			Hint: "see the issues; fix them, or import what converted with --partial"}
	}
	if out.Records == 0 {
		out.Committed = true
		return out, nil
	}
	if err := s.addCollection(req.Collection); err != nil {
		return out, err
	}
	rec, err := s.importRecord(sp, req, out.Records)
	if err != nil {
		return out, err
	}
	if !s.imports.start(rec.ID) {
		return out, &fault.Error{Kind: fault.Busy, Msg: "the same import is running already",
			Hint: "wait for it to end; see ghostwire ioc import --status"}
	}
	defer s.imports.end(rec.ID)
	if err := s.saveImport(rec); err != nil {
		return out, err
	}
	out.Import, out.Resumed = rec.ID, rec.Stored
	w := &importWriter{s: s, rec: rec, keys: keys, sp: item.CollectionSpace(req.Collection), adm: s.h.Admission(),
		out: out, progress: progress, start: time.Now(), collection: req.Collection}
	opts.Progress = nil
	stop := s.releasing()
	restoreGC := s.imports.lowerGC()
	_, err = ioc.ImportStreamPrescan(sp.reader, opts, importBatch, w.window)
	if err == nil {
		err = w.flush()
	}
	restoreGC()
	stop()
	if err != nil {
		if errors.Is(err, errStopImport) {
			err = w.err
		}
		rec.State, rec.Error, rec.Updated = importFailed, err.Error(), nowUTC(s.h.Now())
		if serr := s.saveImport(rec); serr != nil {
			s.h.Log().Warn("import: cannot record the failure", "import", rec.ID, "err", serr)
		}
		return out, err
	}
	rec.State, rec.Error, rec.Updated = importDone, "", nowUTC(s.h.Now())
	if err := s.saveImport(rec); err != nil {
		return out, err
	}
	out.Committed = true
	s.settle()
	return out, nil
}

// releaseEvery is how often an import that is storing drops the store's
// mapped pages from resident memory (store.ReleaseMapped): badger's
// compactions, on goroutines of their own, read ever more of the tables
// while an import stores, and every page they touch stays resident until
// released. A second of compaction touches some tens of MB; a release
// costs a read of /proc/self/maps and a few system calls.
const releaseEvery = 200 * time.Millisecond

// releasing releases the store's mapped pages every releaseEvery until the
// returned stop is called; stop returns once the goroutine has ended.
func (s *Service) releasing() (stop func()) {
	done, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(releaseEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s.h.Store().ReleaseMapped()
			}
		}
	}()
	return func() { close(done); <-ended }
}

// settle gives back to the system, once an import ends, what it used and
// the node idle after it does not need: the store's mapped pages and the
// garbage the import left on the heap (the runtime returns freed heap to
// the system only slowly on its own). One forced collection per import is
// cheap beside the import.
func (s *Service) settle() {
	s.h.Store().ReleaseMapped()
	debug.FreeOSMemory()
}

// importRecord finds the interrupted import this one resumes, or makes a
// new record, as running; the caller saves it once it is marked running
// here (imports.start), so a listing never shows it interrupted.
func (s *Service) importRecord(sp *spool, req ImportRequest, records int) (*storedImport, error) {
	params := importParams(&req)
	rec, err := s.resumable(sp.sum, params)
	if err != nil {
		return nil, err
	}
	now := nowUTC(s.h.Now())
	if rec == nil {
		rec = &storedImport{ImportRecord: ImportRecord{ID: newImportID(), Started: now}, Params: params}
	}
	rec.Source, rec.SHA256, rec.Collection, rec.Records = req.Source, sp.sum, req.Collection, records
	rec.State, rec.Error, rec.Updated = importRunning, "", now
	return rec, nil
}

// importWriter stores an import's records in batches (Import).
type importWriter struct {
	s          *Service
	rec        *storedImport
	keys       []*recipient.PublicKey
	sp         item.Space
	collection string
	adm        Admission
	out        *ImportResult
	progress   func(ImportProgress)
	start      time.Time

	seen    int // records of the stream seen so far
	entries []store.Entry
	exp     []item.Expiry
	size    int
	err     error // why the stream was stopped (errStopImport)
}

// window takes one window of records from the stream: those an earlier
// run stored already are skipped, the others signed and queued, and each
// batch that would grow past one transaction is stored first.
func (w *importWriter) window(recs []ioc.Record) error {
	for i := range recs {
		w.seen++
		if w.seen <= w.rec.Stored {
			continue
		}
		it, err := w.s.iocItem(w.collection, w.s.h.Now(), &recs[i], w.keys)
		if err != nil {
			return w.stop(fmt.Errorf("import: signing record %d: %w (%d records stored before it)", w.seen, err, w.rec.Stored))
		}
		scopes, err := ScopesOf(it)
		if err != nil {
			return w.stop(err)
		}
		if err := w.adm.Admit(it, scopes); err != nil {
			// Keep what was admitted before it, committed with the
			// record; the reply and the record say how much.
			if ferr := w.flush(); ferr != nil {
				return w.stop(ferr)
			}
			return w.stop(refusedHere(w.collection, fmt.Errorf("record %d: %w; %d records stored before it", w.seen, err, w.rec.Stored)))
		}
		e := store.Entry{Item: it, Scopes: scopes}
		// A batch ends where it would pass one transaction, at importBatch
		// records, and at every ImportProgressEvery records stored, so that
		// progress is reported at the same counts whatever the batches' sizes.
		full := len(w.entries) >= importBatch || len(w.entries) > 0 && (w.rec.Stored+len(w.entries))%ImportProgressEvery == 0
		if n := store.EntrySize(e); full || w.size+n > w.s.h.Store().MaxAtomicBytes() {
			if err := w.flush(); err != nil {
				return w.stop(err)
			}
		}
		w.entries = append(w.entries, e)
		w.size += store.EntrySize(e)
		if u := recs[i].ValidUntil; !u.IsZero() {
			w.exp = append(w.exp, item.Expiry{ID: it.ID(), Until: u})
		}
	}
	return nil
}

func (w *importWriter) stop(err error) error {
	w.err = err
	return errStopImport
}

// flush stores the queued batch and the import's progress in one
// transaction.
func (w *importWriter) flush() error {
	if len(w.entries) == 0 {
		return nil
	}
	rec := *w.rec
	rec.Stored += len(w.entries)
	rec.Batches++
	rec.Updated = nowUTC(w.s.h.Now())
	added, err := w.s.h.PublishAtomic(w.entries, w.exp, func(tx *store.Tx) error { return putImport(tx, &rec) })
	if err != nil {
		return fmt.Errorf("import: storing: %w (%d records stored before this batch)", err, w.rec.Stored)
	}
	before := w.rec.Stored
	*w.rec = rec
	w.out.Stored += added
	w.entries, w.exp, w.size = w.entries[:0], w.exp[:0], 0
	if w.progress != nil && (rec.Stored/ImportProgressEvery > before/ImportProgressEvery || rec.Stored == rec.Records) {
		w.progress(ImportProgress{Phase: "store", Objects: w.out.Objects, Records: rec.Stored, Stored: w.out.Stored,
			Rate: float64(rec.Stored-w.out.Resumed) / max(time.Since(w.start).Seconds(), 1e-9)})
	}
	return nil
}

// Export formats (docs/ioc.md §5.3, §6.2, §6.3).
const (
	FormatSTIX     = "stix"
	FormatMISP     = "misp"
	FormatMISPFeed = "misp-feed" // one collection's event of a MISP feed
)

// CheckExportFormat refuses an unknown format before anything is written.
func CheckExportFormat(format string, f Filter) error {
	switch format {
	case FormatSTIX, FormatMISP, "":
		return nil
	case FormatMISPFeed:
		if f.Collection == "" {
			return fault.Invalidf("name the collection: a feed has one event per collection", "a misp-feed export needs a collection")
		}
		return nil
	}
	return fault.Invalidf("formats: stix, misp, misp-feed", "unknown export format %q", format)
}

// exportGroupKeys is about how many content index entries Export reads
// per store snapshot (a group of one indicator's entries is never split).
const exportGroupKeys = 1024

// Export writes the IOCs List would list for f as one STIX 2.1 bundle or
// one MISP event, streamed: it walks the content index in content-ID order
// (the order ExportSTIX writes), one indicator's statements at a time, and
// writes the newest current statement of each, so memory does not grow
// with the collection. In STIX an indicator whose statements were all
// retracted is written revoked (docs/protocol.md §5.7); MISP has no
// revoked attribute, so MISP leaves it out.
func (s *Service) Export(w io.Writer, format string, f Filter) error {
	if err := CheckExportFormat(format, f); err != nil {
		return err
	}
	s.indexBefore()
	spaces := map[item.Space]bool{}
	for _, n := range s.Names() {
		if f.Collection == "" || f.Collection == n {
			spaces[item.CollectionSpace(n)] = true
		}
	}
	var write func(e *ioc.Entry, revoked time.Time) error
	var closer func() error
	switch format {
	case FormatSTIX, "":
		sw := ioc.NewSTIXWriter(w)
		write, closer = sw.Write, sw.Close
	default:
		ev := ioc.MISPEvent{}
		if format == FormatMISPFeed {
			ev = ioc.MISPEvent{UUID: ioc.FeedEventUUID(f.Collection), Info: "GhostWire collection " + f.Collection, Org: "GhostWire"}
		}
		mw := ioc.NewMISPWriter(w, ev)
		write = func(e *ioc.Entry, revoked time.Time) error {
			if !revoked.IsZero() {
				return nil
			}
			return mw.Write(e)
		}
		closer = mw.Close
	}
	var from []byte
	for {
		var keys [][]byte
		var next []byte
		err := s.h.Store().View(func(tx *store.Tx) error {
			return tx.ScanKeysFrom(bucketContent, nil, from, func(k []byte) error {
				if len(k) != 2*item.IDSize {
					return nil
				}
				if len(keys) >= exportGroupKeys && string(k[:item.IDSize]) != string(keys[len(keys)-1][:item.IDSize]) {
					next = append([]byte(nil), k...)
					return store.ErrStop
				}
				keys = append(keys, append([]byte(nil), k...))
				return nil
			})
		})
		if err != nil {
			return err
		}
		for i := 0; i < len(keys); {
			j := i + 1
			for j < len(keys) && string(keys[j][:item.IDSize]) == string(keys[i][:item.IDSize]) {
				j++
			}
			e, revoked, ok, err := s.exportGroup(keys[i:j], spaces, f)
			if err != nil {
				return err
			}
			if ok {
				if err := write(&e, revoked); err != nil {
					return err
				}
			}
			i = j
		}
		if next == nil {
			return closer()
		}
		from = next
	}
}

// exportGroup picks what Export writes of one indicator, given its content
// index keys: per author and collection the current statement, then among
// those that pass f the newest (ioc.pick's rule); failing that, a
// retraction that passes f, whose Entry is what it retracted.
func (s *Service) exportGroup(keys [][]byte, spaces map[item.Space]bool, f Filter) (ioc.Entry, time.Time, bool, error) {
	type key struct {
		a  identity.ID
		sp item.Space
	}
	type live struct {
		it *item.Item
		r  ioc.Record
	}
	current := map[key]live{}
	retracted := map[key]struct {
		e ioc.Entry
		t time.Time
	}{}
	now := s.h.Now()
	var held []item.ID // the statements in spaces, whose sightings are the indicator's
	for _, k := range keys {
		id := item.ID(k[item.IDSize:])
		it, dead, err := s.h.Store().GetItem(id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			s.h.Store().SkipDamaged(id, err) // one damaged item never fails the export
			continue
		}
		if dead {
			tf, ok, err := s.factsOf(id)
			if err != nil {
				return ioc.Entry{}, time.Time{}, false, err
			}
			if ok && !tf.retraction && spaces[tf.space] {
				held = append(held, id)
				r := ioc.Record{Type: tf.typ, Value: tf.value, TLP: tf.tlp, Confidence: ioc.NoConfidence}
				retracted[key{tf.author, tf.space}] = struct {
					e ioc.Entry
					t time.Time
				}{ioc.Entry{Record: r, Author: tf.author, Created: tf.created}, it.Created()}
			}
			continue
		}
		if !spaces[it.Space()] {
			continue
		}
		r, err := s.record(it)
		if err != nil {
			continue
		}
		held = append(held, id)
		kk := key{it.Author(), it.Space()}
		if old, ok := current[kk]; ok && !item.VersionOf(it).Newer(item.VersionOf(old.it)) {
			continue
		}
		current[kk] = live{it, r}
	}
	pass := func(r *ioc.Record, author identity.ID, created time.Time) bool {
		return (f.TLP == "" || r.TLP.Name() == f.TLP) && (f.Type == "" || r.Type.String() == f.Type) &&
			(f.Author == nil || *f.Author == author) && !created.Before(f.Since)
	}
	var best *ioc.Entry
	better := func(e *ioc.Entry) bool {
		return best == nil || e.Created.After(best.Created) || e.Created.Equal(best.Created) && e.Author.Compare(best.Author) > 0
	}
	for _, l := range current {
		e := ioc.Entry{Record: l.r, Author: l.it.Author(), Created: l.it.Created()}
		if (l.r.Expired(now) && !f.IncludeExpired) || !pass(&l.r, e.Author, e.Created) {
			continue
		}
		// The source's trust: below MinTrust it is left out, and STIX
		// confidence is discounted by it (docs/reputation.md).
		score, keep := f.trusted(e.Author)
		if !keep {
			continue
		}
		e.SourceTrust = score
		if better(&e) {
			best = &e
		}
	}
	if best != nil {
		best.Sightings = f.Sightings.of(held)
		return *best, time.Time{}, true, nil
	}
	var when time.Time
	for k, x := range retracted {
		if _, ok := current[k]; ok || !pass(&x.e.Record, x.e.Author, x.e.Created) {
			continue
		}
		if better(&x.e) {
			e := x.e
			best, when = &e, x.t
		}
	}
	if best != nil {
		best.Sightings = f.Sightings.of(held)
		return *best, when, true, nil
	}
	return ioc.Entry{}, time.Time{}, false, nil
}
