package onion

import (
	"errors"
	"strings"
	"testing"
)

const (
	testFP   = "4AF3C1C0B8E4E61B6BF33ECC8C1DDBBE5FE4B0A8"
	testCert = "cert=ssH+9rP8dG2NLDN2XuFw63hIO/9MNNinLmxQDpVa+7kTOa9/m+tGWT1SmSYpQ9uTBGa6Hw"
)

func TestParseBridge(t *testing.T) {
	good := []struct{ in, want string }{
		{"obfs4 192.0.2.3:443 " + testFP + " " + testCert + " iat-mode=0", "obfs4 192.0.2.3:443 " + testFP + " " + testCert + " iat-mode=0"},
		{"Bridge obfs4 192.0.2.3:443 " + strings.ToLower(testFP) + " " + testCert + " iat-mode=1", "obfs4 192.0.2.3:443 " + testFP + " " + testCert + " iat-mode=1"},
		{"  [2001:db8::1]:9001   " + testFP + " ", "[2001:db8::1]:9001 " + testFP},
		{"192.0.2.3:9001", "192.0.2.3:9001"},
	}
	for _, g := range good {
		b, err := ParseBridge(g.in)
		if err != nil {
			t.Errorf("ParseBridge(%q): %v", g.in, err)
			continue
		}
		if b.String() != g.want {
			t.Errorf("ParseBridge(%q) = %q, want %q", g.in, b, g.want)
		}
		again, err := ParseBridge(b.String())
		if err != nil || again.String() != b.String() {
			t.Errorf("%q does not parse back to itself: %q, %v", b, again, err)
		}
	}
	bad := []string{
		"",
		"Bridge",
		"meek 192.0.2.3:443 " + testFP + " url=https://x/",                    // a transport we do not run
		"obfs4 bridge.example:443 " + testFP + " " + testCert + " iat-mode=0", // a host name
		"obfs4 192.0.2.3:443 " + testFP + " iat-mode=0",                       // no cert
		"obfs4 192.0.2.3:443 " + testCert + " iat-mode=0",                     // no fingerprint
		"obfs4 192.0.2.3:443 ABCD " + testCert + " iat-mode=0",                // short fingerprint
		"obfs4 192.0.2.3:0 " + testFP + " " + testCert + " iat-mode=0",        // port 0
		"obfs4 192.0.2.3:443 " + testFP + " " + testCert + " iat-mode=0 iat-mode=1",
		"obfs4 192.0.2.3:443 " + testFP + ` cert="x" iat-mode=0`, // a quote would end the SETCONF value
		"obfs4 192.0.2.3:443 " + testFP + ` cert=a\ iat-mode=0`,
		"192.0.2.3:9001 " + testFP + " x=y", // arguments without a transport
		"192.0.2.3:9001 " + testFP + " junk",
		"obfs4 192.0.2.3:443 " + testFP + " " + testCert + " iat-mode=0\nDisableNetwork 0",
	}
	for _, in := range bad {
		if b, err := ParseBridge(in); !errors.Is(err, ErrBridgeLine) {
			t.Errorf("ParseBridge(%q) = %q, %v; want ErrBridgeLine", in, b, err)
		}
	}
}

func TestParseBridgesFile(t *testing.T) {
	in := "# my bridges\n\nobfs4 192.0.2.3:443 " + testFP + " " + testCert + " iat-mode=0\n  # indented comment\n192.0.2.4:9001\n"
	got, err := ParseBridges(strings.NewReader(in))
	if err != nil || len(got) != 2 || got[1].String() != "192.0.2.4:9001" {
		t.Fatalf("ParseBridges = %v, %v", got, err)
	}
	_, err = ParseBridges(strings.NewReader("# ok\n192.0.2.4:9001\nnot a bridge\n"))
	if !errors.Is(err, ErrBridgeLine) || !strings.Contains(err.Error(), `line 3 "not a bridge"`) {
		t.Fatalf("a bad third line: %v, want it named", err)
	}
}

// TestBridgeTorrcHoldsTorOffTheNetwork: a tor given bridges starts with
// the network disabled; only applyBridges turns it on.
func TestBridgeTorrcHoldsTorOffTheNetwork(t *testing.T) {
	rc := bridgeTorrc("/usr/bin/obfs4proxy")
	for _, want := range []string{"DisableNetwork 1\n", "ClientTransportPlugin obfs4 exec /usr/bin/obfs4proxy\n"} {
		if !strings.Contains(rc, want) {
			t.Errorf("bridge torrc lacks %q:\n%s", want, rc)
		}
	}
	if strings.Contains(bridgeTorrc(""), "ClientTransportPlugin") {
		t.Error("a transport plugin without obfs4 bridges")
	}
}

func FuzzParseBridge(f *testing.F) {
	f.Add("obfs4 192.0.2.3:443 " + testFP + " " + testCert + " iat-mode=0")
	f.Add("Bridge [2001:db8::1]:9001 " + testFP)
	f.Add(`obfs4 1.2.3.4:5 ` + testFP + ` cert="` + "\n")
	f.Fuzz(func(t *testing.T, line string) {
		b, err := ParseBridge(line)
		if err != nil {
			return
		}
		s := b.String()
		if strings.ContainsAny(s, "\"\\\r\n") {
			t.Fatalf("accepted %q gives %q, which could escape a SETCONF value", line, s)
		}
		again, err := ParseBridge(s)
		if err != nil || again.String() != s {
			t.Fatalf("%q does not parse back: %q, %v", s, again, err)
		}
	})
}

func FuzzParseBridges(f *testing.F) {
	f.Add("# mine\n\nobfs4 192.0.2.3:443 " + testFP + " " + testCert + " iat-mode=0\n192.0.2.4:9001\n")
	f.Add("192.0.2.4:9001\r\nnot a bridge\n")
	f.Fuzz(func(t *testing.T, file string) {
		bs, err := ParseBridges(strings.NewReader(file))
		if err != nil {
			if !errors.Is(err, ErrBridgeLine) && !strings.Contains(err.Error(), "reading bridges") {
				t.Fatalf("an error that is not about a line: %v", err)
			}
			return
		}
		for _, b := range bs {
			if again, err := ParseBridge(b.String()); err != nil || again.String() != b.String() {
				t.Fatalf("%q does not parse back: %v", b, err)
			}
		}
	})
}
