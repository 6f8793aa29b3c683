package node

import (
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// faultProxy stands between two peers on 127.0.0.1 and does to their
// traffic what a bad path through Tor does: every frame arrives late (a
// latency drawn per frame, order kept), and a frame may be lost, which
// resets the connection. It cannot do anything subtler: the channel is
// AEAD-framed, so a frame altered, duplicated or reordered ends the
// session just as a reset does, only later.
//
// It reads the frame boundaries from the plaintext length prefix every
// frame carries (docs/protocol.md §2.1), handshake and channel frames
// alike, and forwards whole frames.
type faultProxy struct {
	ln      net.Listener
	target  string
	drop    float64       // probability that a frame is lost
	latency time.Duration // mean one-way delay per frame
	jitter  time.Duration // delay is uniform in latency ± jitter

	mu     sync.Mutex
	rng    *rand.Rand
	pairs  map[*proxiedPair]struct{}
	closed bool
	wg     sync.WaitGroup

	conns, frames, dropped atomic.Int64
}

// Proxy bounds.
const (
	// proxyMaxFrame is the largest frame body forwarded: a channel frame
	// holds at most 1 MiB of message, its type byte and the tag.
	proxyMaxFrame = 1<<20 + 64
	// proxyQueue is how many frames one direction holds in flight before
	// the reader stops reading (the proxy's window).
	proxyQueue = 8
)

func newFaultProxy(target string, drop float64, latency, jitter time.Duration, seed uint64) (*faultProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &faultProxy{ln: ln, target: target, drop: drop, latency: latency, jitter: jitter,
		rng: rand.New(rand.NewPCG(seed, 0x6661756c74)), pairs: map[*proxiedPair]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

func (p *faultProxy) Addr() string { return p.ln.Addr().String() }

// Close stops accepting, resets every connection in flight and waits for
// all the proxy's goroutines.
func (p *faultProxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for pp := range p.pairs {
		pp.reset()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *faultProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.handle(c)
	}
}

// proxiedPair is one proxied connection: the dialer's side and the
// target's side.
type proxiedPair struct {
	a, b      *net.TCPConn
	dead      chan struct{} // closed by reset
	resetOnce sync.Once
}

// reset closes both sides with a TCP RST (linger 0), as a broken path
// does: neither end sees an orderly close.
func (pp *proxiedPair) reset() {
	pp.resetOnce.Do(func() {
		close(pp.dead)
		for _, c := range []*net.TCPConn{pp.a, pp.b} {
			c.SetLinger(0)
			c.Close()
		}
	})
}

type proxiedFrame struct {
	data []byte
	at   time.Time // when it arrives at the far end
	lost bool
}

func (p *faultProxy) handle(c net.Conn) {
	defer p.wg.Done()
	p.conns.Add(1)
	d, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	pp := &proxiedPair{a: c.(*net.TCPConn), b: d.(*net.TCPConn), dead: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		pp.reset()
		return
	}
	p.pairs[pp] = struct{}{}
	p.mu.Unlock()

	var wg sync.WaitGroup
	for _, dir := range [][2]*net.TCPConn{{pp.a, pp.b}, {pp.b, pp.a}} {
		q := make(chan proxiedFrame, proxyQueue)
		wg.Add(2)
		go func() { defer wg.Done(); p.read(pp, dir[0], q) }()
		go func() { defer wg.Done(); p.write(pp, dir[1], q) }()
	}
	wg.Wait()
	pp.a.Close()
	pp.b.Close()
	p.mu.Lock()
	delete(p.pairs, pp)
	p.mu.Unlock()
}

// read splits one direction into frames and schedules each. A lost frame
// is the last one read: the connection resets when it would have arrived.
// A clean end of the stream closes q; anything else resets.
func (p *faultProxy) read(pp *proxiedPair, src *net.TCPConn, q chan<- proxiedFrame) {
	defer close(q)
	var last time.Time
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(src, hdr[:]); err != nil {
			if !errors.Is(err, io.EOF) {
				pp.reset()
			}
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > proxyMaxFrame {
			pp.reset()
			return
		}
		data := make([]byte, 4+n)
		copy(data, hdr[:])
		if _, err := io.ReadFull(src, data[4:]); err != nil {
			pp.reset()
			return
		}
		p.mu.Lock()
		delay := p.latency - p.jitter + time.Duration(p.rng.Int64N(int64(2*p.jitter)+1))
		lost := p.rng.Float64() < p.drop
		p.mu.Unlock()
		at := time.Now().Add(delay)
		if at.Before(last) {
			at = last // a path keeps order: a frame waits for the one before it
		}
		last = at
		p.frames.Add(1)
		if lost {
			p.dropped.Add(1)
		}
		select {
		case q <- proxiedFrame{data: data, at: at, lost: lost}:
		case <-pp.dead:
			return
		}
		if lost {
			return
		}
	}
}

// write delivers one direction's frames on time; after the last, it
// passes the clean end of the stream on (a FIN), so the far end reads EOF.
func (p *faultProxy) write(pp *proxiedPair, dst *net.TCPConn, q <-chan proxiedFrame) {
	for f := range q {
		t := time.NewTimer(time.Until(f.at))
		select {
		case <-t.C:
		case <-pp.dead:
			t.Stop()
			return
		}
		if f.lost {
			pp.reset()
			return
		}
		if _, err := dst.Write(f.data); err != nil {
			pp.reset()
			return
		}
	}
	select {
	case <-pp.dead:
	default:
		dst.CloseWrite()
	}
}
