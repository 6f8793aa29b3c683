package lan

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Pairing advert, docs/protocol.md §12.5.1.
const (
	// pairingVersion opens a pairing advert's TXT record.
	pairingVersion = "v=1"
	// nameplatePrefix opens the string that carries the nameplate.
	nameplatePrefix = "n="
	// nameplateLen is the nameplate's digits.
	nameplateLen = 2
)

// Implementation constants.
const (
	// duplicateWait is how long FindPairing keeps listening after the
	// first advert with the nameplate, to notice a second one: long
	// enough for the answers to one mDNS query, which arrive together.
	duplicateWait = 700 * time.Millisecond
)

// ErrNoPairing means no device on the link showed the nameplate before
// the search ended.
var ErrNoPairing = errors.New("lan: no device on the link shows that pairing code")

// ErrNameplateTaken means two devices on the link advertise the same
// nameplate: guessing between them could spend the wrong one's tries.
var ErrNameplateTaken = errors.New("lan: two devices on the link show a code with that nameplate")

// PairingText is the TXT record of a pairing advert for nameplate: the
// version and the nameplate, nothing else (§12.5.1).
func PairingText(nameplate string) []string {
	return []string{pairingVersion, nameplatePrefix + nameplate}
}

// ParsePairingAdvert reads a pairing advert's TXT record strictly: exactly
// "v=1" then "n=" and two ASCII digits. Anyone can publish under
// PairingServiceType; a refused record is skipped.
func ParsePairingAdvert(txt []string) (nameplate string, err error) {
	if len(txt) != 2 || txt[0] != pairingVersion {
		return "", errors.New("lan: not a GhostWire pairing advert")
	}
	np, ok := strings.CutPrefix(txt[1], nameplatePrefix)
	if !ok || len(np) != nameplateLen || np[0] < '0' || np[0] > '9' || np[1] < '0' || np[1] > '9' {
		return "", errors.New("lan: not a GhostWire pairing advert")
	}
	return np, nil
}

// AdvertisePairing publishes a pairing advert for nameplate, under a fresh
// random instance name and host label, pointing at the open listener,
// until stop is called or the listener closes (§12.5.1).
func (t *Transport) AdvertisePairing(nameplate string) (stop func(), err error) {
	if _, err := ParsePairingAdvert(PairingText(nameplate)); err != nil {
		return nil, fmt.Errorf("lan: bug: nameplate %q", nameplate)
	}
	inst, err := randomLabel(t.cfg.Rand)
	if err != nil {
		return nil, err
	}
	return t.Publish(PairingServiceType, inst, PairingText(nameplate))
}

// FindPairing browses the link for a pairing advert with nameplate and
// returns its address. It waits until ctx ends for the first, then a
// moment more for a second one: two adverts with one nameplate are
// ErrNameplateTaken. Nothing found is ErrNoPairing.
func (t *Transport) FindPairing(ctx context.Context, nameplate string) (netip.AddrPort, error) {
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		seen  = map[string]netip.AddrPort{}
		timer *time.Timer
	)
	err := t.Browse(bctx, PairingServiceType, func(s Service) {
		np, err := ParsePairingAdvert(s.Text)
		if err != nil || np != nameplate {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		seen[s.Instance] = s.Addrs[0]
		if timer == nil {
			timer = time.AfterFunc(duplicateWait, cancel)
		}
	})
	mu.Lock()
	defer mu.Unlock()
	if timer != nil {
		timer.Stop()
	}
	switch {
	case len(seen) > 1:
		return netip.AddrPort{}, fmt.Errorf("%w (%d of them)", ErrNameplateTaken, len(seen))
	case len(seen) == 1:
		for _, a := range seen {
			return a, nil
		}
	case err != nil:
		return netip.AddrPort{}, err
	}
	return netip.AddrPort{}, fmt.Errorf("%w (nameplate %s on %s)", ErrNoPairing, nameplate, t.lk().iface.Name)
}
