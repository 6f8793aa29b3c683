//go:build realtime

package testnet

import (
	"fmt"
	"testing"
	"time"
)

// TestRealTimingLong is TestRealTiming's long version, built only with -tags realtime
// (`./run realtime`), so the suite neither runs nor skips it. It prints the time to reach a returning peer on a
// testing-timing network beside a real-timing one (three rounds each, the
// peer offline for 10 s), then on the real-timing one after the peer was
// offline for longer than tor's 15-minute block, dialled all that while on
// the node's backoff schedule.
func TestRealTimingLong(t *testing.T) {
	for _, real := range []bool{false, true} {
		name := map[bool]string{false: "testing timing", true: "real timing"}[real]
		nw := startTimed(t, real)
		b := joinTor(t, nw, "b")
		for range 3 {
			d, dials := returningPeer(t, nw, b, 10*time.Second)
			fmt.Printf("realtime: returning peer reached %.1fs after its descriptor upload (%d dials, one every %s; offline 10s), %s\n", d.Seconds(), dials, dialEvery, name)
		}
		if real {
			offline := realRequery + time.Minute
			d, dials := returningPeer(t, nw, b, offline)
			fmt.Printf("realtime: returning peer reached %.1fs after its descriptor upload (%d dials, one every %s; offline %s), %s\n", d.Seconds(), dials, dialEvery, offline, name)
		}
		b.Close()
		nw.Stop()
	}
}
