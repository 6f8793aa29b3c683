//go:build linux

package lan

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/lan/lantest"
	"github.com/ghostwire/ghostwire/syncproto"
	"golang.org/x/sys/unix"
)

// Figures for the LAN path's bulk throughput.
const (
	bulkMessage = 16 << 10 // as syncproto's BenchmarkBulk
	bulkTotal   = 128 << 20
	// torCell and torStreamWindow are Tor's flow control (tor-spec §7.4):
	// a stream may have 500 relay cells of at most 498 bytes of data in
	// flight before a SENDME, so one stream moves at most that much per
	// round trip, whatever the bandwidth.
	torCellData     = 498
	torStreamWindow = 500
)

// inNetns runs fn on an OS thread moved into network namespace ns, so the
// sockets fn opens live there; they keep working from any thread after.
// The thread is never returned to the runtime (its goroutine ends still
// locked), so no other goroutine runs in the namespace.
func inNetns(tb testing.TB, ns string, fn func() error) {
	tb.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(filepath.Join("/var/run/netns", ns))
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	if err := <-errc; err != nil {
		tb.Fatal(err)
	}
}

// bulkOver runs a sync handshake on the two ends of a TCP
// connection and moves bulkTotal bytes one way in bulkMessage frames;
// it returns MB/s.
func bulkOver(b *testing.B, dialed, accepted net.Conn) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type res struct {
		c   *syncproto.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := syncproto.Server(ctx, accepted, &syncproto.Config{Key: seedKey(2)})
		ch <- res{c, err}
	}()
	cc, err := syncproto.Client(ctx, dialed, &syncproto.Config{Key: seedKey(1)}, seedKey(2).ID())
	r := <-ch
	if err != nil || r.err != nil {
		b.Fatalf("handshake: %v, %v", err, r.err)
	}
	defer cc.Close()
	defer r.c.Close()
	msg := make([]byte, bulkMessage)
	n := bulkTotal / bulkMessage
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		buf := make([]byte, 0, bulkMessage+64)
		for range n {
			if _, err := r.c.ReadFrame(buf); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range n {
		if err := cc.WriteFrame(msg); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return float64(bulkTotal) / 1e6 / time.Since(start).Seconds()
}

// acceptOne accepts one connection from ln.
func acceptOne(ln net.Listener) <-chan net.Conn {
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	return ch
}

// BenchmarkLANPath measures the sync channel's bulk throughput over the
// LAN path — a lan.Transport dial from one namespace to a listener bound
// to gw0 in another, across a veth bridge — beside the same channel over
// loopback (what the CPU allows) and Tor's flow-control ceiling for one
// stream at the private network's onion round trip and at a real
// network's. It needs root (namespaces).
//
//	go test -run '^$' -bench LANPath -benchtime 1x ./lan
func BenchmarkLANPath(b *testing.B) {
	lab := lantest.New(b, 2)
	for b.Loop() {
		var ln net.Listener
		inNetns(b, lab.Nodes[0], func() (err error) {
			lc := net.ListenConfig{Control: bindToDevice(lantest.Interface)}
			ln, err = lc.Listen(context.Background(), "tcp", netip.AddrPortFrom(lab.Addrs[0], 0).String())
			return err
		})
		got := acceptOne(ln)
		var dialed net.Conn
		inNetns(b, lab.Nodes[1], func() error {
			tr, err := New(Config{Interface: lantest.Interface})
			if err != nil {
				return err
			}
			defer tr.Close()
			dialed, err = tr.DialAddr(context.Background(), ln.Addr().(*net.TCPAddr).AddrPort())
			return err
		})
		lanRate := bulkOver(b, dialed, <-got)
		ln.Close()

		lo, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		got = acceptOne(lo)
		d, err := net.Dial("tcp", lo.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		loRate := bulkOver(b, d, <-got)
		lo.Close()

		perRTT := float64(torCellData*torStreamWindow) / 1e6
		privateRTT, realRTT := 21*time.Millisecond, 300*time.Millisecond
		b.ReportMetric(lanRate, "lan-MB/s")
		b.ReportMetric(loRate, "loopback-MB/s")
		b.Logf("\nsync channel bulk, %d KiB frames, %d MiB one way:\n"+
			"  LAN path (lan.Transport dial, veth bridge between namespaces)  %7.0f MB/s\n"+
			"  same channel over loopback (the CPU's ceiling)                 %7.0f MB/s\n"+
			"  Tor path ceiling, one stream: %d cells × %d B per round trip = %.3f MB per RTT\n"+
			"    at the private network's onion round trip (%v, onion/testnet) %7.1f MB/s\n"+
			"    at a real Tor network's typical onion round trip (%v)       %7.1f MB/s",
			bulkMessage>>10, bulkTotal>>20, lanRate, loRate, torStreamWindow, torCellData, perRTT,
			privateRTT, perRTT/privateRTT.Seconds(), realRTT, perRTT/realRTT.Seconds())
	}
}
