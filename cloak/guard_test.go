package cloak

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
)

var _ Transport = (*Guard)(nil)

// testTransport is a transport a test can make misbehave: it claims any
// mode, and its Dial and Listen do what the test says. The real ones
// (onion) cannot be made to break the rules, which is what this stands in
// for.
type testTransport struct {
	mode   Mode
	dial   func() (net.Conn, error)
	listen func() (Listener, error)
	dials  int
}

func (t *testTransport) Mode() Mode { return t.mode }
func (t *testTransport) Dial(context.Context, identity.ID) (net.Conn, error) {
	t.dials++
	return t.dial()
}
func (t *testTransport) Listen(context.Context, *identity.PrivateKey) (Listener, error) {
	return t.listen()
}
func (t *testTransport) Status() Status {
	return Status{Mode: "made up", Phase: "done", Progress: 100, Ready: true}
}
func (t *testTransport) Close() error { return nil }

// addrConn is a real connection that reports another far end, as a
// transport that bypassed tor would hand back.
type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// addrListener is a real loopback listener that reports another address
// of its own, and another far end for the first len(remotes) connections.
type addrListener struct {
	net.Listener
	local   net.Addr
	remotes []net.Addr
}

func (l *addrListener) Addr() net.Addr {
	if l.local != nil {
		return l.local
	}
	return l.Listener.Addr()
}

func (l *addrListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil || len(l.remotes) == 0 {
		return c, err
	}
	r := l.remotes[0]
	l.remotes = l.remotes[1:]
	return addrConn{c, r}, nil
}

func (l *addrListener) WaitReachable(context.Context) error { return nil }

func tcp(s string) net.Addr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }

// loopbackPair returns both ends of a real TCP connection on 127.0.0.1.
func loopbackPair(t *testing.T) (dialled, accepted net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(); a.Close() })
	return d, a
}

// closedByGuard reports whether the far end of c saw it closed with
// nothing sent.
func closedByGuard(t *testing.T, other net.Conn) bool {
	t.Helper()
	other.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := other.Read(make([]byte, 1))
	return n == 0 && errors.Is(err, io.EOF)
}

func testPeer(t *testing.T) identity.ID {
	t.Helper()
	k, err := identity.NewKeyFromSeed(bytes.Repeat([]byte{3}, identity.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	return k.ID()
}

func TestNewGuardRefusesAnotherModesTransport(t *testing.T) {
	cases := []struct {
		name             string
		policy, claimed  Mode
		ok               bool
		wantInMessageAll []string
	}{
		{"tor transport in tor mode", ModeTor, ModeTor, true, nil},
		{"lan transport in lan mode", ModeLAN, ModeLAN, true, nil},
		{"lan transport in tor mode", ModeTor, ModeLAN, false, []string{"a lan transport in tor mode"}},
		{"tor transport in lan mode", ModeLAN, ModeTor, false, []string{"a tor transport in lan mode"}},
		{"mode never set", 0, 0, false, []string{"no valid mode"}},
		{"unknown mode claimed by both", Mode(7), Mode(7), false, []string{"no valid mode", "Mode(7)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, err := NewGuard(Policy{c.policy}, &testTransport{mode: c.claimed}, nil)
			if c.ok {
				if err != nil || g.Mode() != c.policy {
					t.Fatalf("NewGuard = %v, %v", g, err)
				}
				return
			}
			if g != nil || !errors.Is(err, ErrForbidden) {
				t.Fatalf("NewGuard = %v, %v; want a refusal wrapping ErrForbidden", g, err)
			}
			for _, w := range c.wantInMessageAll {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestGuardDial(t *testing.T) {
	peer := testPeer(t)
	errTorDown := errors.New("tor is down")
	cases := []struct {
		name   string
		mode   Mode
		remote net.Addr // nil: the real loopback address
		err    error    // the transport's error
		ok     bool
	}{
		{"tor: through tor's SOCKS port on loopback", ModeTor, nil, nil, true},
		{"tor: straight to a peer's IP", ModeTor, tcp("192.0.2.7:443"), nil, false},
		{"tor: to a LAN address", ModeTor, tcp("10.1.2.3:7000"), nil, false},
		{"tor: over something that is not tcp", ModeTor, &net.UnixAddr{Name: "/tmp/x", Net: "unix"}, nil, false},
		{"tor: transport error passes through", ModeTor, nil, errTorDown, false},
		{"lan: to a private address", ModeLAN, tcp("192.168.4.20:7000"), nil, true},
		{"lan: to loopback", ModeLAN, nil, nil, false},
		{"lan: to the internet", ModeLAN, tcp("8.8.8.8:53"), nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, other := loopbackPair(t)
			tr := &testTransport{mode: c.mode, dial: func() (net.Conn, error) {
				if c.err != nil {
					return nil, c.err
				}
				if c.remote != nil {
					return addrConn{d, c.remote}, nil
				}
				return d, nil
			}}
			g, err := NewGuard(Policy{c.mode}, tr, nil)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := g.Dial(context.Background(), peer)
			switch {
			case c.ok:
				if err != nil || conn == nil {
					t.Fatalf("Dial = %v, %v; want the connection", conn, err)
				}
			case c.err != nil:
				if conn != nil || !errors.Is(err, c.err) || errors.Is(err, ErrForbidden) {
					t.Fatalf("Dial = %v, %v; want the transport's own error", conn, err)
				}
			default:
				if conn != nil || !errors.Is(err, ErrForbidden) {
					t.Fatalf("Dial = %v, %v; want a refusal wrapping ErrForbidden", conn, err)
				}
				if !strings.Contains(err.Error(), peer.Short()) || !strings.Contains(err.Error(), c.mode.String()+" mode") {
					t.Errorf("error %q names neither the peer nor the mode", err)
				}
				if !closedByGuard(t, other) {
					t.Error("the refused connection was left open")
				}
			}
		})
	}
}

func TestGuardDialsOnlyAPeer(t *testing.T) {
	tr := &testTransport{mode: ModeTor, dial: func() (net.Conn, error) { return nil, errors.New("must not be called") }}
	g, err := NewGuard(Policy{ModeTor}, tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Dial(context.Background(), identity.ID{}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("Dial(zero id) = %v; want a refusal", err)
	}
	if tr.dials != 0 {
		t.Fatalf("the transport was asked to dial the zero id %d times", tr.dials)
	}
}

func TestGuardListen(t *testing.T) {
	t.Run("tor: a listener on all interfaces is refused and closed", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		tr := &testTransport{mode: ModeTor, listen: func() (Listener, error) {
			return &addrListener{Listener: ln, local: tcp("0.0.0.0:7000")}, nil
		}}
		g, err := NewGuard(Policy{ModeTor}, tr, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := g.Listen(context.Background(), nil)
		if got != nil || !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "0.0.0.0:7000") {
			t.Fatalf("Listen = %v, %v; want a refusal naming the address", got, err)
		}
		if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("the refused listener still accepts: %v", err)
		}
	})

	t.Run("tor: a connection that did not come through tor is dropped", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		tr := &testTransport{mode: ModeTor, listen: func() (Listener, error) {
			return &addrListener{Listener: ln, remotes: []net.Addr{tcp("203.0.113.9:5555")}}, nil
		}}
		var refused []error
		g, err := NewGuard(Policy{ModeTor}, tr, func(err error) { refused = append(refused, err) })
		if err != nil {
			t.Fatal(err)
		}
		gl, err := g.Listen(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		first, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer first.Close()
		second, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer second.Close()
		c, err := gl.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if c.RemoteAddr().String() != second.LocalAddr().String() {
			t.Fatalf("Accept returned %s, want the second connection from %s", c.RemoteAddr(), second.LocalAddr())
		}
		if !closedByGuard(t, first) {
			t.Error("the refused connection was left open")
		}
		if len(refused) != 1 || !errors.Is(refused[0], ErrForbidden) || !strings.Contains(refused[0].Error(), "203.0.113.9") {
			t.Errorf("refusals reported: %v; want one naming 203.0.113.9", refused)
		}
		if err := gl.WaitReachable(context.Background()); err != nil {
			t.Errorf("WaitReachable through the guard: %v", err)
		}
	})
}

func TestGuardStatusNamesThePolicysMode(t *testing.T) {
	g, err := NewGuard(Policy{ModeTor}, &testTransport{mode: ModeTor}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := g.Status(); st.Mode != "tor" || !st.Ready || st.Progress != 100 {
		t.Fatalf("Status = %+v; want the transport's state with mode tor", st)
	}
}

func TestCheckAddr(t *testing.T) {
	cases := []struct {
		addr     net.Addr
		tor, lan bool
	}{
		{tcp("127.0.0.1:9050"), true, false},
		{tcp("[::1]:9050"), true, false},
		{tcp("[::ffff:127.0.0.1]:9050"), true, false},
		{tcp("10.0.0.7:7000"), false, true},
		{tcp("172.16.0.1:7000"), false, true},
		{tcp("192.168.1.5:7000"), false, true},
		{tcp("169.254.10.1:7000"), false, true},
		{tcp("[fe80::1%eth0]:7000"), false, true},
		{tcp("[fd12:3456::1]:7000"), false, true},
		{tcp("0.0.0.0:7000"), false, false},
		{tcp("[::]:7000"), false, false},
		{tcp("8.8.8.8:53"), false, false},
		{tcp("[2001:db8::1]:443"), false, false},
		{tcp("224.0.0.251:5353"), false, false},
		{&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}, false, false},
		{&net.UnixAddr{Name: "@x", Net: "unix"}, false, false},
		{nil, false, false},
	}
	for _, c := range cases {
		for _, m := range []struct {
			p    Policy
			want bool
		}{{Policy{ModeTor}, c.tor}, {Policy{ModeLAN}, c.lan}, {Policy{}, false}} {
			err := m.p.CheckAddr(c.addr)
			if (err == nil) != m.want {
				t.Errorf("%s mode, %v: %v, want allowed=%v", m.p.Mode, c.addr, err, m.want)
			}
			if err != nil && !errors.Is(err, ErrForbidden) {
				t.Errorf("%s mode, %v: %v does not wrap ErrForbidden", m.p.Mode, c.addr, err)
			}
		}
	}
}

// pairTransport is a testTransport with a pairing side whose DialAddr
// hands back what the test says.
type pairTransport struct {
	testTransport
	dialAddr func() (net.Conn, error)
}

func (t *pairTransport) AdvertisePairing(string) (func(), error) { return func() {}, nil }
func (t *pairTransport) FindPairing(context.Context, string) (netip.AddrPort, error) {
	return netip.AddrPort{}, nil
}
func (t *pairTransport) DialAddr(context.Context, netip.AddrPort) (net.Conn, error) {
	return t.dialAddr()
}
func (t *pairTransport) AddPeer(identity.ID, netip.AddrPort) error { return nil }

// TestGuardPairer: a transport with no pairing side has none through the
// guard; one that has, has its DialAddr connections checked as Dial's are.
func TestGuardPairer(t *testing.T) {
	g, err := NewGuard(Policy{ModeTor}, &testTransport{mode: ModeTor}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := g.Pairer(); ok {
		t.Fatal("a transport without pairing has a Pairer through the guard")
	}
	for _, c := range []struct {
		name   string
		remote net.Addr
		ok     bool
	}{
		{"to a private address", tcp("192.168.4.20:7000"), true},
		{"to the internet", tcp("8.8.8.8:53"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, other := loopbackPair(t)
			tr := &pairTransport{testTransport: testTransport{mode: ModeLAN}, dialAddr: func() (net.Conn, error) { return addrConn{d, c.remote}, nil }}
			g, err := NewGuard(Policy{ModeLAN}, tr, nil)
			if err != nil {
				t.Fatal(err)
			}
			p, ok := g.Pairer()
			if !ok {
				t.Fatal("no Pairer through the guard")
			}
			conn, err := p.DialAddr(context.Background(), netip.MustParseAddrPort("192.168.4.20:7000"))
			if c.ok != (err == nil) {
				t.Fatalf("DialAddr = %v, %v; want ok=%v", conn, err, c.ok)
			}
			if !c.ok && (!errors.Is(err, ErrForbidden) || !closedByGuard(t, other)) {
				t.Fatalf("refusal %v does not wrap ErrForbidden, or the connection was left open", err)
			}
		})
	}
}
