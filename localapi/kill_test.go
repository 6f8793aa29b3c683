package localapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/collection"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/store"
)

// helperEnv names the data directory a re-executed test binary runs a node
// on (TestMain), for the tests that kill it.
const helperEnv = "GHOSTWIRE_TEST_NODE"

// helperSeed is the identity seed of the helper node.
const helperSeed = 44

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		os.Exit(helperNode(dir))
	}
	os.Exit(m.Run())
}

// helperNode runs a node and its API on dir until SIGTERM (or SIGKILL).
func helperNode(dir string) int {
	n, db, ln, err := openTestNode(dir, helperSeed)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper node:", err)
		return 3
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer cancel()
	err = RunNode(ctx, n, ln, nil)
	db.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper node:", err)
		return 1
	}
	return 0
}

// helper is a node process started from the test binary.
type helper struct {
	cmd    *exec.Cmd
	client *http.Client
	stderr bytes.Buffer
}

func startHelper(t *testing.T, dir string) *helper {
	t.Helper()
	h := &helper{cmd: exec.Command(os.Args[0], "-test.run=^$")}
	h.cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	h.cmd.Stderr = &h.stderr
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "api.sock")
	h.client = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := h.client.Get("http://ghostwire/v1/status")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return h
			}
		}
		if time.Now().After(deadline) {
			h.kill()
			t.Fatalf("the restarted node never answered (it must restart unaided): %v; its stderr: %s", err, h.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *helper) kill() {
	h.cmd.Process.Signal(syscall.SIGKILL)
	h.cmd.Wait()
}

// iocItems counts the IOC items in the default collection, reading the
// store directly while no node runs.
func iocItems(t *testing.T, dir string) int {
	t.Helper()
	secrets, err := identity.GenerateSecrets(bytes.NewReader(bytes.Repeat([]byte{helperSeed}, 128)))
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(dir, "store"), secrets.StoreKey[:], nil)
	if err != nil {
		t.Fatalf("the store does not open after kill -9: %v", err)
	}
	defer db.Close()
	n := 0
	err = db.SpaceItems(item.CollectionSpace(collection.Default), func(it *item.Item) error {
		if it.Kind() == item.KindIOC {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestImportKilled kills (SIGKILL) a node process mid-import 20 times
// (-import.kills; ./run soak: 200), at random moments, and imports the same
// file again after each restart, moving to a new file once one is done.
// After every kill: the node restarts unaided; the IOC items stored are
// exactly the records its import records say were stored (so no import
// left items without a record, and no batch was half stored); no item the
// node acknowledged (a "store" progress line) is missing; a record cut
// short shows as interrupted and the next import of its file resumes it.
// On main before import records this fails at once: nothing records an
// import, so a kill leaves items no record accounts for.
func TestImportKilled(t *testing.T) {
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	const perFile = 4 << 20 // 4 MiB: about 1,000 records, several batches
	file := func(round int) ([]byte, string, int) {
		var b bytes.Buffer
		n, err := bigBundle(&b, round, perFile)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b.Bytes())
		return b.Bytes(), hex.EncodeToString(sum[:]), n
	}
	round := 0
	body, sum, records := file(round)
	acked := 0 // items acknowledged so far, in every import
	interrupted := 0
	for kill := 0; kill <= *importKill; kill++ {
		if kill > 0 {
			if got := iocItems(t, dir); got < acked {
				t.Fatalf("kill %d: %d IOC items stored, but %d were acknowledged", kill, got, acked)
			}
		}
		h := startHelper(t, dir)
		var recs []apitype.ImportRecord
		if err := getJSON(h.client, "/v1/iocs/imports", &recs); err != nil {
			h.kill()
			t.Fatalf("kill %d: imports: %v", kill, err)
		}
		h.kill() // count with the node stopped
		stored, otherFiles := 0, 0
		byFile := map[string]int{}
		for _, r := range recs {
			// One record per file: an import of the same file resumed
			// the one before it instead of storing everything again.
			if byFile[r.SHA256]++; byFile[r.SHA256] > 1 {
				t.Fatalf("kill %d: %d records of one file: an interrupted import was not resumed", kill, byFile[r.SHA256])
			}
			if r.Stored > r.Records {
				t.Fatalf("kill %d: import %s stored %d of %d records", kill, r.ID, r.Stored, r.Records)
			}
			if r.State == "running" {
				t.Fatalf("kill %d: import %s still says running after a restart", kill, r.ID)
			}
			if r.State == "interrupted" {
				interrupted++
			}
			stored += r.Stored
			if r.SHA256 != sum {
				otherFiles += r.Stored
			}
		}
		if got := iocItems(t, dir); got != stored {
			t.Fatalf("kill %d: %d IOC items stored, the import records account for %d: a partial import is unrecorded", kill, got, stored)
		}
		if kill == *importKill {
			break
		}
		h = startHelper(t, dir)
		done := make(chan *ImportLine, 1)
		ackCh := make(chan int, 1024)
		go func() {
			r, _ := http.NewRequest("POST", "http://ghostwire/v1/iocs/import?tlp=green&source=f.json", bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			resp, err := h.client.Do(r)
			if err != nil {
				done <- nil
				return
			}
			defer resp.Body.Close()
			dec := json.NewDecoder(resp.Body)
			var last *ImportLine
			for {
				var l ImportLine
				if dec.Decode(&l) != nil {
					break
				}
				if l.Progress != nil && l.Progress.Phase == "store" {
					ackCh <- otherFiles + l.Progress.Records
				}
				last = &l
			}
			done <- last
		}()
		// Kill somewhere in the import: it reads and checks the whole file
		// (two passes) before its first batch is stored, which the race
		// detector makes several times slower.
		window := 1500 * time.Millisecond
		if raceEnabled {
			window = 6 * time.Second
		}
		time.Sleep(time.Duration(rng.Int64N(int64(window))))
		h.kill()
		last := <-done
		close(ackCh)
		for a := range ackCh {
			acked = max(acked, a)
		}
		if last != nil && last.Result != nil && last.Result.Committed {
			acked = max(acked, otherFiles+records)
			round++
			body, sum, records = file(round)
		}
	}
	t.Logf("%d kills: %d files imported whole, %d acknowledged items, 0 lost; %d times an import was found interrupted", *importKill, round, acked, interrupted)
	if round == 0 && interrupted == 0 {
		t.Error("no kill interrupted an import and none finished: the test exercised nothing")
	}
}

func getJSON(c *http.Client, path string, v any) error {
	resp, err := c.Get("http://ghostwire" + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("%d %s", resp.StatusCode, b)
	}
	return json.Unmarshal(b, v)
}
