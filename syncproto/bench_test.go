package syncproto

import (
	"bufio"
	"context"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"golang.org/x/crypto/chacha20poly1305"
)

// The benchmarks print our figures beside their references in one run:
//
//	go test -run '^$' -bench '^Benchmark(Bulk|Handshake)$' -benchtime 2s ./syncproto/
//
// The machine is shared, so contenders are interleaved rather than run one
// after another: each round gives every contender the same amount of work
// in turn, and a burst of someone else's load falls on all of them alike.
// Ratios are of totals over all rounds.
//
// BenchmarkBulk/chacha20 runs in a child process with GODEBUG=cpu.aes=off,
// so that crypto/tls negotiates ChaCha20-Poly1305, and interleaves: our
// channel, a minimal framed ChaCha20-Poly1305 channel written here as the
// ceiling, raw AEAD seal+open with no I/O, and crypto/tls 1.3 — each moving
// 16 KiB messages one way over 127.0.0.1. BenchmarkBulk/aes-gcm interleaves
// our channel with crypto/tls on its default AES-GCM. BenchmarkHandshake
// interleaves, per iteration, a new TCP connection + full mutual handshake +
// one byte each way for us and for crypto/tls 1.3 (Ed25519 certificates on
// both sides, X25519MLKEM768, no resumption), and the public-key operations
// of one handshake alone (the floor). TestMain prints the summary.

const (
	bulkMessage = 16 << 10
	bulkRound   = 256 // messages per contender per round (4 MiB)
)

// benchResults collects the last (largest b.N) figures for the summary.
var benchResults = struct {
	sync.Mutex
	m map[string]float64
}{m: map[string]float64{}}

func record(b *testing.B, name, unit string, v float64) {
	b.ReportMetric(v, unit)
	benchResults.Lock()
	benchResults.m[name] = v
	benchResults.Unlock()
}

// benchKey is testKey without a testing.TB, for the child process.
func benchKey(name string) *identity.PrivateKey {
	seed := sha256.Sum256([]byte("syncproto test key " + name))
	k, err := identity.NewKeyFromSeed(seed[:])
	if err != nil {
		panic(err)
	}
	return k
}

func loopbackPair() (dialer, listener net.Conn, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	d, err := net.Dial("tcp", ln.Addr().String())
	l := <-ch
	if err != nil || l == nil {
		return nil, nil, errors.Join(err, errors.New("accept failed"))
	}
	return d, l, nil
}

// contender is one side of a bulk comparison: send moves one message from
// the timing goroutine; recv, if set, receives one on another goroutine.
type contender struct {
	name  string
	send  func() error
	recv  func() error
	close func()
}

func oursContender() (contender, error) {
	d, l, err := loopbackPair()
	if err != nil {
		return contender{}, err
	}
	bob := benchKey("bob")
	ch := make(chan result, 1)
	go func() {
		s, err := Server(context.Background(), l, &Config{Key: bob})
		ch <- result{s, err}
	}()
	c, err := Client(context.Background(), d, &Config{Key: benchKey("alice")}, bob.ID())
	s := <-ch
	if err := errors.Join(err, s.err); err != nil {
		return contender{}, err
	}
	msg, buf := make([]byte, bulkMessage), make([]byte, 0, bulkMessage+1)
	return contender{
		name: "syncproto",
		send: func() error { return c.WriteFrame(msg) },
		recv: func() error { _, err := s.c.ReadFrame(buf); return err },
		close: func() {
			c.Close()
			s.c.Close()
		},
	}, nil
}

// minimalContender is the ceiling: a length prefix and one ChaCha20-Poly1305
// seal per message with a counter nonce, one write; the reader is buffered
// like ours. Nothing else.
func minimalContender() (contender, error) {
	d, l, err := loopbackPair()
	if err != nil {
		return contender{}, err
	}
	key := make([]byte, 32)
	aw, _ := chacha20poly1305.New(key)
	ar, _ := chacha20poly1305.New(key)
	msg, out := make([]byte, bulkMessage), make([]byte, 4+bulkMessage+tagSize)
	var wn, rn [12]byte
	var ws, rs uint64
	br := bufio.NewReaderSize(l, readBufferSize)
	var hdr [4]byte
	in := make([]byte, bulkMessage+tagSize)
	return contender{
		name: "minimal",
		send: func() error {
			binary.BigEndian.PutUint32(out, bulkMessage+tagSize)
			binary.BigEndian.PutUint64(wn[4:], ws)
			ws++
			aw.Seal(out[4:4], wn[:], msg, nil)
			_, err := d.Write(out)
			return err
		},
		recv: func() error {
			if _, err := io.ReadFull(br, hdr[:]); err != nil {
				return err
			}
			n := binary.BigEndian.Uint32(hdr[:])
			if n > uint32(len(in)) {
				return errors.New("bad length")
			}
			if _, err := io.ReadFull(br, in[:n]); err != nil {
				return err
			}
			binary.BigEndian.PutUint64(rn[4:], rs)
			rs++
			_, err := ar.Open(in[:0], rn[:], in[:n], nil)
			return err
		},
		close: func() {
			d.Close()
			l.Close()
		},
	}, nil
}

func rawContender() contender {
	var a cipher.AEAD
	a, _ = chacha20poly1305.New(make([]byte, 32))
	msg, buf := make([]byte, bulkMessage), make([]byte, 0, bulkMessage+tagSize)
	var nonce [12]byte
	var seq uint64
	return contender{
		name: "raw-aead",
		send: func() error {
			binary.BigEndian.PutUint64(nonce[4:], seq)
			seq++
			ct := a.Seal(buf[:0], nonce[:], msg, nil)
			_, err := a.Open(ct[:0], nonce[:], ct, nil)
			return err
		},
		close: func() {},
	}
}

// tlsContender is crypto/tls 1.3 over loopback with the configuration of
// tlsConfigs; its name is the negotiated cipher suite.
func tlsContender() (contender, error) {
	d, l, err := loopbackPair()
	if err != nil {
		return contender{}, err
	}
	ccfg, scfg, err := tlsConfigs(false)
	if err != nil {
		return contender{}, err
	}
	c, s := tls.Client(d, ccfg), tls.Server(l, scfg)
	errc := make(chan error, 1)
	go func() { errc <- s.Handshake() }()
	if err := errors.Join(c.Handshake(), <-errc); err != nil {
		return contender{}, err
	}
	msg, buf := make([]byte, bulkMessage), make([]byte, bulkMessage)
	return contender{
		name:  tls.CipherSuiteName(c.ConnectionState().CipherSuite),
		send:  func() error { _, err := c.Write(msg); return err },
		recv:  func() error { _, err := io.ReadFull(s, buf); return err },
		close: func() { c.Close(); s.Close() },
	}, nil
}

// interleave moves n messages through every contender, in rounds of
// bulkRound messages each, and returns each one's MB/s over all rounds.
func interleave(cs []contender, n int) ([]float64, error) {
	total := make([]time.Duration, len(cs))
	for done := 0; done < n; {
		k := min(bulkRound, n-done)
		for i, c := range cs {
			start := time.Now()
			errc := make(chan error, 1)
			if c.recv != nil {
				go func() {
					for range k {
						if err := c.recv(); err != nil {
							errc <- err
							return
						}
					}
					errc <- nil
				}()
			} else {
				errc <- nil
			}
			for range k {
				if err := c.send(); err != nil {
					return nil, fmt.Errorf("%s: %w", c.name, err)
				}
			}
			if err := <-errc; err != nil {
				return nil, fmt.Errorf("%s: %w", c.name, err)
			}
			total[i] += time.Since(start)
		}
		done += k
	}
	out := make([]float64, len(cs))
	for i := range cs {
		out[i] = float64(n) * bulkMessage / total[i].Seconds() / 1e6
	}
	return out, nil
}

// bulkSet builds the named contenders, runs them interleaved and closes
// them. The TLS contender's name is replaced by the suite it negotiated.
func bulkSet(n int, names ...string) (map[string]float64, error) {
	var cs []contender
	defer func() {
		for _, c := range cs {
			c.close()
		}
	}()
	for _, name := range names {
		var c contender
		var err error
		switch name {
		case "syncproto":
			c, err = oursContender()
		case "minimal":
			c, err = minimalContender()
		case "raw-aead":
			c = rawContender()
		case "tls":
			c, err = tlsContender()
		}
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	rates, err := interleave(cs, n)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for i, c := range cs {
		out[c.name] = rates[i]
	}
	return out, nil
}

func BenchmarkBulk(b *testing.B) {
	b.Run("chacha20", func(b *testing.B) {
		res := runChild(b, "bulk-chacha20", b.N, "GODEBUG=cpu.aes=off")
		tlsRate, ok := res["TLS_CHACHA20_POLY1305_SHA256"]
		if !ok {
			b.Fatalf("the TLS child did not negotiate ChaCha20: %v", res)
		}
		record(b, "bulk syncproto", "syncproto-MB/s", res["syncproto"])
		record(b, "bulk minimal", "minimal-MB/s", res["minimal"])
		record(b, "bulk raw aead", "raw-aead-MB/s", res["raw-aead"])
		record(b, "bulk tls chacha20", "tls-chacha20-MB/s", tlsRate)
	})
	b.Run("aes-gcm", func(b *testing.B) {
		res, err := bulkSet(b.N, "syncproto", "tls")
		if err != nil {
			b.Fatal(err)
		}
		tlsRate, ok := res["TLS_AES_128_GCM_SHA256"]
		if !ok {
			b.Fatalf("crypto/tls did not negotiate AES-128-GCM: %v", res)
		}
		record(b, "bulk syncproto (vs aes)", "syncproto-MB/s", res["syncproto"])
		record(b, "bulk tls aes-gcm", "tls-aesgcm-MB/s", tlsRate)
	})
}

// runChild re-runs this test binary (TestMain dispatches on
// GHOSTWIRE_BENCH_CHILD) with extra environment and decodes its result.
func runChild(b *testing.B, mode string, n int, env ...string) map[string]float64 {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GHOSTWIRE_BENCH_CHILD="+mode, "GHOSTWIRE_BENCH_N="+strconv.Itoa(n))
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("child %s: %v", mode, err)
	}
	var res map[string]float64
	if err := json.Unmarshal(out, &res); err != nil {
		b.Fatalf("child %s: %v (%q)", mode, err, out)
	}
	return res
}

func TestMain(m *testing.M) {
	if mode := os.Getenv("GHOSTWIRE_BENCH_CHILD"); mode != "" {
		n, _ := strconv.Atoi(os.Getenv("GHOSTWIRE_BENCH_N"))
		if mode != "bulk-chacha20" {
			fmt.Fprintln(os.Stderr, "unknown child mode", mode)
			os.Exit(2)
		}
		res, err := bulkSet(n, "syncproto", "minimal", "raw-aead", "tls")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		json.NewEncoder(os.Stdout).Encode(res)
		os.Exit(0)
	}
	code := m.Run()
	printSummary()
	os.Exit(code)
}

// handshaker is one contender in the handshake comparison: one step is a
// complete connection, including the server's side, which it waits for.
type handshaker struct {
	name  string
	step  func() error
	close func()
}

// serveEach accepts connections and runs serve on each in turn; step dials
// one, runs dial on it and waits for the server to finish with it.
func serveEach(name string, serve, dial func(net.Conn) error) (handshaker, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return handshaker{}, err
	}
	done := make(chan error)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(done)
				return
			}
			done <- serve(c)
		}
	}()
	return handshaker{
		name: name,
		step: func() error {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				return err
			}
			return errors.Join(dial(c), <-done)
		},
		close: func() {
			ln.Close()
			for range done {
			}
		},
	}, nil
}

func oursHandshaker() (handshaker, error) {
	// One Spares for both sides, as a node's dialer and listener share one.
	sp := new(Spares)
	ccfg, scfg := &Config{Key: benchKey("alice"), Spares: sp}, &Config{Key: benchKey("bob"), Spares: sp}
	bob := scfg.Key.ID()
	ctx := context.Background()
	return serveEach("syncproto", func(raw net.Conn) error {
		c, err := Server(ctx, raw, scfg)
		if err != nil {
			return err
		}
		defer c.Close()
		one, err := c.ReadFrame(nil)
		if err != nil {
			return err
		}
		return c.WriteFrame(one)
	}, func(raw net.Conn) error {
		c, err := Client(ctx, raw, ccfg, bob)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.WriteFrame([]byte{1}); err != nil {
			return err
		}
		_, err = c.ReadFrame(nil)
		return err
	})
}

func tlsHandshaker(ca bool) (handshaker, error) {
	ccfg, scfg, err := tlsConfigs(ca)
	if err != nil {
		return handshaker{}, err
	}
	return serveEach("tls", func(raw net.Conn) error {
		c := tls.Server(raw, scfg)
		defer c.Close()
		one := make([]byte, 1)
		if _, err := io.ReadFull(c, one); err != nil {
			return err
		}
		_, err := c.Write(one)
		return err
	}, func(raw net.Conn) error {
		c := tls.Client(raw, ccfg)
		defer c.Close()
		one := []byte{1}
		if _, err := c.Write(one); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, one); err != nil {
			return err
		}
		if c.ConnectionState().CurveID != tls.X25519MLKEM768 {
			return fmt.Errorf("negotiated %v", c.ConnectionState().CurveID)
		}
		return nil
	})
}

// floorHandshaker does every public-key operation both sides of one
// handshake perform, and nothing else.
func floorHandshaker() handshaker {
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	pub := key.Public().(ed25519.PublicKey)
	msg := make([]byte, 64)
	return handshaker{
		name: "floor",
		step: func() error {
			xi, _ := ecdh.X25519().GenerateKey(rand.Reader)
			xr, _ := ecdh.X25519().GenerateKey(rand.Reader)
			xi.ECDH(xr.PublicKey())
			xr.ECDH(xi.PublicKey())
			dk, _ := mlkem.GenerateKey768()
			ek, _ := mlkem.NewEncapsulationKey768(dk.EncapsulationKey().Bytes())
			_, ct := ek.Encapsulate()
			dk.Decapsulate(ct)
			s1, s2 := ed25519.Sign(key, msg), ed25519.Sign(key, msg)
			if !ed25519.Verify(pub, msg, s1) || !ed25519.Verify(pub, msg, s2) {
				return errors.New("verify failed")
			}
			return nil
		},
		close: func() {},
	}
}

// flightsHandshaker moves the given flights (byte counts, alternating from
// the dialer) over a new TCP connection and closes it, computing nothing.
// {1, 1} is what every contender does besides its handshake; ourFlights is
// what our handshake moves (message 1; messages 2 and 3; message 4 and the
// first data frame; the reply). With the public-key floor each bounds what
// a handshake doing TLS's public-key operations can reach.
func flightsHandshaker(name string, flights []int) (handshaker, error) {
	exchange := func(c net.Conn, first bool) error {
		defer c.Close()
		buf := make([]byte, slices.Max(flights))
		for i, n := range flights {
			if (i%2 == 0) == first {
				if _, err := c.Write(buf[:n]); err != nil {
					return err
				}
			} else if _, err := io.ReadFull(c, buf[:n]); err != nil {
				return err
			}
		}
		return nil
	}
	return serveEach(name, func(c net.Conn) error { return exchange(c, false) }, func(c net.Conn) error { return exchange(c, true) })
}

// ourFlights are the sizes on the wire of our handshake's flights, with a
// 1-byte message each way (TestOneRoundTrip pins the handshake's sizes).
var ourFlights = []int{1235, 1136 + 125, 125 + frameHeaderSize + minChannelFrame + 1, frameHeaderSize + minChannelFrame + 1}

func BenchmarkHandshake(b *testing.B) {
	ours, err := oursHandshaker()
	if err != nil {
		b.Fatal(err)
	}
	defer ours.close()
	ref, err := tlsHandshaker(false)
	if err != nil {
		b.Fatal(err)
	}
	defer ref.close()
	refCA, err := tlsHandshaker(true)
	if err != nil {
		b.Fatal(err)
	}
	defer refCA.close()
	tcp, err := flightsHandshaker("tcp", []int{1, 1})
	if err != nil {
		b.Fatal(err)
	}
	defer tcp.close()
	flights, err := flightsHandshaker("flights", ourFlights)
	if err != nil {
		b.Fatal(err)
	}
	defer flights.close()
	hs := []handshaker{ours, ref, floorHandshaker(), tcp, refCA, flights}
	wall := make([]time.Duration, len(hs))
	cpu := make([]time.Duration, len(hs))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j, h := range hs {
			t0, c0 := time.Now(), cpuTime()
			if err := h.step(); err != nil {
				b.Fatalf("%s: %v", h.name, err)
			}
			wall[j] += time.Since(t0)
			cpu[j] += cpuTime() - c0
		}
	}
	per := func(d time.Duration) float64 { return d.Seconds() * 1e3 / float64(b.N) }
	record(b, "hs syncproto", "syncproto-hs/s", float64(b.N)/wall[0].Seconds())
	record(b, "hs tls", "tls-hs/s", float64(b.N)/wall[1].Seconds())
	record(b, "cpu syncproto", "syncproto-cpu-ms/hs", per(cpu[0]))
	record(b, "cpu tls", "tls-cpu-ms/hs", per(cpu[1]))
	record(b, "cpu floor", "floor-cpu-ms/hs", per(cpu[2]))
	record(b, "wall floor", "floor-ms/hs", per(wall[2]))
	record(b, "wall tcp", "tcp-ms/hs", per(wall[3]))
	record(b, "wall tls", "tls-ms/hs", per(wall[1]))
	record(b, "hs tls ca", "tls-ca-hs/s", float64(b.N)/wall[4].Seconds())
	record(b, "wall flights", "flights-ms/hs", per(wall[5]))
}

// tlsConfigs returns mutual-TLS 1.3 configurations with Ed25519
// certificates and X25519MLKEM768. With ca false each side's certificate is
// self-signed and trusted directly as a root, the cheapest TLS can be: the
// x509 check verifies no signature. With ca true both leaves are issued by
// one CA, as TLS is usually deployed: each side also verifies the CA's
// signature on the peer's certificate.
func tlsConfigs(ca bool) (client, server *tls.Config, err error) {
	type signer struct {
		cert *x509.Certificate
		key  ed25519.PrivateKey
	}
	var issuer *signer
	newCert := func(name string, isCA bool) (tls.Certificate, *x509.Certificate, error) {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return tls.Certificate{}, nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			DNSNames:              []string{name},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(time.Hour),
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			BasicConstraintsValid: true,
			IsCA:                  isCA,
		}
		parent, parentKey := tmpl, priv
		if issuer != nil {
			parent, parentKey = issuer.cert, issuer.key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
		if err != nil {
			return tls.Certificate{}, nil, err
		}
		leaf, err := x509.ParseCertificate(der)
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf}, leaf, err
	}
	cpool, spool := x509.NewCertPool(), x509.NewCertPool()
	if ca {
		c, leaf, err := newCert("ca.test", true)
		if err != nil {
			return nil, nil, err
		}
		cpool.AddCert(leaf)
		spool.AddCert(leaf)
		issuer = &signer{leaf, c.PrivateKey.(ed25519.PrivateKey)}
	}
	cc, cl, err := newCert("client.test", !ca)
	if err != nil {
		return nil, nil, err
	}
	sc, sl, err := newCert("server.test", !ca)
	if err != nil {
		return nil, nil, err
	}
	if !ca {
		cpool.AddCert(sl)
		spool.AddCert(cl)
	}
	curves := []tls.CurveID{tls.X25519MLKEM768}
	client = &tls.Config{
		MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cc}, RootCAs: cpool,
		ServerName: "server.test", CurvePreferences: curves, SessionTicketsDisabled: true,
	}
	server = &tls.Config{
		MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{sc}, ClientCAs: spool,
		ClientAuth: tls.RequireAndVerifyClientCert, CurvePreferences: curves, SessionTicketsDisabled: true,
	}
	return client, server, nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// printSummary prints the benchmarks' figures side by side with the
// targets from issue 4.
func printSummary() {
	benchResults.Lock()
	defer benchResults.Unlock()
	r := benchResults.m
	if len(r) == 0 {
		return
	}
	ratio := func(a, b string) string {
		if r[a] == 0 || r[b] == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2fx", r[a]/r[b])
	}
	fmt.Println("--- syncproto benchmarks, interleaved (16 KiB messages one way; handshake = TCP connect + mutual handshake + 1 byte each way)")
	if r["bulk syncproto"] > 0 || r["bulk syncproto (vs aes)"] > 0 {
		fmt.Printf("    bulk MB/s: syncproto %.0f, minimal AEAD channel %.0f, raw AEAD seal+open %.0f, crypto/tls ChaCha20 %.0f\n",
			r["bulk syncproto"], r["bulk minimal"], r["bulk raw aead"], r["bulk tls chacha20"])
		fmt.Printf("    bulk: syncproto/minimal channel = %s (target >= 0.90x)\n", ratio("bulk syncproto", "bulk minimal"))
		fmt.Printf("    bulk: syncproto/tls ChaCha20    = %s (target >= 1.00x)\n", ratio("bulk syncproto", "bulk tls chacha20"))
		fmt.Printf("    bulk: syncproto/tls AES-GCM     = %s (syncproto %.0f, tls AES-GCM %.0f MB/s)\n",
			ratio("bulk syncproto (vs aes)", "bulk tls aes-gcm"), r["bulk syncproto (vs aes)"], r["bulk tls aes-gcm"])
	}
	if r["hs syncproto"] == 0 {
		return
	}
	fmt.Printf("    handshakes/s: syncproto %.0f, tls %.0f: ratio %s (target >= 1.30x)\n", r["hs syncproto"], r["hs tls"], ratio("hs syncproto", "hs tls"))
	fmt.Printf("    (tls above trusts each self-signed certificate as a root and checks no signature; with CA-issued certificates, as TLS is usually deployed: tls %.0f/s, ratio %s)\n", r["hs tls ca"], ratio("hs syncproto", "hs tls ca"))
	fmt.Printf("    cpu per handshake, both sides: syncproto %.3f ms, tls %.3f ms, public-key floor %.3f ms\n", r["cpu syncproto"], r["cpu tls"], r["cpu floor"])
	if f, t, w := r["wall floor"], r["wall tcp"], r["wall flights"]; f > 0 && t > 0 && w > 0 {
		// Our handshake does the public-key operations TLS does (hybrid
		// X25519+ML-KEM-768, an Ed25519 signature and verification per
		// side) and needs these flights, so with every one of them on the
		// path from connect to first byte it could reach this and no more.
		// Ephemeral keys made ahead of time (ephemeral.go) take the three
		// key generations, about a quarter of the floor, off that path.
		fmt.Printf("    bound with every public-key operation on the path: tls / (public-key floor %.3f ms + our flights over a new connection, no computation, %.3f ms) = %.2fx (one byte each way instead of the flights, %.3f ms: %.2fx); ours makes its ephemeral keys ahead of time, off that path\n",
			f, w, r["wall tls"]/(f+w), t, r["wall tls"]/(f+t))
	}
}
