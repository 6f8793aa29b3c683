package item

import "time"

// Expiry is when a stored item stops being offered (docs/ioc.md §8: an
// IOC's valid-until). The services say it; scopeset indexes it and leaves
// the item out of the sets it hands the sync engine from then on.
type Expiry struct {
	ID    ID
	Until time.Time
}
