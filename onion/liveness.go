package onion

import (
	"errors"
	"os"
	"time"
)

// watch probes tor's liveness on the session's own connection until the
// session ends. A tor that is stopped (SIGSTOP), deadlocked or swapped out
// keeps its sockets open, so nothing else would notice: the event
// connection just stays quiet. A probe blocks at most probeWait, and
// closing the session's connections ends it at once.
func (t *Tor) watch(s *session) {
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-s.evtDone:
			return
		case <-procDone(s):
			return
		case <-tick.C:
		}
		err := s.probe.Probe(probeWait)
		switch {
		case err == nil:
			t.setHung(false)
		case errors.Is(err, os.ErrDeadlineExceeded):
			t.setHung(true)
		default:
			return // the connection broke: tor is gone, and serve sees that
		}
	}
}

func (t *Tor) setHung(hung bool) {
	t.mu.Lock()
	changed := t.hung != hung
	t.hung = hung
	t.mu.Unlock()
	switch {
	case changed && hung:
		t.log.Warn("onion: tor not responding", "waited", probeWait)
	case changed:
		t.log.Info("onion: tor responding again")
	}
}
