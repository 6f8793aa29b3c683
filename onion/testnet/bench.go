package testnet

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"slices"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/onion"
)

// BenchResult is what Bench measured. Durations of repeated operations are
// medians.
type BenchResult struct {
	Start         Timings       `json:"start"`          // network start → clients usable
	Upload        time.Duration `json:"upload"`         // ADD_ONION → HS_DESC UPLOADED
	FirstConnect  time.Duration `json:"first_connect"`  // ADD_ONION → first connect and echo
	ConnectTries  int           `json:"connect_tries"`  // dials needed for the first connect
	ReusedConnect time.Duration `json:"reused_connect"` // connect on an existing rendezvous circuit (10)
	NewConnect    time.Duration `json:"new_connect"`    // connect with new SOCKS credentials (5)
	RoundTrip     time.Duration `json:"round_trip"`     // echo round trip on an open stream (20)
}

// Bench starts a fresh network with two clients (cfg.Clients is raised to
// 2), measures onion publication and connections between them, stops the
// network and returns the figures. The reference figures are in the
// project's tor-testnet notes.
func Bench(ctx context.Context, cfg Config) (*BenchResult, error) {
	cfg.Clients = max(cfg.Clients, 2)
	nw, err := Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer nw.Stop()
	res := &BenchResult{Start: nw.Timings}
	cl := nw.Clients()
	torA, err := onion.Start(onion.Config{ControlAddr: cl[0].ControlAddr(), ControlCookie: cl[0].CookieFile(), Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	defer torA.Close()
	torB, err := onion.Start(onion.Config{ControlAddr: cl[1].ControlAddr(), ControlCookie: cl[1].CookieFile(), Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	defer torB.Close()
	for _, t := range []*onion.Tor{torA, torB} {
		if err := t.WaitReady(ctx); err != nil {
			return nil, err
		}
	}
	key, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()

	t0 := time.Now()
	svc, err := torA.Publish(ctx, key, ln.Addr().String())
	if err != nil {
		return nil, err
	}
	defer svc.Close()
	uploaded := make(chan time.Duration, 1)
	go func() {
		if svc.WaitReachable(ctx) == nil {
			uploaded <- time.Since(t0)
		}
		close(uploaded)
	}()
	// Dial at once and retry every 0.5 s, as a user would.
	var conn net.Conn
	for res.ConnectTries = 1; res.ConnectTries <= 60; res.ConnectTries++ {
		if conn, err = echoDial(ctx, torB, key.ID()); err == nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if conn == nil {
		return nil, fmt.Errorf("testnet: bench: no connection: %w", err)
	}
	res.FirstConnect = time.Since(t0)
	res.Upload = <-uploaded

	var reused, fresh, rtt []time.Duration
	for range 10 {
		t := time.Now()
		c, err := echoDial(ctx, torB, key.ID())
		if err != nil {
			return nil, err
		}
		reused = append(reused, time.Since(t))
		c.Close()
	}
	for range 5 {
		d, err := torB.NewDialer()
		if err != nil {
			return nil, err
		}
		t := time.Now()
		c, err := echoDial(ctx, d, key.ID())
		if err != nil {
			return nil, err
		}
		fresh = append(fresh, time.Since(t))
		c.Close()
	}
	buf := make([]byte, 1)
	for range 20 {
		t := time.Now()
		if _, err := conn.Write(buf); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(conn, buf); err != nil {
			return nil, err
		}
		rtt = append(rtt, time.Since(t))
	}
	conn.Close()
	res.ReusedConnect, res.NewConnect, res.RoundTrip = median(reused), median(fresh), median(rtt)
	return res, nil
}

type dialer interface {
	Dial(context.Context, identity.ID) (net.Conn, error)
}

// echoDial connects and completes one echo, so "connected" means bytes came
// back from the service and not merely a SOCKS success.
func echoDial(ctx context.Context, d dialer, id identity.ID) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, id)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(15 * time.Second))
	b := []byte{'x'}
	if _, err = c.Write(b); err == nil {
		_, err = io.ReadFull(c, b)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
