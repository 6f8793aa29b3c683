package torctl

import (
	"bytes"
	"errors"
	"net"
	"time"
)

// maxProbeReply bounds what a probe buffers; "GETINFO version" is answered
// in under 100 bytes.
const maxProbeReply = 4096

// Prober asks tor "GETINFO version" on a connection of its own and waits a
// bounded time for the answer, so a hung tor (stopped, deadlocked, swapped
// out) is told from a live one. A probe that times out stays pending: the
// next Probe keeps reading its answer rather than sending another, so the
// connection never loses its place in the reply stream. It is not safe for
// concurrent use.
type Prober struct {
	Conn    net.Conn // authenticated; used by nothing else
	buf     []byte
	pending bool
}

// Probe returns nil once tor has answered, an error wrapping
// os.ErrDeadlineExceeded when it has not within wait, and any other error
// when the connection is broken.
func (p *Prober) Probe(wait time.Duration) error {
	if !p.pending {
		p.Conn.SetWriteDeadline(time.Now().Add(wait))
		if _, err := p.Conn.Write([]byte("GETINFO version\r\n")); err != nil {
			return err
		}
		p.pending = true
	}
	p.Conn.SetReadDeadline(time.Now().Add(wait))
	chunk := make([]byte, 512)
	for {
		if end := replyEnd(p.buf); end >= 0 {
			p.buf = append(p.buf[:0], p.buf[end:]...)
			p.pending = false
			return nil
		}
		if len(p.buf) > maxProbeReply {
			return errors.New("torctl: probe reply too long")
		}
		n, err := p.Conn.Read(chunk)
		p.buf = append(p.buf, chunk[:n]...)
		if err != nil && replyEnd(p.buf) < 0 {
			return err
		}
	}
}

// replyEnd finds the end of the first complete reply in b: a line whose
// fourth byte is a space ("250 OK", "552 ..."), control-spec §2.3. It
// returns -1 when there is none yet.
func replyEnd(b []byte) int {
	off := 0
	for {
		i := bytes.Index(b[off:], []byte("\r\n"))
		if i < 0 {
			return -1
		}
		line := b[off : off+i]
		off += i + 2
		if len(line) >= 4 && line[3] == ' ' {
			return off
		}
	}
}
