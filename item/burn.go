package item

import "time"

// Burn timers, docs/protocol.md §5.11 (direct messages) and §13.6 (room
// messages): every kind that burns takes its timer from one range, the
// one Briar offers, so a user meets one rule wherever they set a timer.
const (
	MinTTL = time.Minute
	MaxTTL = 365 * 24 * time.Hour
)

// BurnMemory is how long past a burnt item's deadline a node remembers its
// ID (store.DB.Burn), so that a peer that has not burnt it yet, and offers
// it again, is ignored. Past the deadline plus the clock skew items are
// allowed (MaxFutureSkew) the item is refused as expired wherever it comes
// from, so the ID need not be kept longer; the hour is margin.
const BurnMemory = MaxFutureSkew + time.Hour
