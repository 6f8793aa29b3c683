// Package taxii serves a node's indicator collections as a TAXII 2.1
// server (OASIS TAXII Version 2.1, docs/taxii.md): discovery, one API root,
// a TAXII collection per GhostWire collection and TLP level the user
// exposes, objects with added_after/limit/next pagination and the match[]
// filters, manifest and versions; read-only unless Config.Writable, which
// imports POSTed objects and keeps their status resources.
//
// It has no business logic of its own: every object comes from the node
// through the local API (Source, whose values are localapi/apitype's), in
// the order the node stored it, as export writes it. It answers only
// clients with a token (Tokens); there is no anonymous access.
package taxii

import (
	"context"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ghostwire/ghostwire/localapi/apitype"
)

// Media types (TAXII 2.1 §1.6.8).
const (
	MediaTAXII = "application/taxii+json;version=2.1"
	MediaSTIX  = "application/stix+json;version=2.1"
)

// APIRoot is the server's one API root's path segment.
const APIRoot = "ghostwire"

// maxContentLength is the API root's max_content_length: the most a POST
// of objects to a writable collection may send, and what a refused POST
// may announce.
const maxContentLength = 10 << 20

// sourceTimeout bounds one call to the node.
const sourceTimeout = 30 * time.Second

// Source is what the server reads: the node's local API (localapi.Client
// implements it).
type Source interface {
	Collections(ctx context.Context) ([]apitype.Collection, error)
	Feed(ctx context.Context, q apitype.FeedRequest) (*apitype.FeedPage, error)
}

// Exposure is one TAXII collection: a GhostWire collection seen at one TLP
// level.
type Exposure struct {
	Collection string
	TLP        string // clear, green, amber, amber+strict or red
}

func (x Exposure) String() string { return x.Collection + ":" + x.TLP }

// ID is the TAXII collection's id: a UUIDv5-shaped name of the collection
// and level, the same on every run, so a client's configuration outlives
// a restart.
func (x Exposure) ID() string {
	h := sha1.Sum([]byte("ghostwire taxii collection\x00" + x.Collection + "\x00" + x.TLP))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

var levels = []string{"clear", "green", "amber", "amber+strict", "red"}

// Restricted reports whether x shows TLP:AMBER, AMBER+STRICT or RED
// indicators, which are exposed only when named (ParseExposures).
func (x Exposure) Restricted() bool { return x.TLP != "clear" && x.TLP != "green" }

// ParseExposures reads --expose values: NAME (its CLEAR and GREEN
// indicators, one TAXII collection each) or NAME:LEVEL[,LEVEL…]. An AMBER,
// AMBER+STRICT or RED level must be named, and allowRestricted must say the
// user means it: a feed leaves GhostWire's encryption behind, and anyone
// holding a token for it can pass it on.
func ParseExposures(values []string, allowRestricted bool) ([]Exposure, error) {
	var out []Exposure
	for _, v := range values {
		name, lv, ok := strings.Cut(v, ":")
		if name == "" {
			return nil, fmt.Errorf("--expose %q: give a collection name, e.g. default or default:clear,green", v)
		}
		ls := []string{"clear", "green"}
		if ok {
			ls = strings.Split(lv, ",")
		}
		for _, l := range ls {
			l = strings.ToLower(strings.TrimSpace(l))
			if !slices.Contains(levels, l) {
				return nil, fmt.Errorf("--expose %q: TLP level %q is not one of %s", v, l, strings.Join(levels, ", "))
			}
			x := Exposure{Collection: name, TLP: l}
			if x.Restricted() && !allowRestricted {
				return nil, fmt.Errorf("--expose %q: TLP:%s indicators are meant only for their named recipients; add --allow-restricted if every holder of a token may see them", v, strings.ToUpper(l))
			}
			if !slices.Contains(out, x) {
				out = append(out, x)
			}
		}
	}
	return out, nil
}

// Config is how a Server is set up.
type Config struct {
	// Expose lists the TAXII collections; empty: every GhostWire collection
	// the node holds, at CLEAR and at GREEN.
	Expose []Exposure
	Tokens *Tokens
	Log    *slog.Logger
	// Writable lets a token that may read a collection POST objects to it
	// (TAXII 2.1 §5.5), imported as indicators signed by the node's own
	// identity. Off by default: whoever holds a token then speaks for the
	// node to every peer.
	Writable bool
}

// Server is the TAXII 2.1 server over one node.
type Server struct {
	src    Source
	cfg    Config
	log    *slog.Logger
	status statuses // of POSTs, when Writable
}

// New returns a server reading src.
func New(src Source, cfg Config) *Server {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{src: src, cfg: cfg, log: log}
}

// taxiiError is a TAXII error message (TAXII 2.1 §3.6.1).
type taxiiError struct {
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	HTTPStatus  string `json:"http_status,omitempty"`
	status      int
}

func (e *taxiiError) Error() string { return e.Title + ": " + e.Description }

func errorf(status int, title, format string, a ...any) *taxiiError {
	return &taxiiError{Title: title, Description: fmt.Sprintf(format, a...), HTTPStatus: strconv.Itoa(status), status: status}
}

// Handler returns the server's routes. Every request must carry a token
// (401 otherwise) and accept the TAXII media type (406 otherwise).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	base := "/" + APIRoot + "/"
	get := func(pattern string, h func(r *http.Request, tok *Token) (any, http.Header, error)) {
		mux.HandleFunc("GET "+pattern, s.wrap(h))
	}
	get("/taxii2/{$}", s.discovery)
	get(base+"{$}", s.apiRoot)
	get(base+"collections/{$}", s.collections)
	get(base+"collections/{id}/{$}", s.collection)
	get(base+"collections/{id}/objects/{$}", s.objects)
	get(base+"collections/{id}/manifest/{$}", s.manifest)
	get(base+"collections/{id}/objects/{oid}/{$}", s.object)
	get(base+"collections/{id}/objects/{oid}/versions/{$}", s.versions)
	get(base+"status/{sid}/{$}", s.statusOf)
	mux.HandleFunc("POST "+base+"collections/{id}/objects/{$}", s.wrap(s.post))
	mux.HandleFunc("DELETE "+base+"collections/{id}/objects/{oid}/{$}", s.wrap(func(r *http.Request, tok *Token) (any, http.Header, error) {
		return nil, nil, errorf(http.StatusForbidden, "read-only collection", "GhostWire's TAXII collections are read-only; retract an indicator with 'ghostwire ioc retract'")
	}))
	mux.HandleFunc("/", s.wrap(func(r *http.Request, _ *Token) (any, http.Header, error) {
		return nil, nil, errorf(http.StatusNotFound, "not found", "no TAXII resource at %s %s; start at /taxii2/", r.Method, r.URL.Path)
	}))
	return mux
}

// wrap checks credentials and media types, runs h and writes its reply.
func (s *Server) wrap(h func(r *http.Request, tok *Token) (any, http.Header, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, err := s.cfg.Tokens.check(r.Header.Get("Authorization"))
		if err != nil {
			if !errors.Is(err, errNoCredentials) && !errors.Is(err, errBadCredentials) {
				s.log.Error("taxii: token file", "err", err)
				s.writeError(w, errorf(http.StatusInternalServerError, "server error", "the token file cannot be read; see the server's log"))
				return
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="GhostWire TAXII", charset="UTF-8"`)
			s.writeError(w, errorf(http.StatusUnauthorized, "unauthorized", "%v", err))
			return
		}
		if !acceptsTAXII(r.Header.Get("Accept")) {
			s.writeError(w, errorf(http.StatusNotAcceptable, "not acceptable", "send Accept: %s", MediaTAXII))
			return
		}
		v, hdr, err := h(r, tok)
		if err != nil {
			var te *taxiiError
			if !errors.As(err, &te) {
				s.log.Error("taxii", "path", r.URL.Path, "err", err)
				te = errorf(http.StatusBadGateway, "the node did not answer", "%v", err)
			}
			s.writeError(w, te)
			return
		}
		for k, vs := range hdr {
			w.Header()[k] = vs
		}
		w.Header().Set("Content-Type", MediaTAXII)
		code := http.StatusOK
		if ws, ok := v.(withStatus); ok {
			code, v = ws.code, ws.v
		}
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
}

func (s *Server) writeError(w http.ResponseWriter, e *taxiiError) {
	w.Header().Set("Content-Type", MediaTAXII)
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(e)
}

// acceptsTAXII reports whether an Accept header takes TAXII 2.1 JSON
// (application/taxii+json with no version means the newest, 2.1).
func acceptsTAXII(h string) bool {
	for _, part := range strings.Split(h, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || mt != "application/taxii+json" {
			continue
		}
		if v, ok := params["version"]; !ok || v == "2.1" {
			return true
		}
	}
	return false
}

func (s *Server) discovery(r *http.Request, _ *Token) (any, http.Header, error) {
	return map[string]any{
		"title":       "GhostWire",
		"description": "Indicators signed by their authors and received over an anonymous network (docs/taxii.md)",
		"default":     "/" + APIRoot + "/",
		"api_roots":   []string{"/" + APIRoot + "/"},
	}, nil, nil
}

func (s *Server) apiRoot(r *http.Request, _ *Token) (any, http.Header, error) {
	return map[string]any{
		"title":              "GhostWire collections",
		"versions":           []string{MediaTAXII},
		"max_content_length": maxContentLength,
	}, nil, nil
}

// exposed lists the TAXII collections tok may read.
func (s *Server) exposed(ctx context.Context, tok *Token) ([]Exposure, error) {
	xs := s.cfg.Expose
	if len(xs) == 0 {
		ctx, cancel := context.WithTimeout(ctx, sourceTimeout)
		defer cancel()
		cs, err := s.src.Collections(ctx)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			xs = append(xs, Exposure{c.Name, "clear"}, Exposure{c.Name, "green"})
		}
	}
	var out []Exposure
	for _, x := range xs {
		if tok.mayRead(x) {
			out = append(out, x)
		}
	}
	return out, nil
}

type collectionOut struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	CanRead     bool     `json:"can_read"`
	CanWrite    bool     `json:"can_write"`
	MediaTypes  []string `json:"media_types"`
}

func (s *Server) describe(x Exposure) collectionOut {
	return collectionOut{ID: x.ID(), Title: fmt.Sprintf("%s (TLP:%s)", x.Collection, strings.ToUpper(x.TLP)),
		Description: fmt.Sprintf("GhostWire collection %q, its TLP:%s indicators; every object carries its TLP 2.0 marking", x.Collection, strings.ToUpper(x.TLP)),
		CanRead:     true, CanWrite: s.cfg.Writable, MediaTypes: []string{MediaSTIX}}
}

func (s *Server) collections(r *http.Request, tok *Token) (any, http.Header, error) {
	xs, err := s.exposed(r.Context(), tok)
	if err != nil {
		return nil, nil, err
	}
	out := []collectionOut{}
	for _, x := range xs {
		out = append(out, s.describe(x))
	}
	return map[string]any{"collections": out}, nil, nil
}

// find returns the exposure a request's {id} names, if tok may read it:
// 404 if none has that id, 403 if tok may not read it.
func (s *Server) find(r *http.Request, tok *Token) (Exposure, error) {
	id := r.PathValue("id")
	all := s.cfg.Expose
	if len(all) == 0 {
		var err error
		if all, err = s.exposed(r.Context(), &Token{}); err != nil {
			return Exposure{}, err
		}
	}
	for _, x := range all {
		if x.ID() == id {
			if !tok.mayRead(x) {
				return x, errorf(http.StatusForbidden, "forbidden", "token %q may not read this collection", tok.Name)
			}
			return x, nil
		}
	}
	return Exposure{}, errorf(http.StatusNotFound, "no such collection", "no collection %q here; list them at /%s/collections/", id, APIRoot)
}

func (s *Server) collection(r *http.Request, tok *Token) (any, http.Header, error) {
	x, err := s.find(r, tok)
	if err != nil {
		return nil, nil, err
	}
	return s.describe(x), nil, nil
}

func (s *Server) post(r *http.Request, tok *Token) (any, http.Header, error) {
	x, err := s.find(r, tok)
	if err != nil {
		return nil, nil, err
	}
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/taxii+json" || (params["version"] != "" && params["version"] != "2.1") {
		return nil, nil, errorf(http.StatusUnsupportedMediaType, "unsupported media type", "send Content-Type: %s", MediaTAXII)
	}
	if r.ContentLength > maxContentLength {
		return nil, nil, errorf(http.StatusRequestEntityTooLarge, "too large", "the body is %d bytes; this server's max_content_length is %d", r.ContentLength, maxContentLength)
	}
	if s.cfg.Writable {
		return s.write(r, tok, x)
	}
	return nil, nil, errorf(http.StatusForbidden, "read-only collection", "this server's TAXII collections are read-only (can_write is false); serve them with 'ghostwire taxii serve --writable', or add indicators with 'ghostwire ioc import'")
}

// stamp writes a timestamp as TAXII's date_added and versions do.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// page reads one page of x's objects for q from the node, filtered.
func (s *Server) page(ctx context.Context, x Exposure, q *objectsQuery) (*apitype.FeedPage, error) {
	if !q.specOK {
		return &apitype.FeedPage{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, sourceTimeout)
	defer cancel()
	req := apitype.FeedRequest{Collection: x.Collection, After: q.next, Limit: q.limit, TLPs: []string{x.TLP},
		IDs: q.ids, Types: q.types}
	if q.next == "" && !q.addedAfter.IsZero() {
		req.AddedAfter = q.addedAfter
	}
	p, err := s.src.Feed(ctx, req)
	if err != nil {
		return nil, err
	}
	kept := p.Objects[:0]
	for _, o := range p.Objects {
		if q.keepVersion(o.Version) {
			kept = append(kept, o)
		}
	}
	p.Objects = kept
	return p, nil
}

// envelope is the objects and manifest reply (TAXII 2.1 §3.7, §5.3).
type envelope struct {
	More    bool   `json:"more"`
	Next    string `json:"next,omitempty"`
	Objects []any  `json:"objects,omitempty"`
}

func addedHeaders(p *apitype.FeedPage) http.Header {
	h := http.Header{}
	if len(p.Objects) > 0 {
		h.Set("X-TAXII-Date-Added-First", stamp(p.Objects[0].Added))
		h.Set("X-TAXII-Date-Added-Last", stamp(p.Objects[len(p.Objects)-1].Added))
	}
	return h
}

func (s *Server) objectsOrManifest(r *http.Request, tok *Token, manifest bool) (any, http.Header, error) {
	x, err := s.find(r, tok)
	if err != nil {
		return nil, nil, err
	}
	q, err := parseObjectsQuery(r.URL.Query())
	if err != nil {
		return nil, nil, errorf(http.StatusBadRequest, "bad request", "%v", err)
	}
	p, err := s.page(r.Context(), x, &q)
	if err != nil {
		return nil, nil, err
	}
	env := envelope{More: p.More}
	if p.More {
		env.Next = p.Next
	}
	for _, o := range p.Objects {
		if manifest {
			env.Objects = append(env.Objects, map[string]string{"id": o.ID, "date_added": stamp(o.Added),
				"version": stamp(o.Version), "media_type": MediaSTIX})
		} else {
			env.Objects = append(env.Objects, json.RawMessage(o.Object))
		}
	}
	h := addedHeaders(p)
	h.Set("X-GhostWire-TLP", "TLP:"+strings.ToUpper(x.TLP))
	return env, h, nil
}

func (s *Server) objects(r *http.Request, tok *Token) (any, http.Header, error) {
	return s.objectsOrManifest(r, tok, false)
}

func (s *Server) manifest(r *http.Request, tok *Token) (any, http.Header, error) {
	return s.objectsOrManifest(r, tok, true)
}

// maxLookupPages bounds how many pages one object lookup reads: the node
// finds an object by its place in the collection, not by its id.
const maxLookupPages = 1000

// lookup finds every version of one object, following the collection's
// pages with match[id].
func (s *Server) lookup(r *http.Request, tok *Token) (Exposure, []apitype.FeedObject, error) {
	x, err := s.find(r, tok)
	if err != nil {
		return x, nil, err
	}
	oid := r.PathValue("oid")
	if !idPattern.MatchString(oid) {
		return x, nil, errorf(http.StatusBadRequest, "bad request", "%q is not a STIX identifier", oid)
	}
	q, err := parseObjectsQuery(r.URL.Query())
	if err != nil {
		return x, nil, errorf(http.StatusBadRequest, "bad request", "%v", err)
	}
	q.ids, q.limit, q.next = []string{oid}, MaxPage, ""
	var found []apitype.FeedObject
	for range maxLookupPages {
		p, err := s.page(r.Context(), x, &q)
		if err != nil {
			return x, nil, err
		}
		found = append(found, p.Objects...)
		if !p.More {
			break
		}
		q.next = p.Next
	}
	if len(found) == 0 {
		return x, nil, errorf(http.StatusNotFound, "no such object", "no object %s in this collection", oid)
	}
	return x, found, nil
}

func (s *Server) object(r *http.Request, tok *Token) (any, http.Header, error) {
	x, found, err := s.lookup(r, tok)
	if err != nil {
		return nil, nil, err
	}
	env := envelope{}
	for _, o := range found {
		env.Objects = append(env.Objects, json.RawMessage(o.Object))
	}
	h := addedHeaders(&apitype.FeedPage{Objects: found})
	h.Set("X-GhostWire-TLP", "TLP:"+strings.ToUpper(x.TLP))
	return env, h, nil
}

func (s *Server) versions(r *http.Request, tok *Token) (any, http.Header, error) {
	_, found, err := s.lookup(r, tok)
	if err != nil {
		return nil, nil, err
	}
	var vs []string
	for _, o := range found {
		vs = append(vs, stamp(o.Version))
	}
	slices.Sort(vs)
	return map[string]any{"more": false, "versions": slices.Compact(vs)}, addedHeaders(&apitype.FeedPage{Objects: found}), nil
}
