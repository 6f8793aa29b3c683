package rating

import (
	"errors"
	"slices"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/service"
	"github.com/ghostwire/ghostwire/store"
)

// Host is what the service needs of the node.
type Host interface {
	service.Host
	// Signer is the signing subkey our new sightings and ratings are
	// signed with (docs/protocol.md §5.9); their author is still our
	// identity.
	Signer() (item.Signer, error)
	// Statement returns the IOC item ref names (an item ID or content ID,
	// or a unique prefix), or an error saying why none or several match.
	Statement(ref string) (*item.Item, error)
	// Publish stores our own new items in their scopes and sends them to
	// every peer that shares one.
	Publish(entries []store.Entry, expiries []item.Expiry) (added int, err error)
}

// Service is the sightings and ratings of one node. It is safe for
// concurrent use: its state is the store.
type Service struct{ h Host }

// New returns the service.
func New(h Host) *Service { return &Service{h: h} }

// Scope is the one scope sightings and ratings travel in (docs/protocol.md
// §5.10): the reputation space, class trusted.
func Scope() item.Scope { return item.ScopeOf(item.ReputationSpace(), item.ClassTrusted) }

// Scopes lists the scopes shared with peer: the reputation scope, with
// every peer (a peer is someone the user added, as for TLP GREEN).
func (s *Service) Scopes(identity.ID) []item.Scope { return []item.Scope{Scope()} }

// Check returns the test an item peer sent in sc must pass, or nil if sc
// is not the reputation scope. Anyone's sightings and ratings are admitted,
// not only the peer's: trust is transitive, so the opinions of the peers'
// peers are what EigenTrust weighs (and weighs by who vouches for them). A
// sighting of an IOC item we hold must name that item's author as its
// source and the item must be in the clear; one we do not hold is kept,
// since its author's opinion counts only as far as its author is trusted.
func (s *Service) Check(_ identity.ID, sc item.Scope) func(*item.Item) bool {
	if sc != Scope() {
		return nil
	}
	return func(it *item.Item) bool {
		if it.Space() != item.ReputationSpace() {
			return false
		}
		switch it.Kind() {
		case item.KindTombstone:
			return true // deletes only its author's item (item.Deletes)
		case item.KindRating:
			_, err := RatingOf(it)
			return err == nil
		case item.KindSighting:
			sg, err := SightingOf(it)
			return err == nil && s.consistent(sg) == nil
		}
		return false
	}
}

// consistent checks a sighting against the IOC item it names, if held. A
// deleted target cannot be checked (only its tombstone is left), and a
// verdict on an indicator its author has since retracted is still the
// sighter's experience of the author.
func (s *Service) consistent(sg Sighting) error {
	target, dead, err := s.h.Store().GetItem(sg.Target)
	if errors.Is(err, store.ErrNotFound) || (err == nil && dead) {
		return nil
	}
	if err != nil {
		return err
	}
	if target.Kind() != item.KindIOC || target.Author() != sg.Source {
		return errors.New("rating: the sighting names another source than its target's author, or a target that is not an IOC in the clear")
	}
	return nil
}

// Accepted has nothing to do: scores are computed when asked for.
func (s *Service) Accepted(identity.ID, []*item.Item) error { return nil }

// Sight records our sighting of the IOC statement ref names. Only an
// indicator in the clear can be sighted: a sighting travels to every
// peer, and one of an amber or red indicator would reveal it outside its
// audience.
func (s *Service) Sight(ref string, verdict int) (*apitype.Sighting, error) {
	target, err := s.h.Statement(ref)
	if err != nil {
		return nil, err
	}
	if target.Kind() != item.KindIOC {
		return nil, fault.Invalidf("sight only clear and green indicators", "%s is sealed to its recipients: a sighting goes to every peer and would reveal it", ref)
	}
	signer, err := s.h.Signer()
	if err != nil {
		return nil, err
	}
	it, err := NewSighting(signer, Sighting{Target: target.ID(), Source: target.Author(), Verdict: verdict}, s.h.Now())
	if err != nil {
		return nil, fault.Invalidf("the verdict is seen or false-positive", "%v", err)
	}
	if err := s.publish(it); err != nil {
		return nil, err
	}
	return &apitype.Sighting{ID: it.ID().String(), Target: target.ID().String(), Source: target.Author().String(),
		Verdict: sightingNames[verdict], Created: it.Created()}, nil
}

// Rate records our rating of peer.
func (s *Service) Rate(peer identity.ID, verdict int) (*apitype.Rating, error) {
	signer, err := s.h.Signer()
	if err != nil {
		return nil, err
	}
	it, err := NewRating(signer, Rating{Subject: peer, Verdict: verdict}, s.h.Now())
	if errors.Is(err, ErrSelf) {
		return nil, fault.Invalidf("rate other sources; your own indicators always count as fully trusted here", "you cannot rate yourself")
	}
	if err != nil {
		return nil, fault.Invalidf("the verdict is good or bad", "%v", err)
	}
	if err := s.publish(it); err != nil {
		return nil, err
	}
	return &apitype.Rating{ID: it.ID().String(), Subject: peer.String(), Verdict: ratingNames[verdict], Created: it.Created()}, nil
}

func (s *Service) publish(it *item.Item) error {
	_, err := s.h.Publish([]store.Entry{{Item: it, Scopes: []item.Scope{Scope()}}}, nil)
	return err
}

// The verdicts' names in the API and CLI.
var (
	sightingNames = map[int]string{Seen: "seen", FalsePositive: "false-positive"}
	ratingNames   = map[int]string{Good: "good", Bad: "bad"}
)

// ParseSighting and ParseRating read a verdict's API name.
func ParseSighting(s string) (int, bool) { return parseName(sightingNames, s) }

// ParseRating reads a rating verdict's API name.
func ParseRating(s string) (int, bool) { return parseName(ratingNames, s) }

func parseName(names map[int]string, s string) (int, bool) {
	for v, n := range names {
		if n == s {
			return v, true
		}
	}
	return 0, false
}

// sortedIDs is a helper for deterministic output.
func sortedIDs(ids []identity.ID) []identity.ID {
	return slices.SortedFunc(slices.Values(ids), identity.ID.Compare)
}
