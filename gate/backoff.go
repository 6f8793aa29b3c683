package gate

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// Accept backoff: the delays net/http's Server.Serve uses after a
// temporary accept error, 5 ms doubling to 1 s. The first retries come
// quickly because a burst of aborted connections clears at once; the cap
// keeps an exhausted descriptor table from being polled in a busy loop
// while still noticing within a second that descriptors came back.
const (
	firstAcceptDelay = 5 * time.Millisecond
	maxAcceptDelay   = time.Second
)

// temporaryErrnos are the accept errors that say nothing about the
// listener itself: the process or system is out of descriptors or
// buffers, or the connection died before it was taken.
var temporaryErrnos = [...]syscall.Errno{
	syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
	syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EPROTO, syscall.EPERM,
	syscall.EINTR, syscall.EAGAIN, syscall.ETIMEDOUT,
}

// Temporary reports whether an accept error is worth retrying: one of the
// errnos above, or a timeout. Anything else (the listener was closed) ends
// the accept loop.
func Temporary(err error) bool {
	if err == nil || errors.Is(err, net.ErrClosed) {
		return false
	}
	for _, e := range temporaryErrnos {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Backoff is the delay before the next Accept after temporary errors. The
// zero value is ready: no errors yet. It is not safe for concurrent use
// (its one owner is the accept loop).
type Backoff struct {
	delay time.Duration
}

// Failed records a temporary error and returns how long to wait, and
// whether this error starts a burst (the caller logs only then).
func (b *Backoff) Failed() (wait time.Duration, first bool) {
	first = b.delay == 0
	if first {
		b.delay = firstAcceptDelay
	} else {
		b.delay = min(b.delay*2, maxAcceptDelay)
	}
	return b.delay, first
}

// Succeeded records an accepted connection and reports whether it ends a
// burst of errors.
func (b *Backoff) Succeeded() (endsBurst bool) {
	endsBurst = b.delay != 0
	b.delay = 0
	return endsBurst
}
