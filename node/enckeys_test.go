package node

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/keys"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/vault"
)

// encClock is a clock the encryption tests move by hand.
type encClock struct{ ms atomic.Int64 }

func (c *encClock) now() time.Time       { return time.UnixMilli(c.ms.Load()) }
func (c *encClock) add(d time.Duration)  { c.ms.Add(d.Milliseconds()) }
func newEncClock(t0 time.Time) *encClock { c := &encClock{}; c.ms.Store(t0.UnixMilli()); return c }
func keyVaultPath(dir string) string     { return filepath.Join(dir, "keys.vault") }
func encSecrets(seed byte) *identity.Secrets {
	s, _ := identity.GenerateSecrets(bytes.NewReader(bytes.Repeat([]byte{seed}, 128)))
	return s
}

// openEncNode opens a node in dir with encryption subkeys (a key vault
// beside its store) on clock c; erase false is the forensic control; more
// changes the rest of its configuration.
func openEncNode(t *testing.T, dir string, seed byte, c *encClock, erase bool, more ...func(*Config)) *burnNode {
	t.Helper()
	kv, err := vault.Open(keyVaultPath(dir), encSecrets(seed).StoreKey[:], rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	n, db, err := openBareNode(dir, seed, c.now, func(cfg *Config) {
		cfg.KeyVault = kv
		for _, f := range more {
			f(cfg)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	n.keys.SetEncryptionErasureForTest(!erase)
	t.Cleanup(func() { kv.Close() })
	return &burnNode{Node: n, db: db, v: kv, dir: dir}
}

// pairBurnNodes makes a and b each other's peers and hands a b's
// recipient-key certificate, as their first sync would.
func pairBurnNodes(t *testing.T, a, b *burnNode) {
	t.Helper()
	if _, err := a.AddPeer(b.id, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddPeer(a.id, "a"); err != nil {
		t.Fatal(err)
	}
	deliver(t, b, a)
}

// listTexts lists n's conversation with peer: the texts it can read, and
// how many messages it lists as unreadable.
func listTexts(t *testing.T, n *burnNode, peer identity.ID) (texts []string, unreadable int) {
	t.Helper()
	msgs, err := n.dm.List(&peer, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.Unreadable {
			unreadable++
			continue
		}
		texts = append(texts, m.Text)
	}
	return texts, unreadable
}

func encStates(t *testing.T, n *burnNode) string {
	t.Helper()
	kl, err := n.Keys()
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, k := range kl.Subkeys {
		if k.Purpose == keys.PurposeEncryption {
			s = append(s, k.State)
		}
	}
	return strings.Join(s, ",")
}

// TestEncryptionRotation: a message sealed to B's old subkey after B
// rotated (A does not have the new certificate yet) still opens during the
// grace period; once A syncs, it seals to the new one; after the grace
// the old key is destroyed, key list says so, and the messages sealed to
// it are listed as unreadable while the later one still reads.
func TestEncryptionRotation(t *testing.T) {
	c := newEncClock(time.Now().Truncate(time.Millisecond))
	a, b := openEncNode(t, t.TempDir(), 0xe1, c, true), openEncNode(t, t.TempDir(), 0xe2, c, true)
	defer a.close()
	defer b.close()
	pairBurnNodes(t, a, b)
	deliver(t, a, b)
	if got := encStates(t, b); got != "current" {
		t.Fatalf("B's encryption subkeys at start: %s; want one current", got)
	}
	send := func(text string) {
		if _, err := a.dm.Send(b.id, text); err != nil {
			t.Fatal(err)
		}
	}
	send("one")
	c.add(time.Hour)
	if _, err := b.RotateKey(keys.PurposeEncryption); err != nil {
		t.Fatal(err)
	}
	send("two") // sealed to B's old subkey: A has not synced since
	deliver(t, a, b)
	if texts, bad := listTexts(t, b, a.id); strings.Join(texts, ",") != "one,two" || bad != 0 {
		t.Fatalf("B in the grace period reads %q (%d unreadable); want one,two", texts, bad)
	}
	if got := encStates(t, b); got != "current,grace" {
		t.Fatalf("B's encryption subkeys after rotating: %s; want current,grace", got)
	}
	deliver(t, b, a) // B's new certificate
	pk, err := a.peerKey(b.id)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pk.Bytes(), b.recipientKey().Public().Bytes()) {
		t.Fatal("A does not seal to B's new subkey after a sync brought its certificate")
	}
	send("three")
	deliver(t, a, b)

	c.add(keys.DefaultEncryptionGrace + time.Minute)
	for _, n := range []*burnNode{a, b} {
		if err := n.TickKeys(); err != nil {
			t.Fatal(err)
		}
	}
	// B's period ran out too: the tick rotated it once more and the
	// grace of the first ended.
	if got := encStates(t, b); got != "current,grace,destroyed" {
		t.Fatalf("B's encryption subkeys after the grace: %s; want current,grace,destroyed", got)
	}
	texts, bad := listTexts(t, b, a.id)
	if strings.Join(texts, ",") != "three" || bad != 2 {
		t.Fatalf("B after the grace reads %q and lists %d unreadable; want three, and 2 unreadable", texts, bad)
	}
	// A peer whose certificate ended is not sealed to: the message waits.
	c.add(keys.DefaultEncryptionPeriod + keys.DefaultEncryptionGrace)
	if _, err := a.peerKey(b.id); err == nil {
		t.Fatal("A seals to B's subkey after its certificate ended")
	}
}

// TestEncryptionForensic is the forensic test of docs/trust.md §4, in the
// shape of TestBurnForensic: A sends B 20 messages with unique markers,
// both read them, both rotate, and the grace ends; then a copy of each
// data directory is searched with the passphrase: every key the key vault
// holds, the identity's derived key, and any 32 bytes of any file or of
// any badger version that equal a subkey secret the vault held before,
// tried against every message as captured on the wire. 0 open, and no
// marker is in any file. With erasure off the same search opens them all.
func TestEncryptionForensic(t *testing.T) {
	for _, erase := range []bool{true, false} {
		t.Run(fmt.Sprintf("erase=%v", erase), func(t *testing.T) {
			opened, markers := encForensicRun(t, erase)
			if erase && (opened != 0 || markers != 0) {
				t.Fatalf("after rotation and grace, %d of 40 sealed copies open and %d markers are on disk; want 0", opened, markers)
			}
			if !erase && opened != 40 {
				t.Fatalf("control (erasure off): %d of 40 sealed copies open; want all, or the search cannot fail", opened)
			}
		})
	}
}

func encForensicRun(t *testing.T, erase bool) (opened, markersFound int) {
	const count = 20
	c := newEncClock(time.Now().Truncate(time.Millisecond))
	dirA, dirB := t.TempDir(), t.TempDir()
	a, b := openEncNode(t, dirA, 0xe3, c, erase), openEncNode(t, dirB, 0xe4, c, erase)
	pairBurnNodes(t, a, b)
	tag := make([]byte, 6)
	rand.Read(tag)
	var markers []string
	for i := range count {
		m := fmt.Sprintf("ENCMARK-%x-%03d", tag, i)
		markers = append(markers, m)
		if _, err := a.dm.Send(b.id, "rotate this: "+m); err != nil {
			t.Fatal(err)
		}
	}
	// What an observer records: the items as they travel.
	var wire []*item.Item
	a.db.SpaceItems(item.DirectSpace(a.id, b.id), func(it *item.Item) error {
		if it.Kind() == item.KindMessage {
			wire = append(wire, it)
		}
		return nil
	})
	if len(wire) != count {
		t.Fatalf("captured %d messages, want %d", len(wire), count)
	}
	deliver(t, a, b)
	if texts, _ := listTexts(t, b, a.id); len(texts) != count {
		t.Fatalf("B reads %d of %d messages before rotating", len(texts), count)
	}
	// The secrets the key vaults hold now: what a copy taken today opens.
	before := append(vaultKeysAt(t, keyVaultPath(dirA), 0xe3), vaultKeysAt(t, keyVaultPath(dirB), 0xe4)...)
	c.add(keys.DefaultEncryptionPeriod + time.Minute)
	for _, n := range []*burnNode{a, b} {
		if err := n.TickKeys(); err != nil { // rotates
			t.Fatal(err)
		}
	}
	c.add(keys.DefaultEncryptionGrace + time.Minute)
	for _, n := range []*burnNode{a, b} {
		if err := n.TickKeys(); err != nil { // destroys the old ones, rotates again
			t.Fatal(err)
		}
	}
	if texts, bad := listTexts(t, b, a.id); len(texts) != 0 || bad != count {
		t.Fatalf("B after the grace reads %d and lists %d unreadable; want 0 and %d", len(texts), bad, count)
	}
	a.close()
	b.close()
	a.v.Close()
	b.v.Close()

	for _, side := range []struct {
		dir  string
		seed byte
	}{{dirA, 0xe3}, {dirB, 0xe4}} {
		dir := t.TempDir()
		if err := os.CopyFS(dir, os.DirFS(side.dir)); err != nil {
			t.Fatal(err)
		}
		disk := readEncDisk(t, dir, side.seed)
		cands := encCandidates(t, dir, side.seed, before, disk)
		for _, m := range markers {
			if disk.has([]byte(m)) {
				markersFound++
			}
		}
		for _, it := range wire {
			sp := it.Space()
			for _, k := range cands {
				if _, err := recipient.Open(it.Payload(), append(sp[:], it.Author().Bytes()...), k.WithOlder()); err == nil {
					opened++
					break
				}
			}
		}
	}
	return opened, markersFound
}

// encCandidates is every recipient key a forensic search of the copy in
// dir finds, holding the passphrase: the identity's derived key, every
// key its key vault gives, and every earlier subkey secret (of before)
// that appears in any file's raw bytes or any badger version.
func encCandidates(t *testing.T, dir string, seed byte, before []vault.Key, disk encDisk) []*recipient.PrivateKey {
	t.Helper()
	secrets := encSecrets(seed)
	id := secrets.Key.ID()
	d, err := recipient.Derive(secrets.Key)
	if err != nil {
		t.Fatal(err)
	}
	out := []*recipient.PrivateKey{d}
	add := func(k vault.Key) {
		p, err := recipient.NewSubkey(id, k[:])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	for _, k := range vaultKeysAt(t, keyVaultPath(dir), seed) {
		add(k)
	}
	for _, k := range before {
		if disk.has(k[:]) {
			add(k)
		}
	}
	return out
}

// encDisk is everything a copy of a data directory holds, read once:
// every file's raw bytes and every version badger holds of every key.
type encDisk [][]byte

func readEncDisk(t *testing.T, dir string, seed byte) encDisk {
	t.Helper()
	var out encDisk
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(p)
		out = append(out, raw)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	copyDir := t.TempDir()
	if err := os.CopyFS(copyDir, os.DirFS(filepath.Join(dir, "store"))); err != nil {
		t.Fatal(err)
	}
	err = store.ScanAllVersions(copyDir, encSecrets(seed).StoreKey[:], func(k, val []byte, _ bool) error {
		out = append(out, bytes.Clone(k), bytes.Clone(val))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (d encDisk) has(b []byte) bool {
	for _, x := range d {
		if bytes.Contains(x, b) {
			return true
		}
	}
	return false
}

// TestEncryptionRestart: the key set is rebuilt from the store and the
// key vault when the node starts again, so a subkey in its grace still
// opens what was sealed to it; a key vault moved aside costs the messages
// sealed to the keys it held, and the node certifies a new subkey at once
// instead of failing to start.
func TestEncryptionRestart(t *testing.T) {
	c := newEncClock(time.Now().Truncate(time.Millisecond))
	dirB := t.TempDir()
	a, b := openEncNode(t, t.TempDir(), 0xe5, c, true), openEncNode(t, dirB, 0xe6, c, true)
	defer a.close()
	pairBurnNodes(t, a, b)
	if _, err := a.dm.Send(b.id, "before the restart"); err != nil {
		t.Fatal(err)
	}
	deliver(t, a, b)
	if _, err := b.RotateKey(keys.PurposeEncryption); err != nil {
		t.Fatal(err)
	}
	b.close()

	b = openEncNode(t, dirB, 0xe6, c, true)
	if texts, bad := listTexts(t, b, a.id); strings.Join(texts, ",") != "before the restart" || bad != 0 {
		t.Fatalf("B after a restart reads %q (%d unreadable); want the message sealed to its subkey in grace", texts, bad)
	}
	if got := encStates(t, b); got != "current,grace" {
		t.Fatalf("B's encryption subkeys after a restart: %s; want current,grace", got)
	}
	b.close()

	if err := os.Rename(keyVaultPath(dirB), keyVaultPath(dirB)+".aside"); err != nil {
		t.Fatal(err)
	}
	b = openEncNode(t, dirB, 0xe6, c, true)
	defer b.close()
	if texts, bad := listTexts(t, b, a.id); len(texts) != 0 || bad != 1 {
		t.Fatalf("B without its key vault reads %q and lists %d unreadable; want none, and 1", texts, bad)
	}
	if got := encStates(t, b); got != "current,grace,grace" {
		t.Fatalf("B's encryption subkeys with a new key vault: %s; want a new current one", got)
	}
	deliver(t, b, a)
	if _, err := a.dm.Send(b.id, "after the new vault"); err != nil {
		t.Fatal(err)
	}
	deliver(t, a, b)
	if texts, _ := listTexts(t, b, a.id); strings.Join(texts, ",") != "after the new vault" {
		t.Fatalf("B with a new key vault reads %q; want the message sealed to its new subkey", texts)
	}
}

// TestRotationThreeNodes (issue 18's rotation test): three nodes in a
// ring, each rotating both of its subkeys three times, with real sessions
// between rounds. Each node writes to the next right after rotating, so
// some messages are sealed to a key its recipient has just rotated out;
// every one arrives readable, and each node ends with one current
// encryption subkey and three in grace.
func TestRotationThreeNodes(t *testing.T) {
	var ns []*hnode
	for i := range 3 {
		kv, err := vault.Open(filepath.Join(t.TempDir(), "keys.vault"), bytes.Repeat([]byte{byte(i + 1)}, 32), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { kv.Close() })
		ns = append(ns, newHNode(t, byte(0xd1+i), func(c *Config) { c.KeyVault = kv }))
	}
	for i := range ns {
		pairUp(t, ns[i], ns[(i+1)%3])
	}
	ring := func() {
		for i := range ns {
			mustSync(t, ns[i], ns[(i+1)%3])
		}
	}
	ring()
	var want []string
	for round := range 3 {
		for i, n := range ns {
			for _, p := range []string{keys.PurposeEncryption, keys.PurposeSigning} {
				if _, err := n.RotateKey(p); err != nil {
					t.Fatal(err)
				}
			}
			// Sent before the ring brings the new certificate: sealed to
			// the key just rotated out.
			text := fmt.Sprintf("round %d from %d", round, i)
			if _, err := n.dm.Send(ns[(i+1)%3].ID(), text); err != nil {
				t.Fatal(err)
			}
			want = append(want, text)
		}
		ring()
	}
	for i, n := range ns {
		from := ns[(i+2)%3]
		ms := messages(t, n, from.ID())
		for _, text := range want {
			if strings.HasSuffix(text, fmt.Sprintf("from %d", (i+2)%3)) && !hasMessage(ms, "in", text) {
				t.Errorf("node %d does not read %q from node %d", i, text, (i+2)%3)
			}
		}
		if got := encStates(t, &burnNode{Node: n.Node}); got != "current,grace,grace,grace" {
			t.Errorf("node %d's encryption subkeys: %s; want one current and three in grace", i, got)
		}
	}
}
