package localapi

import (
	"net/http"

	"github.com/ghostwire/ghostwire/localapi/apitype"
)

// keyList is GET /v1/keys: the identity and its subkeys.
func (s *server) keyList(*http.Request) (int, any, error) {
	x, err := s.n.Keys()
	return http.StatusOK, x, err
}

// rotateKey is POST /v1/keys/rotate (apitype.RotateRequest).
func (s *server) rotateKey(r *http.Request) (int, any, error) {
	var req apitype.RotateRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	x, err := s.n.RotateKey(req.Purpose)
	return http.StatusCreated, x, err
}

// revokeKey is POST /v1/keys/{key}/revoke (apitype.RevokeKeyRequest).
func (s *server) revokeKey(r *http.Request) (int, any, error) {
	var req apitype.RevokeKeyRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	x, err := s.n.RevokeKey(r.PathValue("key"), req.Reason)
	return http.StatusOK, x, err
}

// revokeIdentity is POST /v1/identity/revoke (apitype.RevokeKeyRequest):
// the identity revokes itself.
func (s *server) revokeIdentity(r *http.Request) (int, any, error) {
	var req apitype.RevokeKeyRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	x, err := s.n.RevokeIdentity(req.Reason)
	return http.StatusOK, x, err
}
