//go:build linux

package lan

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Seeds of the lab's identities, and the names their owners would give them.
const (
	alice, bob, carol = 1, 2, 3
)

var labNames = map[byte]string{alice: "node-alpha-alice", bob: "node-bravo-bob", carol: "node-charlie-carol"}

// TestLANDiscoverySyncPrivacy: in three namespaces on one bridge, alice
// and bob (who know each other) find each other's adverts, dial, complete
// the handshake and a sync session both ways; carol, who knows both their
// identities but is known by neither, recognises no one. A raw-socket
// capture of the whole exchange holds no identity in any encoding in any
// mDNS packet, nor in any TCP payload.
func TestLANDiscoverySyncPrivacy(t *testing.T) {
	l := newLab(t, 3)
	capFile := filepath.Join(t.TempDir(), "capture")
	capture := l.start(l.hub, helperConfig{Role: "capture", Out: capFile})
	capture.next("capturing", 10*time.Second)

	// Bob and carol are up when alice starts: her discovery time is that
	// of a node joining a link where its peer already is.
	b := l.start(l.nodes[1], helperConfig{Role: "node", Seed: bob, Peers: []byte{alice}, Items: []string{"from bob 1"}})
	c := l.start(l.nodes[2], helperConfig{Role: "node", Seed: carol, Peers: []byte{alice, bob}})
	b.next("listening", 10*time.Second)
	c.next("listening", 10*time.Second)
	a := l.start(l.nodes[0], helperConfig{Role: "node", Seed: alice, Peers: []byte{bob}, Items: []string{"from alice 1", "from alice 2"}})
	a.next("listening", 10*time.Second)
	aliceUp := time.Now()

	a.send("dial 2")
	d := a.next("dialed", 40*time.Second)
	if d.Err != "" {
		t.Fatalf("alice dialing bob: %s\n%s", d.Err, a.stderr.String())
	}
	t.Logf("discovery: alice recognised bob's advert %d ms after her process started (the goal is ≤ 5 s); dialed %s", d.Ms, d.Addr)
	if d.Addr != "10.77.0.2:"+strings.Split(d.Addr, ":")[1] {
		t.Errorf("alice reached bob at %s, want 10.77.0.2", d.Addr)
	}
	for _, h := range []*helper{a, b} {
		h.send("items")
		got := h.next("items", 10*time.Second).Items
		slices.Sort(got)
		want := []string{"from alice 1", "from alice 2", "from bob 1"}
		if !slices.Equal(got, want) {
			t.Errorf("after the sync a node holds %q, want %q", got, want)
		}
	}
	// Bob learns of alice from her announcement, which follows her
	// probes (RFC 6762 §8): allow him the 5 s.
	var got []string
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		b.send("seen")
		if got = b.next("seen", 10*time.Second).Peers; len(got) > 0 {
			t.Logf("discovery: bob recognised alice's advert within %d ms of her listener being up", time.Since(aliceUp).Milliseconds())
			break
		}
	}
	if !slices.Equal(got, []string{seedKey(alice).ID().String()}) {
		t.Errorf("bob sees %q, want alice only", got)
	}
	c.send("seen")
	if got := c.next("seen", 10*time.Second).Peers; len(got) != 0 {
		t.Errorf("carol, whom neither knows, recognised %q", got)
	}
	c.send("dial 1")
	if d := c.next("dialed", 20*time.Second); d.Err == "" {
		t.Errorf("carol found alice though alice does not know her")
	}
	b.send("status")
	t.Logf("bob's status: %s", b.next("status", 5*time.Second).Text)
	a.send("checks")
	for _, bad := range a.next("checks", 30*time.Second).Text {
		t.Error(bad)
	}
	for _, h := range []*helper{a, b, c} {
		h.send("close")
		if e := h.next("closed", 20*time.Second); len(e.Leaked) > 0 {
			t.Errorf("goroutines left after Close: %s\n%s", e.Leaked[0], e.Leaked[1])
		}
	}

	for _, h := range []*helper{a, b, c} {
		h.stop() // withdraws the adverts: their goodbyes are captured too
	}
	capture.stop()
	mdns, tcp := readCapture(t, capFile)
	if len(mdns) == 0 || len(tcp) == 0 {
		t.Fatalf("the capture holds %d mDNS and %d TCP packets; it saw nothing", len(mdns), len(tcp))
	}
	t.Logf("capture: %d mDNS packets, %d TCP segments with payload", len(mdns), len(tcp))
	for seed, name := range labNames {
		for _, enc := range identityEncodings(seed, name) {
			for i, p := range mdns {
				if bytes.Contains(bytes.ToLower(p), bytes.ToLower(enc)) {
					t.Errorf("mDNS packet %d contains %s's identity as %q", i, name, enc)
				}
			}
			for i, p := range tcp {
				if bytes.Contains(p, enc) {
					t.Errorf("TCP payload %d contains %s's identity as %q", i, name, enc)
				}
			}
		}
	}
	// The machine's hostname as a DNS label, as an mDNS responder that
	// used it would write it (a short hostname like "vm" is otherwise
	// found inside random labels).
	host, _ := os.Hostname()
	label := append([]byte{byte(len(host))}, strings.ToLower(host)...)
	for i, p := range mdns {
		if host != "" && bytes.Contains(bytes.ToLower(p), label) {
			t.Errorf("mDNS packet %d contains the machine's hostname %q as a label", i, host)
		}
	}
}

// identityEncodings lists every spelling of an identity the capture must
// not contain: the raw key, the onion address, base32/base64/hex of the
// key, and the owner's name.
func identityEncodings(seed byte, name string) [][]byte {
	id := seedKey(seed).ID()
	raw := id.Bytes()
	encs := [][]byte{raw, []byte(id.Onion()), []byte(id.String()), []byte(name),
		[]byte(hex.EncodeToString(raw)), []byte(id.Short())}
	for _, e := range []*base32.Encoding{base32.StdEncoding, base32.StdEncoding.WithPadding(base32.NoPadding), base32.HexEncoding} {
		encs = append(encs, []byte(e.EncodeToString(raw)))
	}
	for _, e := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		encs = append(encs, []byte(e.EncodeToString(raw)))
	}
	return encs
}

// readCapture splits the capture helper's frames into mDNS payloads (UDP
// to or from port 5353) and TCP payloads, over IPv4 and IPv6.
func readCapture(t *testing.T, path string) (mdns, tcp [][]byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for len(b) >= 4 {
		n := int(binary.BigEndian.Uint32(b))
		if n > len(b)-4 {
			break
		}
		frame := b[4 : 4+n]
		b = b[4+n:]
		if len(frame) < 14 {
			continue
		}
		var proto byte
		var l4 []byte
		switch binary.BigEndian.Uint16(frame[12:]) {
		case 0x0800:
			ip := frame[14:]
			if len(ip) < 20 || int(ip[0]&0x0f)*4 > len(ip) {
				continue
			}
			proto, l4 = ip[9], ip[int(ip[0]&0x0f)*4:]
		case 0x86dd:
			ip := frame[14:]
			if len(ip) < 40 {
				continue
			}
			proto, l4 = ip[6], ip[40:]
		default:
			continue
		}
		switch {
		case proto == 17 && len(l4) >= 8:
			if binary.BigEndian.Uint16(l4) == 5353 || binary.BigEndian.Uint16(l4[2:]) == 5353 {
				mdns = append(mdns, l4[8:])
			}
		case proto == 6 && len(l4) >= 20 && int(l4[12]>>4)*4 <= len(l4):
			if p := l4[int(l4[12]>>4)*4:]; len(p) > 0 {
				tcp = append(tcp, p)
			}
		}
	}
	return mdns, tcp
}
