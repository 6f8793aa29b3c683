// Package localapi is the node's local API (docs/api.md): HTTP/1.1 with
// JSON bodies on a Unix socket in the data directory. It owns the routes
// (one table, routes), the mapping of the node's errors to statuses (one
// table, statusOf), and the typed Client the CLI uses; the values both sides
// carry are localapi/apitype's.
//
// localapi imports node, never the reverse: the node's methods return typed
// errors (*fault.Error) and know nothing of HTTP. No package below this one
// imports net/http (rules_test.go).
package localapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/node"
)

// API limits (docs/api.md).
const (
	maxRequestBody    = 64 << 10
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	followMaxDuration = 24 * time.Hour
	// maxImportBody bounds one import upload. The import spools it to
	// disk and holds a window of records at a time (collection.Import), so
	// memory follows neither this nor the records; this bounds the scratch
	// file's disk space.
	maxImportBody = 4 << 30
	// importTimeout bounds reading and answering one import or export.
	importTimeout = 30 * time.Minute
	// maxWorking bounds the requests the node works on at once; one more
	// waits for a place at most AnswerDeadline, then is told "busy".
	maxWorking = 32
	// maxBulk bounds the imports and exports running at once, and
	// maxFollowing the --follow streams: past them a request is told
	// "busy" at once.
	maxBulk      = 2
	maxFollowing = 1024
	// maxListing bounds the streamed listings (GET /v1/iocs) at once.
	maxListing = 8
)

// AnswerDeadline is how soon every reply starts (docs/api.md): the node's
// answer, or 503 "busy". The CLI waits longer than this (30 s), so that a
// slow node is reported as busy, not as not running.
const AnswerDeadline = 10 * time.Second

// Kinds of error the API itself reports, besides the node's (fault.Kind).
const (
	kindMethod    fault.Kind = "method_not_allowed"
	kindMediaType fault.Kind = "unsupported_media_type"
)

// statusOf is the HTTP status of each kind of error: the one place where
// a failure becomes a status. An error without a kind is the node's own
// failure, a 500.
var statusOf = map[fault.Kind]int{
	fault.Invalid:         http.StatusBadRequest,
	fault.NeedsRecipients: http.StatusBadRequest,
	fault.NotFound:        http.StatusNotFound,
	fault.UnknownPeer:     http.StatusNotFound,
	fault.UnknownName:     http.StatusNotFound,
	fault.UnknownIOC:      http.StatusNotFound,
	fault.NotSynced:       http.StatusNotFound,
	fault.TooLarge:        http.StatusRequestEntityTooLarge,
	fault.ImportFailed:    http.StatusUnprocessableEntity,
	fault.Malformed:       http.StatusUnprocessableEntity,
	fault.Full:            http.StatusInsufficientStorage,
	fault.Busy:            http.StatusServiceUnavailable,
	fault.DiskFull:        http.StatusInsufficientStorage,
	kindMethod:            http.StatusMethodNotAllowed,
	kindMediaType:         http.StatusUnsupportedMediaType,
}

// ErrorBody is the JSON of an error reply. Kind is a fault.Kind (or one of
// the API's own), which a client may branch on.
type ErrorBody struct {
	Error string     `json:"error"`
	Hint  string     `json:"hint,omitempty"`
	Kind  fault.Kind `json:"kind,omitempty"`
}

// ImportLine is one line of the import reply (application/x-ndjson):
// progress lines, then one line with the result, an error, or both.
type ImportLine struct {
	Progress *node.ImportProgress `json:"progress,omitempty"`
	Result   *node.ImportResult   `json:"result,omitempty"`
	Error    string               `json:"error,omitempty"`
	Hint     string               `json:"hint,omitempty"`
	Kind     fault.Kind           `json:"kind,omitempty"`
}

// Listen creates the Unix socket at path with mode 0600: only this user can
// talk to the node. A stale socket from a crashed run is replaced; the data
// directory's lock (held by the caller) guarantees it is not a live one.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	os.Remove(path)
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path) // cloak:allow the local API's Unix socket
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("localapi: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// Serve answers API requests on ln (from Listen) with n until ctx ends,
// then stops accepting, gives requests in flight 2 s, and removes the
// socket.
func Serve(ctx context.Context, ln net.Listener, n *node.Node, log *slog.Logger) error {
	return newServer(n, log).serve(ctx, ln)
}

func (s *server) serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler(),
		ReadHeaderTimeout: readTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	err := srv.Serve(ln)
	<-done
	s.work.Wait() // work whose reply was "busy", still running: it uses the node
	if a, ok := ln.Addr().(*net.UnixAddr); ok {
		os.Remove(a.Name)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// RunNode runs n and serves its API on ln (from Listen) until ctx ends or
// either fails, and returns once both have stopped, so the caller may then
// close the store.
func RunNode(ctx context.Context, n *node.Node, ln net.Listener, log *slog.Logger) error {
	return newServer(n, log).run(ctx, ln)
}

func (s *server) run(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	apiErr := make(chan error, 1)
	go func() {
		apiErr <- s.serve(ctx, ln)
		cancel()
	}()
	err := s.n.Run(ctx)
	cancel()
	if aerr := <-apiErr; err == nil {
		err = aerr
	}
	return err
}

// server is the API over one node.
type server struct {
	n   *node.Node
	log *slog.Logger
	// deadline is how soon every reply starts: AnswerDeadline, shorter in
	// tests.
	deadline time.Duration
	// working, bulk, following and listing hold one token per request of
	// their kind in progress (maxWorking, maxBulk, maxFollowing, maxListing).
	working, bulk, following, listing chan struct{}
	// work counts the requests still being worked on, including those
	// already answered "busy" (answer); Serve waits for them.
	work sync.WaitGroup
}

func newServer(n *node.Node, log *slog.Logger) *server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &server{n: n, log: log, deadline: AnswerDeadline, working: make(chan struct{}, maxWorking),
		bulk: make(chan struct{}, maxBulk), following: make(chan struct{}, maxFollowing), listing: make(chan struct{}, maxListing)}
}

// errBusy is the reply of a request the node could not answer within the
// deadline.
func errBusy(d time.Duration, what string) error {
	return &fault.Error{Kind: fault.Busy, Msg: fmt.Sprintf("the node is busy: %s", what),
		Hint: fmt.Sprintf("try again in a moment (the node answers within %v or says it is busy); a request that was sent may still take effect", d)}
}

// enter takes a token of sem without waiting, or answers busy.
func (s *server) enter(w http.ResponseWriter, r *http.Request, sem chan struct{}, what string) (leave func(), ok bool) {
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, true
	default:
		s.writeError(w, r, errBusy(s.deadline, what))
		return nil, false
	}
}

// answer runs fn and writes its reply, or, if fn has not returned within
// deadline (or no place among maxWorking freed up by then), answers 503
// "busy" at the deadline. fn then goes on to its end in the background,
// holding its place, so what a slow node works on stays bounded; its
// result is dropped. This does not cancel the work (a store write cannot
// be taken back half way); it keeps the promise that every reply starts
// SkippedHeader, on a reply, counts the stored items the node left out of
// it because the disk damaged them (docs/storage.md): a listing that is
// short by those items says so instead of looking complete. The count is
// of items skipped while the request ran, so a listing running at the same
// time may add to it.
const SkippedHeader = "Ghostwire-Skipped"

// in time.
func (s *server) answer(w http.ResponseWriter, r *http.Request, deadline time.Duration, fn func(s *server, r *http.Request) (int, any, error)) {
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	select {
	case s.working <- struct{}{}:
	case <-timer.C:
		s.writeError(w, r, errBusy(deadline, fmt.Sprintf("%d requests in progress, none ended within %v", maxWorking, deadline)))
		return
	case <-r.Context().Done():
		return
	}
	type reply struct {
		code    int
		v       any
		err     error
		skipped int64 // stored items the answer left out as unreadable
	}
	done := make(chan reply, 1)
	s.work.Add(1)
	go func() {
		defer s.work.Done()
		defer func() { <-s.working }()
		before := s.n.Skipped()
		code, v, err := fn(s, r)
		done <- reply{code, v, err, s.n.Skipped() - before}
	}()
	select {
	case rep := <-done:
		if rep.err != nil {
			s.writeError(w, r, rep.err)
			return
		}
		if rep.skipped > 0 {
			w.Header().Set(SkippedHeader, strconv.FormatInt(rep.skipped, 10))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rep.code)
		if rep.v != nil {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			enc.Encode(rep.v)
		}
	case <-timer.C:
		s.writeError(w, r, errBusy(deadline, fmt.Sprintf("no answer within %v", deadline)))
	}
}

// route is one endpoint: a ServeMux pattern and its handler. Most handlers
// are JSON in, JSON out (jsonHandler); the streaming ones (follow, import,
// export, fetch's long wait) write their own reply.
type route struct {
	pattern string
	handler func(s *server) http.HandlerFunc
}

// routes is the whole API (docs/api.md), made afresh for each Handler.
func routes() []route {
	return append([]route{
		{"GET /v1/status", jsonHandler((*server).status)},
		{"GET /v1/peers", jsonHandler((*server).peers)},
		{"POST /v1/peers", jsonHandler((*server).addPeer)},
		{"DELETE /v1/peers/{peer}", jsonHandler((*server).removePeer)},
		{"POST /v1/pair", jsonHandler((*server).offerPairing)},
		{"POST /v1/pair/wait", func(s *server) http.HandlerFunc { return s.pairLong((*server).waitPairing) }},
		{"POST /v1/pair/join", func(s *server) http.HandlerFunc { return s.pairLong((*server).joinPairing) }},
		{"POST /v1/peers/{peer}/verify", jsonHandler((*server).verifyPeer)},
		{"POST /v1/peers/{peer}/block", jsonHandler((*server).blockPeer)},
		{"POST /v1/peers/{peer}/unblock", jsonHandler((*server).unblockPeer)},
		{"GET /v1/keys", jsonHandler((*server).keyList)},
		{"POST /v1/keys/rotate", jsonHandler((*server).rotateKey)},
		{"POST /v1/keys/{key}/revoke", jsonHandler((*server).revokeKey)},
		{"POST /v1/identity/revoke", jsonHandler((*server).revokeIdentity)},
		{"GET /v1/requests", jsonHandler((*server).requests)},
		{"POST /v1/requests/{peer}/accept", jsonHandler((*server).acceptRequest)},
		{"POST /v1/requests/{peer}/ignore", jsonHandler((*server).ignoreRequest)},
		{"GET /v1/messages", func(s *server) http.HandlerFunc { return s.messages }},
		{"POST /v1/messages", jsonHandler((*server).sendMessage)},
		{"POST /v1/iocs", jsonHandler((*server).dropIOC)},
		{"GET /v1/iocs", func(s *server) http.HandlerFunc { return s.listIOCs }},
		{"GET /v1/iocs/feed", jsonHandler((*server).feed)},
		{"POST /v1/iocs/import", func(s *server) http.HandlerFunc { return s.importIOCs }},
		{"GET /v1/iocs/export", func(s *server) http.HandlerFunc { return s.exportIOCs }},
		{"GET /v1/iocs/imports", jsonHandler((*server).imports)},
		{"POST /v1/iocs/{id}/fetch", func(s *server) http.HandlerFunc { return s.fetchIOC }},
		{"GET /v1/iocs/{id}", jsonHandler((*server).showIOC)},
		{"DELETE /v1/iocs/{id}", jsonHandler((*server).retractIOC)},
		{"GET /v1/collections", jsonHandler((*server).collections)},
		{"PUT /v1/collections/{name}/writers", jsonHandler((*server).setWriters)},
		{"POST /v1/iocs/{id}/sightings", jsonHandler((*server).sightIOC)},
		{"POST /v1/peers/{peer}/rating", jsonHandler((*server).ratePeer)},
		{"GET /v1/trust", jsonHandler((*server).trust)},
	}, roomRoutes()...)
}

// Handler returns the local API over n; log (nil: discard) receives the
// node's own failures.
func Handler(n *node.Node, log *slog.Logger) http.Handler { return newServer(n, log).handler() }

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	for _, r := range routes() {
		mux.HandleFunc(r.pattern, r.handler(s))
	}
	// Anything no route takes lands here: a JSON 405 (with Allow) if the
	// path exists under another method, else a JSON 404.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			s.writeError(w, r, &fault.Error{Kind: kindMethod, Msg: "method not allowed: " + r.Method + " " + r.URL.Path,
				Hint: "allowed: " + strings.Join(allow, ", ")})
			return
		}
		s.writeError(w, r, &fault.Error{Kind: fault.NotFound, Msg: "no such endpoint: " + r.Method + " " + r.URL.Path,
			Hint: "see docs/api.md for the endpoints"})
	})
	return mux
}

// errorReply is err as a reply: its status and body. An error that is not
// a *fault.Error is the node's own failure: logged, and a 500.
func (s *server) errorReply(r *http.Request, err error) (int, ErrorBody) {
	var e *fault.Error
	if !errors.As(err, &e) {
		s.log.Error("api", "path", r.URL.Path, "err", err)
		return http.StatusInternalServerError, ErrorBody{Error: err.Error()}
	}
	status, ok := statusOf[e.Kind]
	if !ok {
		panic("bug: localapi: no status for error kind " + string(e.Kind))
	}
	return status, ErrorBody{Error: e.Msg, Hint: e.Hint, Kind: e.Kind}
}

func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := s.errorReply(r, err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

// jsonHandler adapts a method that returns (status, value, error) to a
// handler that writes JSON, within the server's deadline (answer).
func jsonHandler(fn func(s *server, r *http.Request) (int, any, error)) func(s *server) http.HandlerFunc {
	return func(s *server) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.deadline + writeTimeout))
			s.answer(w, r, s.deadline, fn)
		}
	}
}

func invalid(hint, format string, a ...any) error {
	return &fault.Error{Kind: fault.Invalid, Msg: fmt.Sprintf(format, a...), Hint: hint}
}

// checkJSON refuses a body that says it is something other than JSON.
func checkJSON(r *http.Request) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &fault.Error{Kind: kindMediaType, Msg: "body must be application/json"}
	}
	return nil
}

// decodeBody reads a JSON body of at most maxRequestBody bytes into v,
// refusing unknown fields, trailing data and bytes that are not UTF-8:
// encoding/json would turn those into U+FFFD without a word, and a message
// or a name would be stored other than the client sent it (the CLI refuses
// them before sending; this guards every other client).
func decodeBody(r *http.Request, v any) error {
	if err := checkJSON(r); err != nil {
		return err
	}
	raw, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxRequestBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &fault.Error{Kind: fault.TooLarge, Msg: fmt.Sprintf("body is larger than %d bytes", maxRequestBody),
				Hint: "shorten it: a request body is at most 64 KiB (docs/api.md); names are at most 128 bytes, and a longer text goes in several messages"}
		}
		return invalid("send the whole body", "reading the body: %v", err)
	}
	if !utf8.Valid(raw) {
		i := 0
		for i < len(raw) {
			c, size := utf8.DecodeRune(raw[i:])
			if c == utf8.RuneError && size <= 1 {
				break
			}
			i += size
		}
		return invalid("send UTF-8 text (convert it first, e.g. with iconv)", "the body is not UTF-8 (first bad byte at offset %d)", i)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("send a JSON object as docs/api.md describes", "malformed JSON body: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("send exactly one JSON object", "trailing data after the JSON body")
	}
	return nil
}
