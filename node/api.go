package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ghostwire/ghostwire/dm"
	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
)

// API limits (docs/api.md).
const (
	maxRequestBody    = 64 << 10
	apiReadTimeout    = 10 * time.Second
	apiWriteTimeout   = 30 * time.Second
	followMaxDuration = 24 * time.Hour
)

// listenAPI creates the Unix socket with mode 0600: only this user can talk
// to the node. A stale socket from a crashed run is replaced; the data
// directory's lock (held by our caller) guarantees it is not a live one.
func (n *Node) listenAPI() (net.Listener, error) {
	path := n.cfg.APISocket
	if path == "" {
		return nil, errors.New("node: no API socket path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	os.Remove(path)
	old := umask(0o177)
	ln, err := net.Listen("unix", path) // cloak:allow the local API's Unix socket
	umask(old)
	if err != nil {
		return nil, fmt.Errorf("node: local API: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

func (n *Node) serveAPI(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           n.Handler(),
		ReadHeaderTimeout: apiReadTimeout,
		ReadTimeout:       apiReadTimeout,
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
	os.Remove(n.cfg.APISocket)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Handler returns the local API (docs/api.md).
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", n.handle(n.apiStatus))
	mux.HandleFunc("GET /v1/peers", n.handle(n.apiPeers))
	mux.HandleFunc("POST /v1/peers", n.handle(n.apiAddPeer))
	mux.HandleFunc("DELETE /v1/peers/{peer}", n.handle(n.apiRemovePeer))
	mux.HandleFunc("GET /v1/messages", n.apiMessages)
	mux.HandleFunc("POST /v1/messages", n.handle(n.apiSendMessage))
	n.registerIOCRoutes(mux)
	// Anything no route takes lands here: a JSON 405 (with Allow) if the
	// path exists under another method, else a JSON 404.
	fallback := func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, &httpError{status: http.StatusMethodNotAllowed, msg: "method not allowed: " + r.Method + " " + r.URL.Path,
				hint: "allowed: " + strings.Join(allow, ", ")})
			return
		}
		writeError(w, &httpError{status: http.StatusNotFound, msg: "no such endpoint: " + r.Method + " " + r.URL.Path,
			hint: "see docs/api.md for the endpoints"})
	}
	mux.HandleFunc("/", fallback)
	return mux
}

type errorBody struct {
	Error string `json:"error"`
	Hint  string `json:"hint,omitempty"`
}

// httpError is an error of the HTTP layer itself (a method, a media type,
// a body's size): domain errors are faults (package fault).
type httpError struct {
	status int
	msg    string
	hint   string
}

func (e *httpError) Error() string { return e.msg }

// faultStatus maps each kind of fault to its status, in one place
// (docs/api.md).
var faultStatus = map[fault.Kind]int{
	fault.Internal:      http.StatusInternalServerError,
	fault.Invalid:       http.StatusBadRequest,
	fault.NotFound:      http.StatusNotFound,
	fault.Full:          http.StatusInsufficientStorage,
	fault.TooLarge:      http.StatusRequestEntityTooLarge,
	fault.Unprocessable: http.StatusUnprocessableEntity,
	fault.Unavailable:   http.StatusServiceUnavailable,
}

// reply is what the API tells a client about err, and whether err is
// internal (logged: the client learns only its message).
func reply(err error) (status int, body errorBody, internal bool) {
	var he *httpError
	if errors.As(err, &he) {
		return he.status, errorBody{Error: he.msg, Hint: he.hint}, false
	}
	if f := fault.As(err); f != nil {
		return faultStatus[f.Kind], errorBody{Error: f.Msg, Hint: f.Hint}, f.Kind == fault.Internal
	}
	return http.StatusInternalServerError, errorBody{Error: err.Error()}, true
}

func writeError(w http.ResponseWriter, err error) {
	status, body, _ := reply(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

// handle adapts a handler that returns (status, value, error) and writes
// JSON.
func (n *Node) handle(fn func(r *http.Request) (int, any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(apiWriteTimeout))
		code, v, err := fn(r)
		if err != nil {
			if _, _, internal := reply(err); internal {
				n.log.Error("api", "path", r.URL.Path, "err", err)
			}
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		if v != nil {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			enc.Encode(v)
		}
	}
}

// decodeBody reads a JSON body of at most maxRequestBody bytes into v,
// refusing unknown fields and trailing data.
func decodeBody(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &httpError{status: http.StatusUnsupportedMediaType, msg: "body must be application/json"}
	}
	body := http.MaxBytesReader(nil, r.Body, maxRequestBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &httpError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("body is larger than %d bytes", maxRequestBody)}
		}
		return fault.Invalidf("send a JSON object as docs/api.md describes", "malformed JSON body: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fault.Invalidf("send exactly one JSON object", "trailing data after the JSON body")
	}
	return nil
}

// Status is GET /v1/status.
type Status struct {
	Onion     string          `json:"onion"`
	Transport TransportStatus `json:"transport"`
	Peers     int             `json:"peers"`
	Connected int             `json:"connected"`
	Items     int             `json:"items"`
	Queued    int             `json:"queued"`
	LastSync  *time.Time      `json:"last_sync,omitempty"`
	// Full lists the scopes at their limit: they refuse new items
	// (admission.go) and keep syncing what they hold.
	Full []FullScope `json:"full,omitempty"`
}

// Status reports the node's state.
func (n *Node) Status() (*Status, error) {
	items, err := n.db.CountItems()
	if err != nil {
		return nil, err
	}
	st := &Status{Onion: n.id.String(), Transport: n.cfg.Transport.Status(), Peers: len(n.peerIDs()), Items: items,
		Queued: n.dm.Queued()}
	n.mu.Lock()
	live := make([]*peerSession, 0, len(n.sessions))
	for _, ps := range n.sessions {
		live = append(live, ps)
	}
	if !n.lastSync.IsZero() {
		t := n.lastSync.UTC()
		st.LastSync = &t
	}
	n.mu.Unlock()
	st.Full = n.describeFull()
	for _, ps := range live {
		if ps.established() { // not a dial the peer is about to refuse
			st.Connected++
		}
	}
	return st, nil
}

func (n *Node) apiStatus(r *http.Request) (int, any, error) {
	st, err := n.Status()
	return http.StatusOK, st, err
}

func (n *Node) apiPeers(r *http.Request) (int, any, error) {
	p, err := n.Peers()
	if p == nil {
		p = []*Peer{}
	}
	return http.StatusOK, p, err
}

type addPeerRequest struct {
	Onion string `json:"onion"`
	Name  string `json:"name"`
}

func (n *Node) apiAddPeer(r *http.Request) (int, any, error) {
	var req addPeerRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	id, err := identity.ParseID(req.Onion)
	if err != nil {
		return 0, nil, fault.Invalidf("an address is 56 letters and digits 2-7, optionally followed by .onion", "%v", err)
	}
	p, err := n.AddPeer(id, req.Name)
	return http.StatusCreated, p, err
}

func (n *Node) apiRemovePeer(r *http.Request) (int, any, error) {
	id, err := n.ResolvePeer(r.PathValue("peer"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, n.RemovePeer(id)
}

type sendMessageRequest struct {
	Peer string `json:"peer"`
	Text string `json:"text"`
}

func (n *Node) apiSendMessage(r *http.Request) (int, any, error) {
	var req sendMessageRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	id, err := n.ResolvePeer(req.Peer)
	if err != nil {
		return 0, nil, err
	}
	m, err := n.dm.Send(id, req.Text)
	return http.StatusAccepted, m, err
}

// apiMessages is GET /v1/messages[?peer=P][&follow=1]. With follow it
// streams one JSON object per line: the current list, then each message as
// it arrives or changes state, until the client goes away (bounded by
// followMaxDuration).
func (n *Node) apiMessages(w http.ResponseWriter, r *http.Request) {
	var only *identity.ID
	if p := r.URL.Query().Get("peer"); p != "" {
		id, err := n.ResolvePeer(p)
		if err != nil {
			writeError(w, err)
			return
		}
		only = &id
	}
	if r.URL.Query().Get("follow") == "" {
		n.handle(func(*http.Request) (int, any, error) {
			m, err := n.dm.List(only, nil)
			if m == nil {
				m = []*dm.Message{}
			}
			return http.StatusOK, m, err
		})(w, r)
		return
	}
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Now().Add(followMaxDuration))
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	seen := map[string]string{}
	opened := dm.NewCache()
	ctx, cancel := context.WithTimeout(r.Context(), followMaxDuration)
	defer cancel()
	for {
		ch := n.changedCh()
		msgs, err := n.dm.List(only, opened)
		if err != nil {
			return
		}
		for _, m := range msgs {
			if seen[m.ID] == m.State {
				continue
			}
			seen[m.ID] = m.State
			if enc.Encode(m) != nil {
				return
			}
		}
		rc.Flush()
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
	}
}
