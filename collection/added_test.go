package collection

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/ioc"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/wire"
)

// indexHost is the least of a node the added index needs: a store and a
// clock. The collection's own writes (Publish, import) are not used here.
type indexHost struct {
	db  *store.DB
	key *identity.PrivateKey
}

func (h indexHost) ID() identity.ID                                   { return h.key.ID() }
func (h indexHost) Key() *identity.PrivateKey                         { return h.key }
func (h indexHost) RecipientKey() *recipient.PrivateKey               { return nil }
func (h indexHost) Store() *store.DB                                  { return h.db }
func (h indexHost) Now() time.Time                                    { return time.Now() }
func (h indexHost) Rand() io.Reader                                   { return nil }
func (h indexHost) Log() *slog.Logger                                 { return slog.New(slog.DiscardHandler) }
func (h indexHost) IsPeer(identity.ID) bool                           { return false }
func (h indexHost) PeerKey(identity.ID) (*recipient.PublicKey, error) { return nil, store.ErrNotFound }
func (h indexHost) Signer() (item.Signer, error)                      { return h.key, nil }
func (h indexHost) ResolvePeer(string) (identity.ID, error)           { return identity.ID{}, store.ErrNotFound }
func (h indexHost) Admission() Admission                              { return nil }
func (h indexHost) SpoolDir() string                                  { return "" }
func (h indexHost) Publish([]store.Entry, []item.Expiry) (int, error) {
	return 0, store.ErrNotFound
}
func (h indexHost) PublishAtomic([]store.Entry, []item.Expiry, func(*store.Tx) error) (int, error) {
	return 0, store.ErrNotFound
}

// TestFeedFromTheIndexKeepsLastWriterWins: the feed, which reads records
// from the added index, shows what reading every item would: a newer
// version instead of an older one; the older one again once only the
// newer is retracted (a peer may get that retraction first); nothing of
// a statement whose retraction arrived before it; and a statement whose
// "retraction" someone else signed, as if there were none.
func TestFeedFromTheIndexKeepsLastWriterWins(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "store"), bytes.Repeat([]byte{9}, store.KeySize), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	author, err := identity.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	other, err := identity.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	if err != nil {
		t.Fatal(err)
	}
	s := New(indexHost{db: db, key: author})
	s.MarkFresh()
	sp := item.CollectionSpace(Default)
	base := time.UnixMilli(1_800_000_000_000)
	statement := func(value, desc string, at time.Duration) *item.Item {
		r := ioc.Record{Type: ioc.TypeDomain, Value: value, TLP: ioc.TLPGreen, Confidence: ioc.NoConfidence, Description: desc}
		it, err := ioc.NewItem(author, sp, base.Add(at), &r)
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	tombstone := func(key *identity.PrivateKey, target *item.Item, at time.Duration) *item.Item {
		// Written out rather than by item.NewTombstone, which refuses to
		// sign one for another author's item: a forger would not ask it.
		id := target.ID()
		payload, err := wire.Marshal(&struct {
			Target []byte `cbor:"1,keyasint"`
		}{id[:]})
		if err != nil {
			t.Fatal(err)
		}
		it, err := item.New(key, item.KindTombstone, target.Space(), base.Add(at), payload)
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	put := func(its ...*item.Item) {
		t.Helper()
		for _, it := range its {
			e := store.Entry{Item: it, Scopes: []item.Scope{item.ScopeOf(sp, item.ClassTrusted)}}
			if f := s.Indexer(it); f != nil {
				e.With = f
			}
			if _, err := db.PutItems([]store.Entry{e}); err != nil {
				t.Fatal(err)
			}
		}
	}
	feed := func() string {
		t.Helper()
		p, err := s.Feed(FeedQuery{Collection: Default, TLPs: []ioc.TLP{ioc.TLPGreen}})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range p.Objects {
			var x struct {
				Pattern, Description string
				Revoked              bool
			}
			if err := json.Unmarshal(o.Object, &x); err != nil {
				t.Fatal(err)
			}
			line := strings.TrimSuffix(strings.TrimPrefix(x.Pattern, "[domain-name:value = '"), "']") + " " + x.Description
			if x.Revoked {
				line += " revoked"
			}
			out = append(out, line)
		}
		return strings.Join(out, "; ")
	}

	v1, v2 := statement("a.example", "first", 0), statement("a.example", "second", time.Minute)
	put(v1, v2)
	if got, want := feed(), "a.example second"; got != want {
		t.Fatalf("two versions: feed %q, want %q", got, want)
	}
	put(tombstone(author, v2, 2*time.Minute))
	if got, want := feed(), "a.example first"; got != want {
		t.Fatalf("the newer version retracted: feed %q, want %q", got, want)
	}

	early := statement("b.example", "late", 3*time.Minute)
	put(tombstone(author, early, 4*time.Minute), early)
	forged := statement("c.example", "kept", 5*time.Minute)
	put(tombstone(other, forged, 6*time.Minute), forged)
	if got, want := feed(), "a.example first; c.example kept"; got != want {
		t.Fatalf("feed %q, want %q", got, want)
	}
	// Reading every item gives the same.
	var listed []string
	if err := s.Each(Default, Cursor{}, false, func(l *Listed) error {
		listed = append(listed, l.Entry.Record.Value+" "+l.Entry.Record.Description)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(listed, "; "), "a.example first; c.example kept"; got != want {
		t.Fatalf("Each: %q, want %q", got, want)
	}
}
