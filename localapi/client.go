package localapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ghostwire/ghostwire/localapi/apitype"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/node"
)

// Client talks to a running node's local API over its Unix socket. The
// CLI uses exactly this API, as any script can.
type Client struct {
	socket string
	http   *http.Client
	// Skipped, if set, is called when a reply says the node left stored
	// items out of it as unreadable (SkippedHeader).
	Skipped func(n int64)
}

// NewClient returns a client of the API at the Unix socket path.
func NewClient(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialOwn(ctx, socket)
		},
		DisableCompression: true,
	}
	return &Client{socket: socket, http: &http.Client{Transport: tr}}
}

// Socket is the path the client connects to.
func (c *Client) Socket() string { return c.socket }

// Error is an error reply: the node's message and hint, and its kind (a
// fault.Kind, or one of the API's own) for the caller to branch on.
type Error struct {
	Status int
	Kind   fault.Kind
	Msg    string
	Hint   string
}

func (e *Error) Error() string { return e.Msg }

// DoRequest sends req to the node as it is and returns the reply, whatever
// its status (for checking the API's refusals); the caller closes the body.
func (c *Client) DoRequest(req *http.Request) (*http.Response, error) { return c.http.Do(req) }

// Do sends a request with an optional JSON body and decodes a JSON reply
// into out (if non-nil). path is one of docs/api.md's, with its query.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	return c.doWait(ctx, method, path, body, out, AnswerWait)
}

// doWait is Do with the time the node may take to begin its answer.
func (c *Client) doWait(ctx context.Context, method, path string, body, out any, wait time.Duration) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	resp, err := c.send(ctx, method, path, rd, wait)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return fmt.Errorf("reading the node's answer: %w", err)
		}
	}
	// A streamed listing counts what it skipped in a trailer, which is
	// there once the body has been read to its end.
	io.Copy(io.Discard, resp.Body)
	c.noteSkipped(resp.Trailer)
	return nil
}

// noteSkipped hands a reply's count of damaged items left out
// (SkippedHeader, in its header or trailer) to c.Skipped.
func (c *Client) noteSkipped(h http.Header) {
	if n, err := strconv.ParseInt(h.Get(SkippedHeader), 10, 64); err == nil && n > 0 && c.Skipped != nil {
		c.Skipped(n)
	}
}

// send makes one request (body, if any, is JSON) and returns the reply
// once it is a success; the caller closes its body. The node must begin
// its answer within wait.
func (c *Client) send(ctx context.Context, method, path string, body io.Reader, wait time.Duration) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://ghostwire"+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.do(req, wait)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var e ErrorBody
		json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e)
		if e.Error == "" {
			e.Error = resp.Status
		}
		return nil, &Error{Status: resp.StatusCode, Kind: e.Kind, Msg: e.Error, Hint: e.Hint}
	}
	c.noteSkipped(resp.Header)
	return resp, nil
}

// Stream calls fn for every JSON line of a streaming reply until ctx ends
// or the node ends it.
func (c *Client) Stream(ctx context.Context, path string, fn func(json.RawMessage) error) error {
	resp, err := c.send(ctx, http.MethodGet, path, nil, AnswerWait)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var m json.RawMessage
		if err := dec.Decode(&m); err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := fn(m); err != nil {
			return err
		}
	}
}

// Status is GET /v1/status.
func (c *Client) Status(ctx context.Context) (*node.Status, error) {
	var st node.Status
	return &st, c.Do(ctx, http.MethodGet, "/v1/status", nil, &st)
}

// Peers is GET /v1/peers.
func (c *Client) Peers(ctx context.Context) ([]node.Peer, error) {
	var ps []node.Peer
	return ps, c.Do(ctx, http.MethodGet, "/v1/peers", nil, &ps)
}

// AddPeer is POST /v1/peers.
func (c *Client) AddPeer(ctx context.Context, onion, name string) (*node.Peer, error) {
	return c.AddPeerAt(ctx, onion, name, "")
}

// AddPeerAt is POST /v1/peers with the ADDR:PORT where LAN mode dials the
// peer when its advert is not seen (empty: none).
func (c *Client) AddPeerAt(ctx context.Context, onion, name, lan string) (*node.Peer, error) {
	var p node.Peer
	return &p, c.Do(ctx, http.MethodPost, "/v1/peers", addPeerRequest{Onion: onion, Name: name, LAN: lan}, &p)
}

// OfferPairing is POST /v1/pair: a new code to show.
func (c *Client) OfferPairing(ctx context.Context, as string) (*node.PairOffer, error) {
	var o node.PairOffer
	return &o, c.Do(ctx, http.MethodPost, "/v1/pair", pairRequest{As: as}, &o)
}

// WaitPairing is POST /v1/pair/wait: it returns once the shown code pairs
// or fails for good, so ctx should allow a code's lifetime.
func (c *Client) WaitPairing(ctx context.Context) (*node.PairResult, error) {
	var r node.PairResult
	return &r, c.doWait(ctx, http.MethodPost, "/v1/pair/wait", nil, &r, AnswerWait+pairWait)
}

// JoinPairing is POST /v1/pair/join: pair with the device showing code.
func (c *Client) JoinPairing(ctx context.Context, code, as, name string) (*node.PairResult, error) {
	var r node.PairResult
	return &r, c.doWait(ctx, http.MethodPost, "/v1/pair/join", pairRequest{Code: code, As: as, Name: name}, &r, AnswerWait+pairWait)
}

// RemovePeer is DELETE /v1/peers/{peer}; peer is an address or a name.
func (c *Client) RemovePeer(ctx context.Context, peer string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/peers/"+url.PathEscape(peer), nil, nil)
}

// SendMessage is POST /v1/messages.
func (c *Client) SendMessage(ctx context.Context, peer, text string) (*node.Message, error) {
	return c.SendBurning(ctx, peer, text, false, "")
}

// SendBurning is POST /v1/messages of a message that burns after it is
// read (afterRead) or when ttl ("10m", "24h", "7d") runs out; neither set
// sends an ordinary message.
func (c *Client) SendBurning(ctx context.Context, peer, text string, afterRead bool, ttl string) (*node.Message, error) {
	var m node.Message
	return &m, c.Do(ctx, http.MethodPost, "/v1/messages", sendMessageRequest{Peer: peer, Text: text, BurnAfterRead: afterRead, TTL: ttl}, &m)
}

// Messages is GET /v1/messages, with one peer's only if peer is set.
func (c *Client) Messages(ctx context.Context, peer string) ([]node.Message, error) {
	var ms []node.Message
	return ms, c.Do(ctx, http.MethodGet, "/v1/messages"+Query("peer", peer), nil, &ms)
}

// FollowMessages is GET /v1/messages?follow=1: fn gets every message, then
// each one that arrives or changes state, until ctx ends.
func (c *Client) FollowMessages(ctx context.Context, peer string, fn func(*node.Message) error) error {
	return c.Stream(ctx, "/v1/messages"+Query("peer", peer, "follow", "1"), func(raw json.RawMessage) error {
		var m node.Message
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("reading the node's answer: %w", err)
		}
		return fn(&m)
	})
}

// IOCQuery filters GET /v1/iocs and the export; empty fields filter
// nothing. Author is an onion address or a peer's name, Since RFC 3339.
type IOCQuery struct {
	Collection, TLP, Type, Author, Since string
	Expired                              bool
	// MinTrust leaves out authors whose trust score is below it (0 to 1,
	// docs/reputation.md); empty filters nothing.
	MinTrust string
}

func (q IOCQuery) query(extra ...string) string {
	return Query(append(extra, "collection", q.Collection, "tlp", q.TLP, "type", q.Type, "author", q.Author,
		"since", q.Since, "expired", flag1(q.Expired), "min_trust", q.MinTrust)...)
}

// DropIOC is POST /v1/iocs.
func (c *Client) DropIOC(ctx context.Context, req node.DropRequest) (*node.IOC, error) {
	var x node.IOC
	return &x, c.Do(ctx, http.MethodPost, "/v1/iocs", req, &x)
}

// ListIOCs is GET /v1/iocs.
func (c *Client) ListIOCs(ctx context.Context, q IOCQuery) ([]node.IOC, error) {
	var xs []node.IOC
	return xs, c.Do(ctx, http.MethodGet, "/v1/iocs"+q.query(), nil, &xs)
}

// EachIOC is GET /v1/iocs, calling fn with each indicator as it arrives,
// so the first are shown before the node has read the rest.
func (c *Client) EachIOC(ctx context.Context, q IOCQuery, fn func(*node.IOC) error) error {
	resp, err := c.send(ctx, http.MethodGet, "/v1/iocs"+q.query(), nil, AnswerWait)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return fmt.Errorf("reading the node's answer: not a JSON array (%v)", err)
	}
	for dec.More() {
		var x node.IOC
		if err := dec.Decode(&x); err != nil {
			return fmt.Errorf("reading the node's answer (the listing was cut): %w", err)
		}
		if err := fn(&x); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("reading the node's answer (the listing was cut): %w", err)
	}
	io.Copy(io.Discard, resp.Body) // to the trailer: what the listing skipped
	c.noteSkipped(resp.Trailer)
	return nil
}

// Feed is GET /v1/iocs/feed: one page of a collection's STIX objects.
func (c *Client) Feed(ctx context.Context, q apitype.FeedRequest) (*apitype.FeedPage, error) {
	v := url.Values{"collection": {q.Collection}}
	if q.After != "" {
		v.Set("after", q.After)
	} else if !q.AddedAfter.IsZero() {
		v.Set("added_after", q.AddedAfter.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit > 0 {
		v.Set("limit", fmt.Sprint(q.Limit))
	}
	v["tlp"], v["id"], v["type"] = q.TLPs, q.IDs, q.Types
	var page apitype.FeedPage
	return &page, c.Do(ctx, http.MethodGet, "/v1/iocs/feed?"+v.Encode(), nil, &page)
}

// ShowIOC is GET /v1/iocs/{id}.
func (c *Client) ShowIOC(ctx context.Context, id string) ([]node.IOC, error) {
	var xs []node.IOC
	return xs, c.Do(ctx, http.MethodGet, "/v1/iocs/"+url.PathEscape(id), nil, &xs)
}

// RetractIOC is DELETE /v1/iocs/{id}.
func (c *Client) RetractIOC(ctx context.Context, id string) (*node.IOC, error) {
	var x node.IOC
	return &x, c.Do(ctx, http.MethodDelete, "/v1/iocs/"+url.PathEscape(id), nil, &x)
}

// FetchIOC is POST /v1/iocs/{id}/fetch; the reply may take wait (at most
// 2 minutes), so ctx should allow that and more.
func (c *Client) FetchIOC(ctx context.Context, id string, wait time.Duration) (*node.FetchResult, error) {
	var res node.FetchResult
	return &res, c.doWait(ctx, http.MethodPost, "/v1/iocs/"+url.PathEscape(id)+"/fetch"+Query("wait", wait.String()), nil, &res, AnswerWait+wait)
}

// ExportIOCs is GET /v1/iocs/export: it copies the document to w as it
// arrives.
func (c *Client) ExportIOCs(ctx context.Context, format string, q IOCQuery, w io.Writer) error {
	resp, err := c.send(ctx, http.MethodGet, "/v1/iocs/export"+q.query("format", format), nil, AnswerWait)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("copying the node's reply (what was written is incomplete): %w", err)
	}
	return nil
}

// Imports is GET /v1/iocs/imports: the node's import records, newest
// first.
func (c *Client) Imports(ctx context.Context) ([]apitype.ImportRecord, error) {
	var out []apitype.ImportRecord
	return out, c.Do(ctx, http.MethodGet, "/v1/iocs/imports", nil, &out)
}

// ImportIOCs is POST /v1/iocs/import: it streams in to the node, calling
// progress (if set) with each progress line, and returns the result. When
// the node refused the import the result may be there too (what failed),
// with an *Error.
func (c *Client) ImportIOCs(ctx context.Context, in io.Reader, req node.ImportRequest, progress func(node.ImportProgress)) (*node.ImportResult, error) {
	q := Query("collection", req.Collection, "tlp", req.TLP, "to", strings.Join(req.To, ","), "partial", flag1(req.Partial), "source", req.Source)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://ghostwire/v1/iocs/import"+q, in)
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	// No answer deadline: the node answers once it has read the first
	// batch, and the input comes as fast as its writer makes it.
	resp, err := c.do(hreq, 0)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	var last ImportLine
	for {
		var l ImportLine
		if err := dec.Decode(&l); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("reading the node's answer: %w", err)
		}
		if l.Progress != nil {
			if progress != nil {
				progress(*l.Progress)
			}
			continue
		}
		last = l
	}
	if last.Error != "" {
		status := resp.StatusCode
		if status < 300 { // the error came after progress lines
			status = http.StatusInternalServerError
			if s, ok := statusOf[last.Kind]; ok {
				status = s
			}
		}
		return last.Result, &Error{Status: status, Kind: last.Kind, Msg: last.Error, Hint: last.Hint}
	}
	if last.Result == nil {
		return nil, fmt.Errorf("the node's answer had no result (status %s)", resp.Status)
	}
	return last.Result, nil
}

// Query builds a query string from key, value pairs, leaving out empty
// values.
func Query(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			v.Set(kv[i], kv[i+1])
		}
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

// flag1 is a boolean query parameter: "1", or "" to leave it out.
func flag1(b bool) string {
	if b {
		return "1"
	}
	return ""
}

// Collections lists the collections held here and who may write to each.
func (c *Client) Collections(ctx context.Context) ([]apitype.Collection, error) {
	var out []apitype.Collection
	return out, c.Do(ctx, http.MethodGet, "/v1/collections", nil, &out)
}

// SetWriters sets who may add indicators to a collection here.
func (c *Client) SetWriters(ctx context.Context, name string, w apitype.Writers) (*apitype.Collection, error) {
	var out apitype.Collection
	return &out, c.Do(ctx, http.MethodPut, "/v1/collections/"+url.PathEscape(name)+"/writers", w, &out)
}

// SightIOC is POST /v1/iocs/{id}/sightings; verdict is "seen" or
// "false-positive".
func (c *Client) SightIOC(ctx context.Context, id, verdict string) (*apitype.Sighting, error) {
	var x apitype.Sighting
	return &x, c.Do(ctx, http.MethodPost, "/v1/iocs/"+url.PathEscape(id)+"/sightings", apitype.SightingRequest{Verdict: verdict}, &x)
}

// RatePeer is POST /v1/peers/{peer}/rating; verdict is "good" or "bad".
func (c *Client) RatePeer(ctx context.Context, peer, verdict string) (*apitype.Rating, error) {
	var x apitype.Rating
	return &x, c.Do(ctx, http.MethodPost, "/v1/peers/"+url.PathEscape(peer)+"/rating", apitype.RatingRequest{Verdict: verdict}, &x)
}

// Trust is GET /v1/trust: every identity's score, or with peer set that
// one's, explained.
func (c *Client) Trust(ctx context.Context, peer string) (*apitype.TrustReport, error) {
	var x apitype.TrustReport
	return &x, c.Do(ctx, http.MethodGet, "/v1/trust"+Query("peer", peer), nil, &x)
}

// Keys is GET /v1/keys: the identity and its subkeys, newest first.
func (c *Client) Keys(ctx context.Context) (*apitype.KeyList, error) {
	var x apitype.KeyList
	return &x, c.Do(ctx, http.MethodGet, "/v1/keys", nil, &x)
}

// RotateKey is POST /v1/keys/rotate; purpose is "signing" or empty.
func (c *Client) RotateKey(ctx context.Context, purpose string) (*apitype.Subkey, error) {
	var x apitype.Subkey
	return &x, c.Do(ctx, http.MethodPost, "/v1/keys/rotate", apitype.RotateRequest{Purpose: purpose}, &x)
}

// RevokeIdentity is POST /v1/identity/revoke: the identity revokes itself,
// for good.
func (c *Client) RevokeIdentity(ctx context.Context, reason string) (*apitype.IdentityRevocation, error) {
	var x apitype.IdentityRevocation
	return &x, c.Do(ctx, http.MethodPost, "/v1/identity/revoke", apitype.RevokeKeyRequest{Reason: reason}, &x)
}

// RevokeKey is POST /v1/keys/{key}/revoke: key is a subkey's hex key or a
// prefix of at least 8 characters.
func (c *Client) RevokeKey(ctx context.Context, key, reason string) (*apitype.Subkey, error) {
	var x apitype.Subkey
	return &x, c.Do(ctx, http.MethodPost, "/v1/keys/"+url.PathEscape(key)+"/revoke", apitype.RevokeKeyRequest{Reason: reason}, &x)
}
