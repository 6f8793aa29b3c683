package localapi

import (
	"context"
	"net/http"
	"net/url"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/node"
)

// Contact states and contact requests (docs/api.md, docs/trust.md). The
// node decides; these routes only carry the requests and answers.

// verifyPeerRequest is POST /v1/peers/{peer}/verify. SafetyNumber, if set,
// must match; the CLI sends the one the user confirmed.
type verifyPeerRequest struct {
	SafetyNumber string `json:"safety_number"`
}

// acceptRequestRequest is POST /v1/requests/{peer}/accept.
type acceptRequestRequest struct {
	Name string `json:"name"`
}

func (s *server) verifyPeer(r *http.Request) (int, any, error) {
	var req verifyPeerRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	id, err := s.n.ResolvePeer(r.PathValue("peer"))
	if err != nil {
		return 0, nil, err
	}
	p, err := s.n.VerifyPeer(id, req.SafetyNumber)
	return http.StatusOK, p, err
}

func (s *server) blockPeer(r *http.Request) (int, any, error) {
	id, err := s.n.ResolvePeer(r.PathValue("peer"))
	if err != nil {
		return 0, nil, err
	}
	p, err := s.n.BlockPeer(id)
	return http.StatusOK, p, err
}

func (s *server) unblockPeer(r *http.Request) (int, any, error) {
	id, err := s.n.ResolvePeer(r.PathValue("peer"))
	if err != nil {
		return 0, nil, err
	}
	p, err := s.n.UnblockPeer(id)
	return http.StatusOK, p, err
}

func (s *server) requests(r *http.Request) (int, any, error) {
	rs, err := s.n.Requests()
	return http.StatusOK, rs, err
}

// requestPeer reads the {peer} of a request route: an onion address, since
// a requester has no local name yet.
func requestPeer(r *http.Request) (identity.ID, error) {
	id, err := identity.ParseID(r.PathValue("peer"))
	if err != nil {
		return id, invalid("give the requester's onion address, as 'peer requests' lists it", "%v", err)
	}
	return id, nil
}

func (s *server) acceptRequest(r *http.Request) (int, any, error) {
	var req acceptRequestRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	id, err := requestPeer(r)
	if err != nil {
		return 0, nil, err
	}
	p, err := s.n.AcceptRequest(id, req.Name)
	return http.StatusOK, p, err
}

func (s *server) ignoreRequest(r *http.Request) (int, any, error) {
	id, err := requestPeer(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.n.IgnoreRequest(id)
}

// VerifyPeer is POST /v1/peers/{peer}/verify; safetyNumber, if not empty,
// must be the pair's.
func (c *Client) VerifyPeer(ctx context.Context, peer, safetyNumber string) (*node.Peer, error) {
	var p node.Peer
	return &p, c.Do(ctx, http.MethodPost, "/v1/peers/"+url.PathEscape(peer)+"/verify", verifyPeerRequest{SafetyNumber: safetyNumber}, &p)
}

// BlockPeer is POST /v1/peers/{peer}/block.
func (c *Client) BlockPeer(ctx context.Context, peer string) (*node.Peer, error) {
	var p node.Peer
	return &p, c.Do(ctx, http.MethodPost, "/v1/peers/"+url.PathEscape(peer)+"/block", nil, &p)
}

// UnblockPeer is POST /v1/peers/{peer}/unblock.
func (c *Client) UnblockPeer(ctx context.Context, peer string) (*node.Peer, error) {
	var p node.Peer
	return &p, c.Do(ctx, http.MethodPost, "/v1/peers/"+url.PathEscape(peer)+"/unblock", nil, &p)
}

// Requests is GET /v1/requests.
func (c *Client) Requests(ctx context.Context) ([]node.ContactRequest, error) {
	var rs []node.ContactRequest
	return rs, c.Do(ctx, http.MethodGet, "/v1/requests", nil, &rs)
}

// AcceptRequest is POST /v1/requests/{peer}/accept.
func (c *Client) AcceptRequest(ctx context.Context, peer, name string) (*node.Peer, error) {
	var p node.Peer
	return &p, c.Do(ctx, http.MethodPost, "/v1/requests/"+url.PathEscape(peer)+"/accept", acceptRequestRequest{Name: name}, &p)
}

// IgnoreRequest is POST /v1/requests/{peer}/ignore.
func (c *Client) IgnoreRequest(ctx context.Context, peer string) error {
	return c.Do(ctx, http.MethodPost, "/v1/requests/"+url.PathEscape(peer)+"/ignore", nil, nil)
}
