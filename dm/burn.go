package dm

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/wire"
)

// Burn timers, docs/protocol.md §5.11: the range of every kind that
// burns (item.MinTTL, item.MaxTTL).
const (
	MinTTL = item.MinTTL
	MaxTTL = item.MaxTTL
)

// burnMemory is how long past a burnt message's deadline its ID is kept
// (item.BurnMemory).
const burnMemory = item.BurnMemory

// Timer says how a message burns. The zero Timer is an ordinary message.
type Timer struct {
	// AfterRead burns the message once its recipient has listed it: on the
	// recipient's node as soon as it has sent the read receipt, on the
	// sender's when the receipt arrives.
	AfterRead bool
	// TTL burns the message this long after it was created, on every node,
	// by that node's clock; zero with AfterRead means MaxTTL, so that no
	// burnable message outlives the longest timer.
	TTL time.Duration
}

// Burns reports whether t makes a burnable message.
func (t Timer) Burns() bool { return t.AfterRead || t.TTL != 0 }

// ErrTTLRange is wrapped by the error for a received payload whose TTL is
// outside MinTTL..MaxTTL; a timer the user gives is refused with a
// fault.Invalid error saying the range.
var ErrTTLRange = errors.New("dm: ttl out of range")

// check returns the timer with its TTL filled in, or an error saying what
// is wrong.
func (t Timer) check() (Timer, error) {
	if t.AfterRead && t.TTL == 0 {
		t.TTL = MaxTTL
	}
	if t.TTL < MinTTL || t.TTL > MaxTTL || t.TTL%time.Second != 0 {
		return t, fault.Invalidf("give a ttl from 1m to 365d, such as 10m, 24h or 7d",
			"ttl %s is outside the range %s to %s (in whole seconds)", FormatTTL(t.TTL), FormatTTL(MinTTL), FormatTTL(MaxTTL))
	}
	return t, nil
}

// ParseTTL reads a timer's length: a number and a unit, s, m, h or d
// ("10m", "24h", "7d"), or a Go duration ("1h30m"). The range is checked
// where the timer is used (MinTTL..MaxTTL): "30s" parses, and is refused
// there as shorter than a minute.
func ParseTTL(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseUint(n, 10, 16)
		if err == nil {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	return 0, fault.Invalidf("write it as a number and a unit: 10m, 24h or 7d", "ttl %q is not a duration", s)
}

// FormatTTL writes d the way ParseTTL reads it, in its largest whole unit
// (item.FormatTTL).
func FormatTTL(d time.Duration) string { return item.FormatTTL(d) }

// decodeBurn reads a burnable message's payload (§5.11) strictly: canonical
// CBOR, a TTL in range, a sealed body present.
func decodeBurn(payload []byte) (Timer, []byte, error) {
	var p burnPayload
	if err := wire.UnmarshalCanonical(payload, &p); err != nil {
		return Timer{}, nil, err
	}
	if p.TTL > uint64(MaxTTL/time.Second) {
		return Timer{}, nil, fmt.Errorf("%w: %d seconds", ErrTTLRange, p.TTL)
	}
	t := Timer{AfterRead: p.AfterRead, TTL: time.Duration(p.TTL) * time.Second}
	if t.TTL < MinTTL {
		return Timer{}, nil, fmt.Errorf("%w: %d seconds", ErrTTLRange, p.TTL)
	}
	if len(p.Sealed) == 0 {
		return Timer{}, nil, errors.New("dm: burnable message without a body")
	}
	return t, p.Sealed, nil
}

func encodeBurn(t Timer, sealed []byte) ([]byte, error) {
	return wire.Marshal(burnPayload{TTL: uint64(t.TTL / time.Second), AfterRead: t.AfterRead, Sealed: sealed})
}

// deadline is when a burnable message burns at the latest: its creation
// time (as its author dated it, within item.MaxFutureSkew of our clock)
// plus its TTL, so that both sides reckon the same moment.
func deadline(it *item.Item, t Timer) time.Time { return it.Created().Add(t.TTL) }

// burnView is the timer as the API shows it.
func burnView(it *item.Item, t Timer) *apitype.Burn {
	return &apitype.Burn{AfterRead: t.AfterRead, TTL: FormatTTL(t.TTL), Deadline: deadline(it, t), SetBy: it.Author().String()}
}

// burn destroys the messages ids on this node: their vault keys first
// (which is what erases them, store copies and all), then what the store
// kept of them. keep is how long their IDs are remembered (burnMemory past
// their deadline). A stop between the two steps is finished by Start.
func (s *Service) burn(ids []item.ID, keep time.Time, why string) {
	if len(ids) == 0 {
		return
	}
	for _, id := range ids {
		if err := s.seal.destroy(id); err != nil {
			// The key survives: leave the store alone so that Start, or the
			// next timer, tries again rather than forget the item.
			s.h.Log().Error("destroying a message key failed; it will be tried again", "err", err)
			return
		}
	}
	if err := s.h.Store().Burn(ids, keep); err != nil {
		s.h.Log().Warn("tidying burnt messages failed; the next start finishes it", "err", err)
	}
	s.h.Log().Info("messages burnt", "count", len(ids), "why", why)
	s.h.Changed()
}

// BurnDue burns every message whose timer has run out and returns when the
// next one does (zero: none). The node calls it when it starts, before it
// serves anything, and again whenever that time comes.
func (s *Service) BurnDue() time.Time {
	now := s.h.Now()
	var due []item.ID
	next, err := s.h.Store().SealedDue(now, func(id item.ID) { due = append(due, id) })
	if err != nil {
		s.h.Log().Warn("reading burn timers failed", "err", err)
		return now.Add(time.Minute)
	}
	s.burn(due, now.Add(burnMemory), "timer")
	// Forgetting reads every remembered ID; the node calls BurnDue on every
	// stored change, so it is done at most once an hour (IDs are kept an
	// hour past need anyway: burnMemory).
	if last := s.forgotAt.Load(); now.Unix()-last >= int64(time.Hour/time.Second) || last == 0 {
		if err := s.h.Store().ForgetBurned(now); err != nil {
			s.h.Log().Warn("forgetting old burnt IDs failed", "err", err)
		}
		s.forgotAt.Store(now.Unix())
	}
	return next
}

// Start finishes what a stop (or a kill) interrupted, then burns every
// message whose timer ran out while the node was off. Keys in the vault
// whose message never reached the store, or was tidied away, are
// destroyed; messages whose key was destroyed but which the store still
// lists are tidied. The node calls it once, before it serves anything.
func (s *Service) Start() time.Time {
	if s.seal != nil {
		var stored []item.ID
		if err := s.h.Store().SealedIDs(func(id item.ID) { stored = append(stored, id) }); err != nil {
			s.h.Log().Warn("listing sealed messages failed", "err", err)
		} else if gone := s.seal.sweep(stored, s.h.Log()); len(gone) > 0 {
			if err := s.h.Store().Burn(gone, s.h.Now().Add(burnMemory)); err != nil {
				s.h.Log().Warn("tidying burnt messages failed", "err", err)
			}
		}
	}
	return s.BurnDue()
}

// burnRead burns our after-read messages to peer that the peer reports read
// in receipts already stored: the sender's copy goes once the recipient's
// has.
func (s *Service) burnRead(peer identity.ID) {
	read := map[item.ID]bool{}
	var mine []*item.Item
	s.h.Store().SpaceItems(item.DirectSpace(s.h.ID(), peer), func(it *item.Item) error {
		switch {
		case it.Kind() == item.KindReceipt && it.Author() == peer:
			addRead(it, read)
		case it.Kind() == item.KindBurnMessage && it.Author() == s.h.ID():
			mine = append(mine, it)
		}
		return nil
	})
	var ids []item.ID
	keep := s.h.Now()
	for _, it := range mine {
		t, _, err := decodeBurn(it.Payload())
		if err == nil && t.AfterRead && read[it.ID()] {
			ids = append(ids, it.ID())
			keep = later(keep, deadline(it, t).Add(burnMemory))
		}
	}
	s.burn(ids, keep, "read by the peer")
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
