package testnet

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestStartLoadStop starts a real network with one client, reads it back
// with Load, checks Status, stops it and checks nothing is left.
func TestStartLoadStop(t *testing.T) {
	dir := t.TempDir() + "/net"
	var lines []string
	nw, err := Start(context.Background(), Config{Dir: dir, Clients: 1, Progress: func(s string) { lines = append(lines, s) }})
	if err != nil {
		t.Fatalf("starting a private tor network (is tor installed? apt-get install tor): %v", err)
	}
	if len(lines) == 0 {
		t.Error("no progress reported")
	}
	if _, err := Start(context.Background(), Config{Dir: dir}); err == nil {
		t.Error("a second Start in the same directory succeeded")
	}
	loaded, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := loaded.Status(context.Background())
	if len(st) != DefaultAuthorities+1 {
		t.Fatalf("%d nodes, want %d", len(st), DefaultAuthorities+1)
	}
	var pids []int
	for _, s := range st {
		if !s.Running {
			t.Errorf("%s not running", s.Name)
		}
		if s.Role == RoleClient && s.Bootstrap != 100 {
			t.Errorf("%s bootstrapped %d%%", s.Name, s.Bootstrap)
		}
		pids = append(pids, s.PID)
	}
	if err := loaded.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if nw.owns(pid) {
			t.Errorf("pid %d survived Stop", pid)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("directory left behind: %v", err)
	}
}

// TestFailedStartCleansUp cancels a start while the authorities are
// waiting for a consensus: every tor started must be gone, and the
// directory removed.
func TestFailedStartCleansUp(t *testing.T) {
	dir := t.TempDir() + "/net"
	ctx, cancel := context.WithCancel(context.Background())
	var pids []int
	_, err := Start(ctx, Config{Dir: dir, Progress: func(s string) {
		if len(s) > 9 && s[:9] == "consensus" {
			if nw, err := Load(dir); err == nil {
				for _, n := range nw.Nodes {
					pids = append(pids, n.PID)
				}
			}
			cancel()
		}
	}})
	if err == nil {
		t.Fatal("Start succeeded despite cancellation")
	}
	if len(pids) == 0 {
		t.Fatal("never reached the consensus phase")
	}
	time.Sleep(100 * time.Millisecond)
	probe := &Network{Dir: dir}
	for _, pid := range pids {
		if pid != 0 && probe.owns(pid) {
			t.Errorf("pid %d left running after a failed start", pid)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("directory left behind: %v", err)
	}
}

// BenchmarkNetwork runs Bench once per iteration and reports its figures
// beside the reference medians measured when the testnet was designed
// (4 authorities + 2 clients): usable 9.0 s, upload 1.08 s, first connect
// 1.54 s, reused 79 ms, new circuit 277 ms, round trip 21 ms.
func BenchmarkNetwork(b *testing.B) {
	for b.Loop() {
		r, err := Bench(context.Background(), Config{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(r.Start.Total.Seconds(), "s-start-to-usable")
		b.ReportMetric((r.Start.Consensus + r.Start.Clients).Seconds(), "s-spawn-to-usable")
		b.ReportMetric(r.Upload.Seconds(), "s-upload")
		b.ReportMetric(r.FirstConnect.Seconds(), "s-first-connect")
		b.ReportMetric(float64(r.ReusedConnect.Milliseconds()), "ms-reused-connect")
		b.ReportMetric(float64(r.NewConnect.Milliseconds()), "ms-new-connect")
		b.ReportMetric(float64(r.RoundTrip.Microseconds())/1000, "ms-rtt")
	}
}
