package syncproto

import (
	"bufio"
	"net"
	"sync"
	"testing"
)

// relay forwards frames between two real TCP connections, letting a test
// play the network attacker: edit(dir, index, frame) returns the frames to
// send in place of the index-th frame in direction dir (0: dialer to
// listener, 1: back); nil drops it. cutAfter[dir] >= 0 closes everything
// after that many frames in that direction. The relay owns both
// connections and its two goroutines; wait blocks until they are gone.
type relay struct {
	wg sync.WaitGroup
}

func startRelay(t testing.TB, a, b net.Conn, edit func(dir, index int, frame []byte) [][]byte, cutAfter [2]int) *relay {
	r := &relay{}
	closeBoth := sync.OnceFunc(func() { a.Close(); b.Close() })
	pump := func(dir int, from, to net.Conn) {
		defer r.wg.Done()
		defer closeBoth()
		br := bufio.NewReader(from)
		for i := 0; ; i++ {
			if cutAfter[dir] >= 0 && i >= cutAfter[dir] {
				return
			}
			f, err := readFrame(br, nil, 0, maxChannelFrame)
			if err != nil {
				return
			}
			out := [][]byte{f}
			if edit != nil {
				out = edit(dir, i, f)
			}
			for _, o := range out {
				if _, err := to.Write(o); err != nil {
					return
				}
			}
		}
	}
	r.wg.Add(2)
	go pump(0, a, b)
	go pump(1, b, a)
	t.Cleanup(func() { closeBoth(); r.wg.Wait() })
	return r
}

// relayed returns a dialer-side and a listener-side connection joined by a
// relay: dialer ⇄ relay ⇄ listener, all over 127.0.0.1.
func relayed(t testing.TB, edit func(dir, index int, frame []byte) [][]byte, cutAfter [2]int) (dialer, listener net.Conn) {
	d, ra := tcpPair(t)
	rb, l := tcpPair(t)
	startRelay(t, ra, rb, edit, cutAfter)
	return d, l
}

var noCut = [2]int{-1, -1}
