package rating

import (
	"github.com/ghostwire/ghostwire/ioc"
	"github.com/ghostwire/ghostwire/item"
)

// SightingsByTarget reads every current sighting held (the newest per
// sighter and statement, §5.5) and returns them by the IOC item they
// name, as export and the TAXII feed write them beside the indicator
// (docs/taxii.md, "Sightings"). It holds the sightings, not the
// indicators: a few dozen bytes per sighting.
func (s *Service) SightingsByTarget() (func(item.ID) []ioc.Sighting, error) {
	type current struct {
		v  item.Version
		sg Sighting
		x  ioc.Sighting
	}
	cur := map[item.Key]current{}
	err := s.h.Store().SpaceItems(item.ReputationSpace(), func(it *item.Item) error {
		if it.Kind() != item.KindSighting {
			return nil
		}
		sg, err := SightingOf(it)
		if err != nil {
			return nil // Check admitted it; a damaged one is not ours to show
		}
		k, _ := LogicalKey(it)
		if old, ok := cur[k]; ok && !item.VersionOf(it).Newer(old.v) {
			return nil
		}
		cur[k] = current{item.VersionOf(it), sg, ioc.Sighting{ID: it.ID().String(), Sighter: it.Author(),
			FalsePositive: sg.Verdict == FalsePositive, Created: it.Created()}}
		return nil
	})
	if err != nil {
		return nil, err
	}
	by := map[item.ID][]ioc.Sighting{}
	for _, c := range cur {
		by[c.sg.Target] = append(by[c.sg.Target], c.x)
	}
	return func(id item.ID) []ioc.Sighting { return by[id] }, nil
}
