//go:build linux

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// BenchmarkDemoLAN runs `ghostwire demo --lan` (namespaces, no tor) and
// `ghostwire demo` (a private Tor network) one after the other and prints
// their steps side by side: what it costs to get from nothing to a first
// message, to pair, and to find a peer, in each mode. It needs root (the
// namespaces) and tor.
//
//	go test -run '^$' -bench DemoLAN -benchtime 1x ./cmd/ghostwire
func BenchmarkDemoLAN(b *testing.B) {
	first := regexp.MustCompile(`start → first message delivered: ([0-9.]+)s`)
	pairing := regexp.MustCompile(`pairing \(code shown → both contacts stored\): ([0-9.]+m?s), ([0-9.]+m?s), ([0-9.]+m?s)`)
	discovery := regexp.MustCompile(`discovery \(paired → [^)]*\): ([0-9.]+m?s)`)
	torAdd := regexp.MustCompile(`3\. Each adds the other two as peers.*?([0-9.]+m?s)\n`)
	torMsg := regexp.MustCompile(`4\. alice → bob: message delivered.*?([0-9.]+m?s)\n`)
	lanMsg := regexp.MustCompile(`5\. alice → bob: message delivered.*?([0-9.]+m?s)\n`)
	for b.Loop() {
		lan := runDemoFor(b, "--lan")
		tor := runDemoFor(b)
		m := func(re *regexp.Regexp, out string) []string {
			got := re.FindStringSubmatch(out)
			if got == nil {
				b.Fatalf("no %q in:\n%s", re, out)
			}
			return got
		}
		lf, tf := m(first, lan)[1], m(first, tor)[1]
		pt := m(pairing, lan)
		disc := m(discovery, lan)[1]
		b.Logf("\n%-38s %-40s %s\n%-38s %-40s %s\n%-38s %-40s %s\n%-38s %-40s %s\n%-38s %-40s %s",
			"step", "LAN mode", "Tor mode (private network on loopback)",
			"start → first message delivered", lf+"s", tf+"s",
			"make two peers known to each other", pt[1]+" (pair by code)", m(torAdd, tor)[1]+" (peer add by onion address; no proof of who)",
			"find the peer", disc+" (private advert recognised)", "— (the onion address is the locator; descriptor fetch is in the first message)",
			"first message, send → read", m(lanMsg, lan)[1], m(torMsg, tor)[1])
		s, _ := strconv.ParseFloat(lf, 64)
		b.ReportMetric(s, "s-lan-start-to-first-msg")
		if d, err := time.ParseDuration(pt[1]); err == nil {
			b.ReportMetric(float64(d.Microseconds())/1000, "ms-lan-pairing")
		}
		if d, err := time.ParseDuration(disc); err == nil {
			b.ReportMetric(float64(d.Microseconds())/1000, "ms-lan-discovery")
		}
	}
}

// runDemoFor runs the demo with args and returns what it printed.
func runDemoFor(b *testing.B, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, append([]string{"demo"}, args...)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) } // demo stops what it started
	cmd.WaitDelay = 20 * time.Second
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		b.Fatalf("demo %v: %v\n%s\n%s", args, err, o.String(), e.String())
	}
	return o.String()
}
