package taxii

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ghostwire/ghostwire/localapi/apitype"
)

// Importer is what a writable server needs of the node besides Source:
// the local API's import (localapi.Client implements it). POSTed objects
// become indicators signed by the node's own identity, as 'ghostwire ioc
// import' makes them.
type Importer interface {
	ImportIOCs(ctx context.Context, in io.Reader, req apitype.ImportRequest, progress func(apitype.ImportProgress)) (*apitype.ImportResult, error)
}

// maxStatuses bounds the status resources kept (TAXII 2.1 §4.3): the
// oldest are forgotten first. An import answers at once, so a status is
// complete when it is made and a client reads it in the POST's reply.
const maxStatuses = 1000

// statusResource is TAXII 2.1 §4.3.1's status resource.
type statusResource struct {
	ID               string          `json:"id"`
	Status           string          `json:"status"`
	RequestTimestamp string          `json:"request_timestamp"`
	TotalCount       int             `json:"total_count"`
	SuccessCount     int             `json:"success_count"`
	Successes        []statusDetails `json:"successes,omitempty"`
	FailureCount     int             `json:"failure_count"`
	Failures         []statusDetails `json:"failures,omitempty"`
	PendingCount     int             `json:"pending_count"`
	token            string          // who may read it
}

type statusDetails struct {
	ID      string `json:"id"`
	Version string `json:"version,omitempty"`
	Message string `json:"message,omitempty"`
}

// statuses holds the status resources, oldest first.
type statuses struct {
	mu    sync.Mutex
	order []string
	byID  map[string]*statusResource
}

func (ss *statuses) add(st *statusResource) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.byID == nil {
		ss.byID = map[string]*statusResource{}
	}
	if len(ss.order) == maxStatuses {
		delete(ss.byID, ss.order[0])
		ss.order = ss.order[1:]
	}
	ss.order = append(ss.order, st.ID)
	ss.byID[st.ID] = st
}

func (ss *statuses) get(id, token string) *statusResource {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if st := ss.byID[id]; st != nil && st.token == token {
		return st
	}
	return nil
}

// withStatus is a reply with an HTTP status other than 200.
type withStatus struct {
	code int
	v    any
}

// write imports a POSTed envelope's objects (TAXII 2.1 §5.5) into x's
// GhostWire collection, signed by the node's identity; an object without
// a TLP marking gets x's level. Objects that convert are stored even when
// others fail; the status resource names each object's outcome.
func (s *Server) write(r *http.Request, tok *Token, x Exposure) (any, http.Header, error) {
	imp, ok := s.src.(Importer)
	if !ok {
		return nil, nil, errorf(http.StatusForbidden, "read-only collection", "this server's node cannot import")
	}
	objects, heads, terr := decodeEnvelope(r.Body)
	if terr != nil {
		return nil, nil, terr
	}
	st := &statusResource{ID: newUUID(), Status: "complete", RequestTimestamp: stamp(time.Now()), TotalCount: len(objects), token: tok.Name}
	b, _ := json.Marshal(map[string]any{"type": "bundle", "id": "bundle--" + st.ID, "objects": objects})
	ctx, cancel := context.WithTimeout(r.Context(), sourceTimeout)
	defer cancel()
	res, err := imp.ImportIOCs(ctx, strings.NewReader(string(b)), apitype.ImportRequest{Collection: x.Collection, TLP: x.TLP,
		Partial: true, Source: "taxii:" + tok.Name}, nil)
	if err != nil {
		return nil, nil, err
	}
	why := map[string]apitype.ImportIssue{}
	for _, is := range res.Issues {
		if is.ID != "" {
			why[is.ID] = is
		}
	}
	for i, h := range heads {
		id := h.ID
		if id == "" {
			id = fmt.Sprintf("objects[%d]", i)
		}
		is, reported := why[h.ID]
		switch {
		case !reported || is.Severity == "partial":
			st.Successes = append(st.Successes, statusDetails{ID: id, Version: h.Modified, Message: is.Reason})
		default:
			st.Failures = append(st.Failures, statusDetails{ID: id, Version: h.Modified, Message: is.Severity + ": " + is.Reason})
		}
	}
	st.SuccessCount, st.FailureCount = len(st.Successes), len(st.Failures)
	s.status.add(st)
	return withStatus{http.StatusAccepted, st}, nil, nil
}

// objectHead is what the status resource says of a POSTed object.
type objectHead struct{ ID, Type, Modified string }

// decodeEnvelope reads a POSTed TAXII envelope (TAXII 2.1 §3.7), at most
// maxContentLength bytes: its objects, and each one's id, type and
// modified if it has them (an object that is not one is the import's to
// report).
func decodeEnvelope(body io.Reader) ([]json.RawMessage, []objectHead, *taxiiError) {
	var env struct {
		Objects []json.RawMessage `json:"objects"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, io.NopCloser(body), maxContentLength))
	if err := dec.Decode(&env); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, nil, errorf(http.StatusRequestEntityTooLarge, "too large", "the body is over max_content_length (%d bytes); send fewer objects per request", maxContentLength)
		}
		return nil, nil, errorf(http.StatusBadRequest, "bad request", "the body is not a TAXII envelope {\"objects\": [...]}: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, errorf(http.StatusBadRequest, "bad request", "the body holds more than one JSON value; send one envelope")
	}
	if len(env.Objects) == 0 {
		return nil, nil, errorf(http.StatusBadRequest, "bad request", "the envelope holds no objects")
	}
	heads := make([]objectHead, len(env.Objects))
	for i, o := range env.Objects {
		json.Unmarshal(o, &heads[i])
	}
	return env.Objects, heads, nil
}

// statusOf is GET /{api root}/status/{sid}/: a status resource the same
// token made.
func (s *Server) statusOf(r *http.Request, tok *Token) (any, http.Header, error) {
	if st := s.status.get(r.PathValue("sid"), tok.Name); st != nil {
		return st, nil, nil
	}
	return nil, nil, errorf(http.StatusNotFound, "no such status", "no status %q for this token (the server keeps the last %d, until it restarts)", r.PathValue("sid"), maxStatuses)
}

// newUUID is a random (version 4) UUID.
func newUUID() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
