package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ghostwire/ghostwire/collection"
	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

func (n *Node) registerIOCRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/iocs", n.handle(func(r *http.Request) (int, any, error) {
		var req collection.DropRequest
		if err := decodeBody(r, &req); err != nil {
			return 0, nil, err
		}
		x, err := n.coll.Drop(req)
		return http.StatusCreated, x, err
	}))
	mux.HandleFunc("GET /v1/iocs", n.handle(func(r *http.Request) (int, any, error) {
		f, err := n.iocFilter(r.URL.Query())
		if err != nil {
			return 0, nil, err
		}
		list, err := n.coll.List(f)
		if list == nil {
			list = []*collection.IOC{}
		}
		return http.StatusOK, list, err
	}))
	mux.HandleFunc("POST /v1/iocs/import", n.apiImportIOCs)
	mux.HandleFunc("GET /v1/iocs/export", n.apiExportIOCs)
	mux.HandleFunc("POST /v1/iocs/{id}/fetch", func(w http.ResponseWriter, r *http.Request) {
		wait := 30 * time.Second
		if v := r.URL.Query().Get("wait"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				writeError(w, fault.Invalidf("e.g. wait=30s (at most 2m)", "bad wait: %v", err))
				return
			}
			wait = fetchWait(d)
		}
		n.handle(func(r *http.Request) (int, any, error) {
			// The wait may exceed handle's write deadline.
			http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + apiWriteTimeout))
			x, err := n.FetchIOC(r.Context(), r.PathValue("id"), wait)
			return http.StatusOK, x, err
		})(w, r)
	})
	mux.HandleFunc("GET /v1/iocs/{id}", n.handle(func(r *http.Request) (int, any, error) {
		x, err := n.coll.Show(r.PathValue("id"))
		return http.StatusOK, x, err
	}))
	mux.HandleFunc("DELETE /v1/iocs/{id}", n.handle(func(r *http.Request) (int, any, error) {
		x, err := n.coll.Retract(r.PathValue("id"))
		return http.StatusOK, x, err
	}))
}

// resolveAuthor accepts our own address too (authors need not be peers).
func (n *Node) resolveAuthor(s string) (identity.ID, error) {
	if id, err := identity.ParseID(s); err == nil {
		return id, nil
	}
	return n.peerByName(s)
}

// importRequest reads a collection.ImportRequest from the query string.
func importRequest(q url.Values) collection.ImportRequest {
	req := collection.ImportRequest{Collection: q.Get("collection"), TLP: q.Get("tlp"), Partial: q.Get("partial") != ""}
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
	if err := n.coll.CheckImport(&req); err != nil {
		writeError(w, err)
		return
	}
	// Progress goes out while the body is still being read. Whatever
	// the import did not read is drained (bounded by maxImportBody), so the
	// connection stays usable.
	rc.EnableFullDuplex()
	body := importBody{http.MaxBytesReader(w, r.Body, maxImportBody)}
	defer io.Copy(io.Discard, body)
	enc := json.NewEncoder(w)
	streaming := false
	progress := func(p collection.ImportProgress) {
		if !streaming {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(http.StatusOK)
			streaming = true
		}
		enc.Encode(collection.ImportLine{Progress: &p})
		rc.Flush()
	}
	res, err := n.coll.Import(body, req, progress)
	line := collection.ImportLine{Result: res}
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

// iocFilter reads the list filters from a query string.
func (n *Node) iocFilter(q url.Values) (collection.Filter, error) {
	f := collection.Filter{Collection: q.Get("collection"), TLP: q.Get("tlp"), Type: q.Get("type"), IncludeExpired: q.Get("expired") != ""}
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
	if err := n.coll.Export(cw, format, f); err != nil {
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

// Import limits (docs/api.md, docs/ioc.md §7).
const (
	// maxImportBody bounds one import upload. ioc.Import holds one JSON
	// object at a time, so memory follows the records, not this.
	maxImportBody = 1 << 30
	// importTimeout bounds reading and answering one import.
	importTimeout = 30 * time.Minute
)

// importBody is an import's request body: past maxImportBody its reads
// fail with a fault the import passes on (TooLarge, 413).
type importBody struct{ r io.Reader }

func (b importBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = &fault.Error{Kind: fault.TooLarge, Msg: fmt.Sprintf("import is larger than %d bytes", maxImportBody), Hint: "split the file"}
	}
	return n, err
}
