package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ghostwire/ghostwire/collection"
	"github.com/ghostwire/ghostwire/dm"
	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/ioc"
	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/node"
)

// addPeerRequest is POST /v1/peers.
type addPeerRequest struct {
	Onion string `json:"onion"`
	Name  string `json:"name"`
	// LAN is ADDR:PORT, where to dial the peer in LAN mode when its
	// advert is not seen; empty keeps what was stored.
	LAN string `json:"lan,omitempty"`
}

// pairRequest is POST /v1/pair and POST /v1/pair/join.
type pairRequest struct {
	As   string `json:"as,omitempty"`   // the name this node gives itself
	Code string `json:"code,omitempty"` // join: the code the other device shows
	Name string `json:"name,omitempty"` // join: a local name for the other device
}

// sendMessageRequest is POST /v1/messages.
type sendMessageRequest struct {
	Peer string `json:"peer"`
	Text string `json:"text"`
	// BurnAfterRead and TTL make a message that burns (docs/api.md,
	// docs/protocol.md §5.11); TTL is "10m", "24h", "7d", 1m to 365d.
	BurnAfterRead bool   `json:"burn_after_read,omitempty"`
	TTL           string `json:"ttl,omitempty"`
}

func (s *server) status(r *http.Request) (int, any, error) {
	st, err := s.n.Status()
	return http.StatusOK, st, err
}

func (s *server) peers(r *http.Request) (int, any, error) {
	p, err := s.n.Peers()
	if p == nil {
		p = []*node.Peer{}
	}
	return http.StatusOK, p, err
}

func (s *server) addPeer(r *http.Request) (int, any, error) {
	var req addPeerRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	id, err := identity.ParseID(req.Onion)
	if err != nil {
		return 0, nil, invalid("an address is 56 letters and digits 2-7, optionally followed by .onion", "%v", err)
	}
	var lan netip.AddrPort
	if req.LAN != "" {
		if lan, err = netip.ParseAddrPort(req.LAN); err != nil {
			return 0, nil, invalid("give the peer's LAN address and port, such as 192.168.1.20:7700", "bad LAN address: %v", err)
		}
	}
	p, err := s.n.AddPeer(id, req.Name)
	if err == nil && lan.IsValid() {
		if err = s.n.SetPeerLAN(id, lan); err == nil {
			p.LAN = lan.String()
		}
	}
	return http.StatusCreated, p, err
}

func (s *server) offerPairing(r *http.Request) (int, any, error) {
	var req pairRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	o, err := s.n.OfferPairing(req.As)
	return http.StatusCreated, o, err
}

// pairWait is how long POST /v1/pair/wait and /v1/pair/join may take: a
// code lives this long, and a join finds, connects and pairs within it.
const pairWait = 2*time.Minute + 10*time.Second

// pairLong runs a pairing call whose answer may take pairWait.
func (s *server) pairLong(fn func(s *server, r *http.Request) (int, any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(pairWait + s.deadline + writeTimeout))
		s.answer(w, r, pairWait+s.deadline, fn)
	}
}

func (s *server) waitPairing(r *http.Request) (int, any, error) {
	res, err := s.n.WaitPairing(r.Context())
	return http.StatusOK, res, err
}

func (s *server) joinPairing(r *http.Request) (int, any, error) {
	var req pairRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	res, err := s.n.JoinPairing(r.Context(), req.Code, req.As, req.Name)
	return http.StatusOK, res, err
}

func (s *server) removePeer(r *http.Request) (int, any, error) {
	id, err := s.n.ResolvePeer(r.PathValue("peer"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.n.RemovePeer(id)
}

func (s *server) sendMessage(r *http.Request) (int, any, error) {
	var req sendMessageRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	id, err := s.n.ResolvePeer(req.Peer)
	if err != nil {
		return 0, nil, err
	}
	if err := s.n.Refused(id); err != nil {
		return 0, nil, err
	}
	timer := dm.Timer{AfterRead: req.BurnAfterRead}
	if req.TTL != "" {
		if timer.TTL, err = dm.ParseTTL(req.TTL); err != nil {
			return 0, nil, err
		}
	}
	m, err := s.n.DM().SendTimed(id, req.Text, timer)
	return http.StatusAccepted, m, err
}

// messages is GET /v1/messages[?peer=P][&follow=1]. With follow it streams
// one JSON object per line: the current list, then each message as it
// arrives or changes state, until the client goes away (bounded by
// followMaxDuration).
func (s *server) messages(w http.ResponseWriter, r *http.Request) {
	var only *identity.ID
	if p := r.URL.Query().Get("peer"); p != "" {
		id, err := s.n.ResolvePeer(p)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		only = &id
	}
	if r.URL.Query().Get("follow") == "" {
		jsonHandler(func(s *server, _ *http.Request) (int, any, error) {
			m, err := s.n.DM().List(only, nil)
			if m == nil {
				m = []*node.Message{}
			}
			s.n.ExplainQueued(m...)
			return http.StatusOK, m, err
		})(s)(w, r)
		return
	}
	s.follow(w, r, func(ctx context.Context, emit func(any) error) error {
		return s.n.DM().Follow(ctx, only, func(m *node.Message) error {
			s.n.ExplainQueued(m)
			return emit(m)
		})
	})
}

// follow answers a ?follow=1 request: an NDJSON stream of what run emits,
// flushed line by line, until the client goes away (bounded by
// followMaxDuration), within the cap on open streams.
func (s *server) follow(w http.ResponseWriter, r *http.Request, run func(ctx context.Context, emit func(any) error) error) {
	leave, ok := s.enter(w, r, s.following, fmt.Sprintf("%d --follow streams are open already", maxFollowing))
	if !ok {
		return
	}
	defer leave()
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Now().Add(followMaxDuration))
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	enc := json.NewEncoder(w)
	ctx, cancel := context.WithTimeout(r.Context(), followMaxDuration)
	defer cancel()
	run(ctx, func(v any) error {
		if err := enc.Encode(v); err != nil {
			return err
		}
		return rc.Flush()
	})
}

func (s *server) dropIOC(r *http.Request) (int, any, error) {
	var req node.DropRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	x, err := s.n.Collections().Drop(req)
	return http.StatusCreated, x, err
}

// listIOCs is GET /v1/iocs: a JSON array, streamed as the node reads the
// collections (collection.ListEach), so the first indicators of a million
// go out at once and the node holds one batch at a time. The node's
// failure while it lists breaks the reply, as an export's does: the client
// sees a cut array, never a short one that parses.
func (s *server) listIOCs(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Now().Add(importTimeout))
	f, err := s.iocFilter(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	leave, ok := s.enter(w, r, s.listing, fmt.Sprintf("%d listings are running", maxListing))
	if !ok {
		return
	}
	defer leave()
	start := func() {
		w.Header().Set("Content-Type", "application/json")
		// The count of damaged items left out is known only at the end:
		// it follows the listing as a trailer.
		w.Header().Set("Trailer", SkippedHeader)
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "[")
	}
	skippedBefore := s.n.Skipped()
	// The reply starts at once, before the node has found anything: a
	// filter that matches little may scan long before its first match, and
	// the client must see a slow answer, not a silent node.
	start()
	rc.Flush()
	n := 0
	last := time.Now()
	err = s.n.Collections().ListEach(f, func(x *node.IOC) error {
		b, err := json.Marshal(x)
		if err != nil {
			return err
		}
		if n > 0 {
			io.WriteString(w, ",")
		}
		io.WriteString(w, "\n")
		if _, err := w.Write(b); err != nil {
			return err
		}
		n++
		// The first indicators go out at once; then a flush at most
		// every 100 ms lets the buffer fill.
		if n == 1 || time.Since(last) > 100*time.Millisecond {
			last = time.Now()
			return rc.Flush()
		}
		return nil
	})
	if err != nil {
		s.log.Error("api", "path", r.URL.Path, "err", err)
		panic(http.ErrAbortHandler)
	}
	io.WriteString(w, "\n]\n")
	if skipped := s.n.Skipped() - skippedBefore; skipped > 0 {
		w.Header().Set(SkippedHeader, strconv.FormatInt(skipped, 10))
	}
}

// feed is GET /v1/iocs/feed?collection=C[&after=CURSOR|&added_after=TIME][&limit=N][&tlp=L]...[&id=X]...[&type=T]...:
// one page of a collection's indicators and retractions as STIX objects,
// in the order the node stored them (collection.Feed). tlp names each
// level shown; none is shown unless named.
func (s *server) feed(r *http.Request) (int, any, error) {
	q := r.URL.Query()
	after, err := collection.ParseCursor(q.Get("after"))
	if err != nil {
		return 0, nil, err
	}
	if v := q.Get("added_after"); v != "" && after == (collection.Cursor{}) {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return 0, nil, invalid("use RFC 3339, e.g. 2026-11-23T00:00:00.000Z", "bad added_after: %v", err)
		}
		after = collection.CursorAfter(t)
	}
	fq := collection.FeedQuery{Collection: q.Get("collection"), After: after, IDs: q["id"], Types: q["type"]}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return 0, nil, invalid(fmt.Sprintf("limit is a positive number (at most %d per page)", collection.MaxFeedPage), "bad limit %q", v)
		}
		fq.Limit = min(n, collection.MaxFeedPage)
	}
	for _, t := range q["tlp"] {
		m, err := ioc.ParseTLP(t)
		if err != nil {
			return 0, nil, invalid("TLP is clear, green, amber, amber+strict or red", "%v", err)
		}
		fq.TLPs = append(fq.TLPs, m)
	}
	if fq.Sightings, err = s.n.Ratings().SightingsByTarget(); err != nil {
		return 0, nil, err
	}
	page, err := s.n.Collections().Feed(fq)
	return http.StatusOK, page, err
}

func (s *server) showIOC(r *http.Request) (int, any, error) {
	x, err := s.n.Collections().Show(r.PathValue("id"))
	return http.StatusOK, x, err
}

func (s *server) retractIOC(r *http.Request) (int, any, error) {
	x, err := s.n.Collections().Retract(r.PathValue("id"))
	return http.StatusOK, x, err
}

// fetchIOC is POST /v1/iocs/{id}/fetch[?wait=30s]: its reply may take the
// whole wait, longer than other replies may.
func (s *server) fetchIOC(w http.ResponseWriter, r *http.Request) {
	wait := 30 * time.Second
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			s.writeError(w, r, invalid("e.g. wait=30s (at most 2m)", "bad wait: %v", err))
			return
		}
		wait = node.FetchWait(d)
	}
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + s.deadline + writeTimeout))
	s.answer(w, r, wait+s.deadline, func(s *server, r *http.Request) (int, any, error) {
		x, err := s.n.FetchIOC(r.Context(), r.PathValue("id"), wait)
		return http.StatusOK, x, err
	})
}

// iocFilter reads the list filters from a query string.
func (s *server) iocFilter(q url.Values) (collection.Filter, error) {
	f := collection.Filter{Collection: q.Get("collection"), TLP: q.Get("tlp"), Type: q.Get("type"), IncludeExpired: q.Get("expired") != ""}
	if a := q.Get("author"); a != "" {
		id, err := s.n.ResolveAuthor(a)
		if err != nil {
			return f, err
		}
		f.Author = &id
	}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return f, invalid("use RFC 3339, e.g. 2026-11-23T00:00:00Z", "bad since: %v", err)
		}
		f.Since = t
	}
	return f, s.withTrust(&f, q.Get("min_trust"))
}

// importRequest reads an ImportRequest from the query string.
func importRequest(q url.Values) node.ImportRequest {
	req := node.ImportRequest{Collection: q.Get("collection"), TLP: q.Get("tlp"), Partial: q.Get("partial") != "", Source: q.Get("source")}
	for _, t := range q["to"] {
		for _, p := range strings.Split(t, ",") {
			if p = strings.TrimSpace(p); p != "" {
				req.To = append(req.To, p)
			}
		}
	}
	return req
}

// importIOCs is POST /v1/iocs/import: the body is the file itself. The
// reply is NDJSON: progress lines while it works (sent only once there is
// progress to report, so small imports get one line with a fitting
// status), then the result. Once progress lines went out the status is
// 200 and an error is in the last line.
func (s *server) importIOCs(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(importTimeout))
	rc.SetWriteDeadline(time.Now().Add(importTimeout))
	if err := checkJSON(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	req := importRequest(r.URL.Query())
	if err := s.n.Collections().CheckImport(&req); err != nil {
		s.writeError(w, r, err)
		return
	}
	leave, ok := s.enter(w, r, s.bulk, fmt.Sprintf("%d imports and exports are running", maxBulk))
	if !ok {
		return
	}
	defer leave()
	// Progress goes out while the body is still being read. Whatever
	// the import did not read is drained (bounded by maxImportBody), so the
	// connection stays usable.
	rc.EnableFullDuplex()
	body := http.MaxBytesReader(w, r.Body, maxImportBody)
	defer io.Copy(io.Discard, body)
	enc := json.NewEncoder(w)
	streaming := false
	progress := func(p node.ImportProgress) {
		if !streaming {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(http.StatusOK)
			streaming = true
		}
		enc.Encode(ImportLine{Progress: &p})
		rc.Flush()
	}
	res, err := s.n.Collections().Import(sizeLimited{body}, req, progress)
	line := ImportLine{Result: res}
	status := http.StatusOK
	if err != nil {
		var e ErrorBody
		status, e = s.errorReply(r, err)
		line.Error, line.Hint, line.Kind = e.Error, e.Hint, e.Kind
	}
	if !streaming {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(status)
	}
	enc.Encode(line)
}

// imports is GET /v1/iocs/imports: the import records, newest first.
func (s *server) imports(r *http.Request) (int, any, error) {
	list, err := s.n.Collections().Imports()
	if list == nil {
		list = []apitype.ImportRecord{}
	}
	return http.StatusOK, list, err
}

// sizeLimited turns the upload limit's error into the node's TooLarge, so
// the import reports it as such.
type sizeLimited struct{ r io.Reader }

func (l sizeLimited) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = &fault.Error{Kind: fault.TooLarge, Msg: fmt.Sprintf("import is larger than %d bytes", maxImportBody), Hint: "split the file"}
	}
	return n, err
}

// exportIOCs is GET /v1/iocs/export: a STIX bundle or a MISP event,
// streamed as it is written.
func (s *server) exportIOCs(w http.ResponseWriter, r *http.Request) {
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(importTimeout))
	q := r.URL.Query()
	f, err := s.iocFilter(q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	format := q.Get("format")
	if err := collection.CheckExportFormat(format, f); err != nil {
		s.writeError(w, r, err)
		return
	}
	if f.Sightings, err = s.n.Ratings().SightingsByTarget(); err != nil {
		s.writeError(w, r, err)
		return
	}
	leave, ok := s.enter(w, r, s.bulk, fmt.Sprintf("%d imports and exports are running", maxBulk))
	if !ok {
		return
	}
	defer leave()
	w.Header().Set("Content-Type", "application/json")
	// The document's head is flushed as soon as it is written, so a slow
	// export (a filter that matches little of a million) is seen to start
	// within the client's wait, not taken for a node that is not there.
	cw := &countWriter{w: w, first: func() { http.NewResponseController(w).Flush() }}
	if err := s.n.Collections().Export(cw, format, f); err != nil {
		if cw.n == 0 {
			s.writeError(w, r, err)
			return
		}
		s.log.Error("api", "path", r.URL.Path, "err", err)
		// Part of the document is out: break the reply, so the client
		// sees a cut transfer instead of a short document and success.
		panic(http.ErrAbortHandler)
	}
}

// countWriter counts the bytes written through it, and calls first (if
// set) after the first write.
type countWriter struct {
	w     io.Writer
	n     int64
	first func()
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if c.n == 0 && n > 0 && c.first != nil {
		defer c.first()
	}
	c.n += int64(n)
	return n, err
}

func (s *server) collections(r *http.Request) (int, any, error) {
	c := s.n.Collections()
	out := []apitype.Collection{}
	for _, name := range c.Names() {
		w, err := c.WritersOf(name)
		if err != nil {
			return 0, nil, err
		}
		out = append(out, apitype.Collection{Name: name, Writers: writersOut(w)})
	}
	return http.StatusOK, out, nil
}

func (s *server) setWriters(r *http.Request) (int, any, error) {
	var req apitype.Writers
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	w := collection.Writers{Mode: req.Mode}
	for _, a := range req.Authors {
		id, err := s.n.ResolveAuthor(a)
		if err != nil {
			return 0, nil, err
		}
		w.Authors = append(w.Authors, id)
	}
	name := r.PathValue("name")
	if err := s.n.Collections().SetWriters(name, w); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, apitype.Collection{Name: name, Writers: writersOut(w)}, nil
}

func writersOut(w collection.Writers) apitype.Writers {
	out := apitype.Writers{Mode: w.Mode}
	for _, a := range w.Authors {
		out.Authors = append(out.Authors, a.String())
	}
	return out
}
