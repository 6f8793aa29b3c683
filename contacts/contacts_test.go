package contacts

import (
	"bytes"
	"errors"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/store"
)

// testBook is a book over a fresh store, with a clock the test moves.
func testBook(t *testing.T) (*Book, *time.Time) {
	t.Helper()
	s, err := identity.GenerateSecrets(bytes.NewReader(bytes.Repeat([]byte{1}, 128)))
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "store"), s.StoreKey[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	return New(db, s.Key.ID(), func() time.Time { return now }), &now
}

func testID(t *testing.T, seed byte) identity.ID {
	t.Helper()
	k, err := identity.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{seed}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	return k.ID()
}

func TestStates(t *testing.T) {
	b, _ := testBook(t)
	alice, bob, carol := testID(t, 2), testID(t, 3), testID(t, 4)
	for _, id := range []identity.ID{alice, bob, carol} {
		if err := b.Add(id, ""); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := b.StateOf(alice); st != Unverified || b.Admit(alice) != nil {
		t.Fatalf("a new contact: state %v, Admit %v; want unverified and admitted", st, b.Admit(alice))
	}
	if err := b.SetState(alice, Verified); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(alice, "alice"); err != nil { // renaming keeps the state
		t.Fatal(err)
	}
	if got := b.Verified(); !slices.Equal(got, []identity.ID{alice}) {
		t.Fatalf("Verified = %v; want only alice", got)
	}
	if c, _ := b.Get(alice); c.VerifiedAt.IsZero() || c.State != Verified {
		t.Fatalf("alice after verify and rename: %+v", c)
	}

	if err := b.SetState(bob, Blocked); err != nil {
		t.Fatal(err)
	}
	var re *RefusedError
	if err := b.Admit(bob); !errors.As(err, &re) || re.State != Blocked || re.Peer != bob {
		t.Fatalf("Admit(blocked) = %v; want a RefusedError naming bob and blocked", err)
	}
	if err := b.Revoke(carol); err != nil {
		t.Fatal(err)
	}
	if err := b.Admit(carol); !errors.As(err, &re) || re.State != Revoked {
		t.Fatalf("Admit(revoked) = %v; want a RefusedError naming revoked", err)
	}
	if err := b.SetState(carol, Unverified); err == nil {
		t.Fatal("a revoked contact was unblocked")
	}
	if got := b.Admitted(); !slices.Equal(got, sorted(alice)) {
		t.Fatalf("Admitted = %v; want only alice", got)
	}
	if err := b.SetState(testID(t, 9), Blocked); err == nil {
		t.Fatal("blocking a stranger succeeded")
	}
	// Removing a blocked contact does not make it a requester.
	if err := b.Remove(bob); err != nil {
		t.Fatal(err)
	}
	if err := b.Note(bob); !errors.Is(err, ErrIgnored) {
		t.Fatalf("a removed blocked peer's handshake: %v; want ErrIgnored, no request", err)
	}
	if err := b.Add(bob, ""); err != nil { // adding it again undoes that, unblocked
		t.Fatal(err)
	}
	if st, _ := b.StateOf(bob); st != Unverified || b.Admit(bob) != nil {
		t.Fatalf("bob added again: %v", st)
	}
}

func sorted(ids ...identity.ID) []identity.ID {
	slices.SortFunc(ids, func(a, b identity.ID) int { return a.Compare(b) })
	return ids
}

// TestRequests: a stranger's handshake is kept as a request, which the user
// accepts (it becomes an unverified contact) or ignores (its redials make
// no new request); the cap and the rate bound how many are kept.
func TestRequests(t *testing.T) {
	b, now := testBook(t)
	b.SetRequestLimits(RequestLimits{Max: 3, Burst: 2, Every: time.Minute})
	ids := []identity.ID{testID(t, 10), testID(t, 11), testID(t, 12), testID(t, 13)}

	if err := b.Admit(ids[0]); !errors.Is(err, ErrNotContact) {
		t.Fatalf("Admit(stranger) = %v; want ErrNotContact", err)
	}
	for _, id := range ids[:2] {
		if err := b.Note(id); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Note(ids[0]); err != nil { // seen again: still one request
		t.Fatalf("a pending request seen again: %v", err)
	}
	if err := b.Note(ids[2]); !errors.Is(err, ErrRequestRate) {
		t.Fatalf("a third request within the burst of 2: %v; want ErrRequestRate", err)
	}
	*now = now.Add(time.Minute) // one token back
	if err := b.Note(ids[2]); err != nil {
		t.Fatal(err)
	}
	*now = now.Add(time.Hour)
	if err := b.Note(ids[3]); !errors.Is(err, ErrRequestsFull) {
		t.Fatalf("a fourth request with the cap at 3: %v; want ErrRequestsFull", err)
	}
	st := b.RequestStats()
	if st.Pending != 3 || st.Dropped != 2 {
		t.Fatalf("stats %+v; want 3 pending, 2 dropped", st)
	}
	rs, err := b.Requests()
	if err != nil || len(rs) != 3 {
		t.Fatalf("Requests = %v, %v; want 3", rs, err)
	}
	for _, r := range rs {
		if r.SafetyNumber != identity.SafetyNumber(b.me, r.ID) {
			t.Fatalf("request %s shows safety number %q", r.ID.Short(), r.SafetyNumber)
		}
	}

	if err := b.Accept(ids[0], "dana"); err != nil {
		t.Fatal(err)
	}
	if st, ok := b.StateOf(ids[0]); !ok || st != Unverified || b.Admit(ids[0]) != nil {
		t.Fatalf("an accepted request: state %v (contact %v); want an admitted unverified contact", st, ok)
	}
	if err := b.Ignore(ids[1]); err != nil {
		t.Fatal(err)
	}
	if err := b.Note(ids[1]); !errors.Is(err, ErrIgnored) {
		t.Fatalf("an ignored peer's redial: %v; want ErrIgnored", err)
	}
	if err := b.Admit(ids[1]); !errors.Is(err, ErrIgnored) {
		t.Fatalf("Admit(ignored) = %v; want ErrIgnored", err)
	}
	if err := b.Accept(ids[1], ""); err == nil {
		t.Fatal("accepted an ignored request")
	}
	if err := b.Ignore(ids[3]); err == nil {
		t.Fatal("ignored a request that was never kept")
	}
	if st := b.RequestStats(); st.Pending != 1 {
		t.Fatalf("after accept and ignore: %d pending; want 1", st.Pending)
	}
	if err := b.Note(ids[3]); err != nil { // room again
		t.Fatal(err)
	}
}

// TestPairedAndLAN: a pairing and a LAN address are kept with the contact,
// survive a rename, and need the contact to exist.
func TestPairedAndLAN(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "store"), bytes.Repeat([]byte{7}, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Unix(1_800_000_000, 0).UTC()
	b := New(db, testID(t, 1), func() time.Time { return now })
	bob := testID(t, 2)
	if err := b.MarkPaired(bob); fault.KindOf(err) != fault.UnknownPeer {
		t.Fatalf("MarkPaired of a stranger: %v, want unknown_peer", err)
	}
	if err := b.Add(bob, "bob"); err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort("10.77.0.2:7700")
	if err := b.MarkPaired(bob); err != nil {
		t.Fatal(err)
	}
	if err := b.SetLAN(bob, addr); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(bob, "robert"); err != nil { // a rename keeps both
		t.Fatal(err)
	}
	c, err := b.Get(bob)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "robert" || !c.Paired.Equal(now) || c.LAN != addr {
		t.Fatalf("contact %+v; want robert, paired at %v, at %v", c, now, addr)
	}
	if err := b.SetLAN(bob, netip.AddrPort{}); err != nil {
		t.Fatal(err)
	}
	if c, _ := b.Get(bob); c.LAN.IsValid() {
		t.Fatalf("SetLAN with no address kept %v", c.LAN)
	}
}
