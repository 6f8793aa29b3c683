package localapi

import (
	"math"
	"net/http"
	"strconv"

	"github.com/ghostwire/ghostwire/collection"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/rating"
)

// withTrust has a list or export score each author (docs/reputation.md) and,
// with min_trust, leave out those below it.
func (s *server) withTrust(f *collection.Filter, min string) error {
	if min != "" {
		v, err := strconv.ParseFloat(min, 64)
		if err != nil || math.IsNaN(v) || v < 0 || v > 1 {
			return invalid("min_trust is a score from 0 to 1, e.g. 0.5", "bad min_trust %q", min)
		}
		f.MinTrust = v
	}
	score, err := s.n.SourceTrust()
	f.SourceTrust = score
	return err
}

// verdictOf reads a sighting's or rating's body ({"verdict": name}) and
// parses the name.
func verdictOf(r *http.Request, what, names string, parse func(string) (int, bool)) (int, error) {
	var req struct {
		Verdict string `json:"verdict"`
	}
	if err := decodeBody(r, &req); err != nil {
		return 0, err
	}
	v, ok := parse(req.Verdict)
	if !ok {
		return 0, invalid("the verdict is "+names, "unknown %s verdict %q", what, req.Verdict)
	}
	return v, nil
}

// sightIOC is POST /v1/iocs/{id}/sightings (apitype.SightingRequest).
func (s *server) sightIOC(r *http.Request) (int, any, error) {
	v, err := verdictOf(r, "sighting", "seen or false-positive", rating.ParseSighting)
	if err != nil {
		return 0, nil, err
	}
	x, err := s.n.Ratings().Sight(r.PathValue("id"), v)
	return http.StatusCreated, x, err
}

// ratePeer is POST /v1/peers/{peer}/rating (apitype.RatingRequest): peer
// is an address or a peer's name; a source need not be a peer to be
// rated.
func (s *server) ratePeer(r *http.Request) (int, any, error) {
	v, err := verdictOf(r, "rating", "good or bad", rating.ParseRating)
	if err != nil {
		return 0, nil, err
	}
	id, err := s.n.ResolveAuthor(r.PathValue("peer"))
	if err != nil {
		return 0, nil, err
	}
	x, err := s.n.Ratings().Rate(id, v)
	return http.StatusCreated, x, err
}

// trust is GET /v1/trust[?peer=P]: every score, or one explained.
func (s *server) trust(r *http.Request) (int, any, error) {
	var only *identity.ID
	if p := r.URL.Query().Get("peer"); p != "" {
		id, err := s.n.ResolveAuthor(p)
		if err != nil {
			return 0, nil, err
		}
		only = &id
	}
	rep, err := s.n.TrustReport(only)
	return http.StatusOK, rep, err
}
