package node

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/dm"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/room"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/vault"
	"github.com/ghostwire/ghostwire/wire"
	"golang.org/x/crypto/chacha20poly1305"
)

// The burn tests' two nodes: a sends, b receives.
const (
	burnSeedA = 0xa1
	burnSeedB = 0xb1
	burnCount = 100
	burnTTL   = 10 * time.Minute
)

// burnT0 is the tests' clock at the start; the TTL case moves it past the
// timers.
var burnT0 = time.Now().Truncate(time.Millisecond)

// burnNode is one node of the burn tests with its store and vault in dir.
type burnNode struct {
	*Node
	db  *store.DB
	v   *vault.Vault
	dir string
}

func openBurnNode(dir string, seed byte, now func() time.Time, erase bool) (*burnNode, error) {
	secrets, err := identity.GenerateSecrets(bytes.NewReader(bytes.Repeat([]byte{seed}, 128)))
	if err != nil {
		return nil, err
	}
	v, err := vault.Open(filepath.Join(dir, "vault"), secrets.StoreKey[:], rand.Reader)
	if err != nil {
		return nil, err
	}
	n, db, err := openBareNode(dir, seed, now, func(c *Config) { c.Vault = v })
	if err != nil {
		v.Close()
		if db != nil {
			db.Close()
		}
		return nil, err
	}
	n.dm.SetErasureForTest(!erase)
	return &burnNode{Node: n, db: db, v: v, dir: dir}, nil
}

func (b *burnNode) close() {
	b.db.Close()
	b.v.Close()
}

// deliver hands to's node every item from's pair scope with it holds, the
// way a sync session does (syncStore.Accept): checked, then stored.
func deliver(t testing.TB, from, to *burnNode) {
	t.Helper()
	if err := deliverErr(from, to); err != nil {
		t.Fatal(err)
	}
}

func deliverErr(from, to *burnNode) error {
	sc := item.PairScope(from.id, to.id)
	var raws [][]byte
	err := from.db.ScopeIDs(sc, func(id item.ID) error {
		raw, err := from.db.ScopeItem(sc, id)
		if err == nil {
			raws = append(raws, raw)
		}
		return nil
	})
	if err != nil {
		return err
	}
	refused, err := syncStore{to.Node}.Accept(from.id, sc, raws)
	if err != nil {
		return err
	}
	for _, id := range refused {
		// Burnable messages whose timer ran out are refused; nothing else.
		if it, _, err := from.db.GetItem(item.ID(id)); err == nil && it.Kind() != item.KindBurnMessage {
			return fmt.Errorf("%s refused a %s", to.id.Short(), it.Kind())
		}
	}
	return nil
}

// burnSetup makes the two nodes in dirs (peers of each other), sends
// burnCount burnable messages with unique markers from a to b, delivers
// them, closes both, and returns the markers.
func burnSetup(t *testing.T, dirA, dirB string, timer dm.Timer, erase bool) []string {
	now := func() time.Time { return burnT0 }
	a, err := openBurnNode(dirA, burnSeedA, now, erase)
	if err != nil {
		t.Fatal(err)
	}
	b, err := openBurnNode(dirB, burnSeedB, now, erase)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddPeer(b.id, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddPeer(a.id, "a"); err != nil {
		t.Fatal(err)
	}
	deliver(t, b, a) // b's recipient-key certificate
	markers := newMarkers("MARKER")
	for _, m := range markers {
		if _, err := a.dm.SendTimed(b.id, "burn this: "+m, timer); err != nil {
			t.Fatal(err)
		}
	}
	deliver(t, a, b)
	a.close()
	b.close()
	return markers
}

// newMarkers returns burnCount unique markers: prefix, a random tag of
// this run, and a number.
func newMarkers(prefix string) []string {
	tag := make([]byte, 6)
	rand.Read(tag)
	out := make([]string, burnCount)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%x-%03d", prefix, tag, i)
	}
	return out
}

// burnFinish runs what follows the delivery, on nodes opened afresh at
// now: b reads (listing sends receipts and burns the after-read
// messages), a takes the receipts (and burns its copies). Opening each
// node burns what its timers ran out on (New calls dm.Service.Start).
func burnFinish(dirA, dirB string, now time.Time, erase bool) error {
	clock := func() time.Time { return now }
	b, err := openBurnNode(dirB, burnSeedB, clock, erase)
	if err != nil {
		return err
	}
	defer b.close()
	a, err := openBurnNode(dirA, burnSeedA, clock, erase)
	if err != nil {
		return err
	}
	defer a.close()
	if _, err := b.dm.List(nil, nil); err != nil {
		return err
	}
	return deliverErr(b, a)
}

// forensic opens everything under dir as someone holding the data dir and
// the passphrase would: every version badger holds of every key (live,
// overwritten, deleted, expired) through badger's own iterator, items
// among them opened with the node's recipient key, sealed messages with
// whatever key the vault still gives, and every file's raw bytes. It
// returns how many markers it found, and how many of keys (the message
// keys the vault held before the burn) are still usable or on disk.
func forensic(t *testing.T, dir string, seed byte, markers []string, keys []vault.Key) (found, usable int) {
	t.Helper()
	secrets, err := identity.GenerateSecrets(bytes.NewReader(bytes.Repeat([]byte{seed}, 128)))
	if err != nil {
		t.Fatal(err)
	}
	rk, err := recipient.Derive(secrets.Key)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(filepath.Join(dir, "vault"), secrets.StoreKey[:], rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	seen := map[string]bool{}
	look := func(b []byte) {
		for _, m := range markers {
			if !seen[m] && bytes.Contains(b, []byte(m)) {
				seen[m] = true
			}
		}
	}
	// Every item version found, for the room messages among them: those
	// open only with an epoch key unwrapped from a state (room.Recover).
	var all []*item.Item
	openItem := func(raw []byte) {
		it, err := item.Decode(raw)
		if err != nil {
			return
		}
		all = append(all, it)
		sealed := it.Payload()
		if it.Kind() == item.KindBurnMessage {
			var p struct {
				TTL       uint64 `cbor:"1,keyasint"`
				AfterRead bool   `cbor:"2,keyasint,omitempty"`
				Sealed    []byte `cbor:"3,keyasint"`
			}
			if wire.Unmarshal(sealed, &p) != nil {
				return
			}
			sealed = p.Sealed
		}
		sp := it.Space()
		if pt, err := recipient.Open(sealed, append(sp[:], it.Author().Bytes()...), rk); err == nil {
			look(pt)
		}
	}
	// A copy: opening a store killed mid-write replays its log.
	copyDir := t.TempDir()
	if err := os.CopyFS(copyDir, os.DirFS(filepath.Join(dir, "store"))); err != nil {
		t.Fatal(err)
	}
	versions := 0
	err = store.ScanAllVersions(copyDir, secrets.StoreKey[:], func(k, val []byte, _ bool) error {
		versions++
		look(k)
		look(val)
		openItem(val)
		// A sealed message (store/sealed.go, dm/seal.go): metadata (52) ‖
		// form (1) ‖ slot (4) ‖ nonce (24) ‖ AEAD, or in the control
		// form 0 ‖ the item.
		const meta = 52
		if len(val) > meta+1 {
			openItem(val[meta+1:])
			if val[meta] == 1 && len(val) > meta+1+4+24 {
				slot := binary.BigEndian.Uint32(val[meta+1:])
				var ref vault.Ref
				copy(ref[:], k[len(k)-32:])
				if key, err := v.Key(slot, ref); err == nil {
					usable++
					aead, _ := chacha20poly1305.NewX(key[:])
					if raw, err := aead.Open(nil, val[meta+5:meta+29], val[meta+29:], ref[:]); err == nil {
						openItem(raw)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("reading every version in %s: %v", dir, err)
	}
	if versions == 0 {
		t.Fatal("badger showed no versions at all: the scan reads nothing")
	}
	for _, text := range room.Recover(all, secrets.Key.ID(), rk) {
		look([]byte(text))
	}
	v.Slots(func(slot uint32, ref vault.Ref, err error) {
		if err != nil {
			return
		}
		k, _ := v.Key(slot, ref)
		for _, want := range keys {
			if k == want {
				usable++
			}
		}
	})
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		look(raw)
		for _, k := range keys {
			if bytes.Contains(raw, k[:]) {
				usable++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return len(seen), usable
}

// vaultKeys returns the keys the vault of the node in dir holds now.
func vaultKeys(t *testing.T, dir string, seed byte) []vault.Key {
	return vaultKeysAt(t, filepath.Join(dir, "vault"), seed)
}

// vaultKeysAt returns the keys the vault file at path holds now.
func vaultKeysAt(t *testing.T, path string, seed byte) []vault.Key {
	secrets, _ := identity.GenerateSecrets(bytes.NewReader(bytes.Repeat([]byte{seed}, 128)))
	v, err := vault.Open(path, secrets.StoreKey[:], rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	var keys []vault.Key
	v.Slots(func(slot uint32, ref vault.Ref, err error) {
		if k, err := v.Key(slot, ref); err == nil {
			keys = append(keys, k)
		}
	})
	return keys
}

// TestBurnForensic is the burn test of docs/storage.md "Burn": 100
// messages with unique markers, burnt after reading and by their timer,
// each after a clean restart and after a kill -9 at a random moment of
// the burn; then every version badger holds, every vault slot and every
// file's raw bytes of both nodes show none of the markers and none of the
// message keys. The same with erasure switched off must find the markers,
// so the check can fail.
func TestBurnForensic(t *testing.T) {
	cases := []struct {
		name  string
		timer dm.Timer
		at    time.Time // the clock after delivery
	}{
		{"after-read", dm.Timer{AfterRead: true}, burnT0.Add(time.Minute)},
		{"ttl", dm.Timer{TTL: burnTTL}, burnT0.Add(burnTTL + time.Second)},
	}
	for _, tc := range cases {
		for _, stop := range []string{"clean", "kill"} {
			t.Run(tc.name+"/"+stop, func(t *testing.T) {
				dirA, dirB := t.TempDir(), t.TempDir()
				markers := burnSetup(t, dirA, dirB, tc.timer, true)
				keys := append(vaultKeys(t, dirA, burnSeedA), vaultKeys(t, dirB, burnSeedB)...)
				if len(keys) != 2*burnCount {
					t.Fatalf("the vaults hold %d keys before the burn, want %d", len(keys), 2*burnCount)
				}
				if f, _ := forensic(t, dirB, burnSeedB, markers, nil); f != burnCount {
					t.Fatalf("before the burn the check opens %d of %d messages on b: it cannot see them", f, burnCount)
				}
				if stop == "kill" {
					killDuringBurn(t, tc.name, dirA, dirB, tc.at)
				}
				// Restart (after the kill, or after nothing) and finish.
				if err := burnFinish(dirA, dirB, tc.at, true); err != nil {
					t.Fatal(err)
				}
				if err := burnFinish(dirA, dirB, tc.at, true); err != nil { // a clean restart after the burn
					t.Fatal(err)
				}
				for _, n := range []struct {
					dir  string
					seed byte
				}{{dirA, burnSeedA}, {dirB, burnSeedB}} {
					found, usable := forensic(t, n.dir, n.seed, markers, keys)
					if found != 0 || usable != 0 {
						t.Errorf("node %x after burning: %d of %d markers and %d message keys recoverable", n.seed, found, burnCount, usable)
					}
				}
			})
		}
	}
	t.Run("control", func(t *testing.T) {
		dirA, dirB := t.TempDir(), t.TempDir()
		markers := burnSetup(t, dirA, dirB, dm.Timer{AfterRead: true}, false)
		if err := burnFinish(dirA, dirB, burnT0.Add(time.Minute), false); err != nil {
			t.Fatal(err)
		}
		if err := burnFinish(dirA, dirB, burnT0.Add(time.Minute), false); err != nil {
			t.Fatal(err)
		}
		for _, dir := range []string{dirA, dirB} {
			seed := byte(burnSeedA)
			if dir == dirB {
				seed = burnSeedB
			}
			found, _ := forensic(t, dir, seed, markers, nil)
			if found != burnCount {
				t.Errorf("with erasure off, deleting from badger left %d of %d markers on %x; the check must find them all", found, burnCount, seed)
			} else {
				t.Logf("with erasure off: %d of %d markers recovered from node %x's deleted versions", found, burnCount, seed)
			}
		}
		a, err := openBurnNode(dirA, burnSeedA, func() time.Time { return burnT0.Add(time.Minute) }, false)
		if err != nil {
			t.Fatal(err)
		}
		defer a.close()
		if ms, _ := a.dm.List(nil, nil); len(ms) != 0 {
			t.Fatalf("a still lists %d messages after the receipts: the control did not burn", len(ms))
		}
	})
}

// The kill child (TestMain): burnFinish on the directories in its
// environment, then a wait to be killed.
const (
	burnChildEnv = "GHOSTWIRE_BURN_CHILD" // "dirA dirB unix-ms"
)

func runBurnChild(spec string) error {
	f := strings.Fields(spec)
	if len(f) != 3 {
		return fmt.Errorf("bad spec %q", spec)
	}
	ms, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return err
	}
	fmt.Println("start")
	if err := burnFinish(f[0], f[1], time.UnixMilli(ms), true); err != nil {
		return err
	}
	fmt.Println("burnt")
	time.Sleep(time.Minute)
	return nil
}

// killDuringBurn runs burnFinish in a child process and kills it with
// SIGKILL at a random moment within the time the burn takes.
func killDuringBurn(t *testing.T, name, dirA, dirB string, at time.Time) {
	t.Helper()
	// How long a whole burn takes here, measured on a copy: the kill
	// lands somewhere inside it.
	cpA, cpB := t.TempDir(), t.TempDir()
	os.CopyFS(cpA, os.DirFS(dirA))
	os.CopyFS(cpB, os.DirFS(dirB))
	start := time.Now()
	if err := burnFinish(cpA, cpB, at, true); err != nil {
		t.Fatal(err)
	}
	span := time.Since(start)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d", burnChildEnv, dirA, dirB, at.UnixMilli()))
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(stdout)
	if line, err := r.ReadString('\n'); err != nil || line != "start\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("burn child did not start: %q, %v; stderr %s", line, err, errOut.String())
	}
	wait := time.Duration(mrand.Int64N(int64(span)))
	time.Sleep(wait)
	cmd.Process.Signal(syscall.SIGKILL)
	rest, _ := io.ReadAll(r)
	cmd.Wait()
	t.Logf("%s: killed %v into a burn that takes %v; the child had %s", name, wait, span,
		map[bool]string{true: "finished", false: "not finished"}[strings.Contains(string(rest), "burnt")])
}
