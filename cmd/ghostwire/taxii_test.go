package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTAXIICommandLine(t *testing.T) {
	dir := newNode(t, "hunter2 hunter2")
	for _, addr := range []string{"0.0.0.0:9443", "192.0.2.1:9443", "localhost:9443", "[::]:9443", "9443"} {
		gw(t, "", "taxii", "serve", "--listen", addr, "--data", dir).expect(t, exitUsage, "", "--listen")
	}
	gw(t, "", "taxii", "serve", "--expose", "default:amber", "--data", dir).expect(t, exitUsage, "", "--allow-restricted")
	gw(t, "", "taxii", "serve", "--expose", "default:purple", "--data", dir).expect(t, exitUsage, "", "not one of")
	gw(t, "", "taxii", "serve", "--data", dir).expect(t, exitNotRunning, "", "ghostwire: hint: start it with 'ghostwire run --data")
	gw(t, "", "taxii", "token", "--data", dir).expect(t, exitUsage, "", "needs --name")

	r := gw(t, "", "taxii", "token", "--name", "opencti", "--collection", "default:green", "--data", dir)
	r.expect(t, 0, "gwtaxii_", "shown only now")
	secret := strings.TrimSpace(r.stdout)
	path := filepath.Join(dir, taxiiTokenFile)
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", st, err)
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), secret) || strings.Contains(string(b), strings.TrimPrefix(secret, "gwtaxii_")) {
		t.Fatal("the token file holds the secret, not only its hash")
	}
	gw(t, "", "taxii", "token", "--name", "opencti", "--data", dir).expect(t, exitFailure, "", "exists already")
	gw(t, "", "taxii", "token", "--list", "--data", dir).expect(t, 0, "default:green", "")
	gw(t, "", "taxii", "token", "--remove", "opencti", "--data", dir).expect(t, 0, "removed", "")

	gw(t, "", "ioc", "export", "--format", "misp-feed", "--tlp", "green", "--data", dir).expect(t, exitUsage, "", "--out DIR")
	gw(t, "", "ioc", "export", "--format", "misp-feed", "--out", t.TempDir(), "--data", dir).expect(t, exitUsage, "", "--tlp")
	gw(t, "", "ioc", "export", "--format", "stix", "--out", t.TempDir(), "--data", dir).expect(t, exitUsage, "", "--out is for")
}
