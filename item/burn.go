package item

import (
	"strconv"
	"time"
)

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

// FormatTTL writes a timer in its largest whole unit, "10m", "24h", "7d",
// the form the CLI and the local API show and take (dm.ParseTTL).
func FormatTTL(d time.Duration) string {
	switch {
	case d <= 0:
		return d.String()
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}
