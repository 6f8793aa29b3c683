package rating

import (
	"cmp"
	"slices"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/reputation"
)

// RatingWeight is how many sightings one rating counts for (docs/reputation.md
// §1): a rating judges the whole source, a sighting one of its
// indicators.
const RatingWeight = 5

// Opinions reads every current sighting and rating held (the newest per
// logical key, §5.5) as the opinions EigenTrust weighs: each sighting of a
// source's statement counts one good (seen) or one bad (false positive)
// experience of the source, each rating RatingWeight.
func (s *Service) Opinions() ([]reputation.Opinion[identity.ID], error) {
	type current struct {
		v  item.Version
		op reputation.Opinion[identity.ID]
	}
	cur := map[item.Key]current{}
	err := s.h.Store().SpaceItems(item.ReputationSpace(), func(it *item.Item) error {
		k, err := LogicalKey(it)
		if err != nil {
			return nil // a tombstone, or not ours to read
		}
		if old, ok := cur[k]; ok && !item.VersionOf(it).Newer(old.v) {
			return nil
		}
		op := reputation.Opinion[identity.ID]{From: it.Author()}
		if it.Kind() == item.KindSighting {
			sg, _ := SightingOf(it)
			op.To = sg.Source
			if sg.Verdict == Seen {
				op.Good = 1
			} else {
				op.Bad = 1
			}
		} else {
			r, _ := RatingOf(it)
			op.To = r.Subject
			if r.Verdict == Good {
				op.Good = RatingWeight
			} else {
				op.Bad = RatingWeight
			}
		}
		cur[k] = current{item.VersionOf(it), op}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]reputation.Opinion[identity.ID], 0, len(cur))
	for _, c := range cur {
		out = append(out, c.op)
	}
	// In a fixed order, so the same store gives the same bits.
	slices.SortFunc(out, func(a, b reputation.Opinion[identity.ID]) int {
		return cmp.Or(a.From.Compare(b.From), a.To.Compare(b.To))
	})
	return out, nil
}

// Trust computes global trust from the opinions held, with us and
// preTrusted as the pre-trusted set.
func (s *Service) Trust(preTrusted []identity.ID) (*reputation.Trust[identity.ID], error) {
	ops, err := s.Opinions()
	if err != nil {
		return nil, err
	}
	pre := append([]identity.ID{s.h.ID()}, sortedIDs(preTrusted)...)
	return reputation.Compute(ops, reputation.Config[identity.ID]{PreTrusted: pre})
}
