// Package quota bounds what one author, and what one peer, can make this
// node store: so many items and so many bytes each, larger for the
// contacts the user verified (docs/limits.md, "Quotas"). Identities cost
// nothing to make, so the per-author quota alone bounds nothing; it keeps
// one prolific source from crowding out the rest. The per-peer quota is the
// bound on the disk: items arrive only from peers the user added, so what
// unverified sources can store is at most the peer quota times the number
// of unverified peers.
//
// The counts are kept in the store and only grow: an item counts once,
// when it is first stored from a peer, and still counts if it is later
// deleted or expires (a flood of items and their tombstones would otherwise
// cost the quota nothing). Our own items, and items stored by the user's
// own actions, are never counted.
package quota

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/wire"
)

// Limits is a quota: items and bytes (an item's canonical encoding).
type Limits struct {
	Items int64
	Bytes int64
}

// Config sets the quotas. Its zero fields take Default's.
type Config struct {
	// Author is what items by one author may hold here; Peer, what items
	// received from one peer may.
	Author, Peer Limits
	// VerifiedFactor multiplies both for a verified author or peer: a
	// verified contact's key can still be stolen, so it is not exempt, it
	// only has room for what an honest busy source sends.
	VerifiedFactor int64
}

// Default is the node's quotas (docs/limits.md).
var Default = Config{
	Author:         Limits{Items: 50_000, Bytes: 128 << 20},
	Peer:           Limits{Items: 200_000, Bytes: 512 << 20},
	VerifiedFactor: 10,
}

func (c Config) withDefaults() Config {
	if c.Author.Items <= 0 {
		c.Author.Items = Default.Author.Items
	}
	if c.Author.Bytes <= 0 {
		c.Author.Bytes = Default.Author.Bytes
	}
	if c.Peer.Items <= 0 {
		c.Peer.Items = Default.Peer.Items
	}
	if c.Peer.Bytes <= 0 {
		c.Peer.Bytes = Default.Peer.Bytes
	}
	if c.VerifiedFactor <= 0 {
		c.VerifiedFactor = Default.VerifiedFactor
	}
	return c
}

// Who says whose quota: an item's author, or the peer it came from.
type Who uint8

const (
	Author Who = 1
	Peer   Who = 2
)

func (w Who) String() string {
	if w == Author {
		return "author"
	}
	return "peer"
}

// bucket is where each kind of count is stored: identity → usage.
func (w Who) bucket() string {
	if w == Author {
		return "quota-author"
	}
	return "quota-peer"
}

// ErrOver is wrapped by every refusal for a quota; *OverError says whose.
var ErrOver = errors.New("quota: over its quota")

// OverError is a refusal for a quota: whose, and the limit it reached.
type OverError struct {
	Who   Who
	ID    identity.ID
	Limit Limits
}

func (e *OverError) Error() string {
	return fmt.Sprintf("quota: %s %s is at its quota (%d items, %d bytes)", e.Who, e.ID.Short(), e.Limit.Items, e.Limit.Bytes)
}

// Is makes errors.Is(err, ErrOver) true.
func (e *OverError) Is(target error) bool { return target == ErrOver }

// usage is a count as stored.
type usage struct {
	Items int64 `cbor:"1,keyasint"`
	Bytes int64 `cbor:"2,keyasint"`
}

type key struct {
	who Who
	id  identity.ID
}

// maxCached bounds the counts held in memory: a flood from many throwaway
// authors must not grow the cache with them. Past it, counts no batch has
// in flight are dropped (they are in the store).
const maxCached = 4096

// maxHits bounds the quota hits status remembers.
const maxHits = 256

// entry is a cached count: what is stored plus what batches in flight
// have admitted (pending of them, not yet committed or undone).
type entry struct {
	use     usage
	pending int
}

// Hit is an author or peer refused for its quota since the node started.
type Hit struct {
	Who      Who
	ID       identity.ID
	Verified bool
	Use      Limits // its count when last refused
	Limit    Limits
	Refused  uint64
}

// Ledger keeps the counts. Its methods are safe for concurrent use.
type Ledger struct {
	db       *store.DB
	cfg      Config
	verified func(identity.ID) bool
	log      *slog.Logger

	// mu guards the cache, the hits, and every read-modify-write of the
	// stored counts (so two sessions' batches add up, not overwrite).
	mu    sync.Mutex
	cache map[key]*entry
	hits  map[key]*Hit
}

// New returns the ledger over db. verified reports whether the user
// verified an identity (contacts.Book); log (nil: discard) gets one line
// the first time each author or peer reaches its quota.
func New(db *store.DB, cfg Config, verified func(identity.ID) bool, log *slog.Logger) *Ledger {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Ledger{db: db, cfg: cfg.withDefaults(), verified: verified, log: log,
		cache: map[key]*entry{}, hits: map[key]*Hit{}}
}

// Config is the quotas in force.
func (l *Ledger) Config() Config { return l.cfg }

// limitFor is k's quota.
func (l *Ledger) limitFor(k key, verified bool) Limits {
	lim := l.cfg.Peer
	if k.who == Author {
		lim = l.cfg.Author
	}
	if verified {
		lim.Items *= l.cfg.VerifiedFactor
		lim.Bytes *= l.cfg.VerifiedFactor
	}
	return lim
}

// get returns k's cached count, reading the store the first time. l.mu held.
func (l *Ledger) get(k key) (*entry, error) {
	if e := l.cache[k]; e != nil {
		return e, nil
	}
	e := &entry{}
	err := l.db.View(func(tx *store.Tx) error {
		raw, err := tx.Get(k.who.bucket(), k.id.Bytes())
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return wire.Unmarshal(raw, &e.use)
	})
	if err != nil {
		return nil, err
	}
	l.cache[k] = e
	return e, nil
}

// Usage returns what an author's or a peer's items hold here.
func (l *Ledger) Usage(who Who, id identity.ID) (Limits, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, err := l.get(key{who, id})
	if err != nil {
		return Limits{}, err
	}
	return Limits(e.use), nil
}

// Hits lists who was refused for its quota since the node started, ordered
// by kind then identity.
func (l *Ledger) Hits() []Hit {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Hit, 0, len(l.hits))
	for _, h := range l.hits {
		out = append(out, *h)
	}
	slices.SortFunc(out, func(a, b Hit) int {
		if a.Who != b.Who {
			return int(a.Who) - int(b.Who)
		}
		return a.ID.Compare(b.ID)
	})
	return out
}

// Batch is the admissions of one frame of items: Admit each, then Commit
// once the admitted ones are stored (or Undo one the store refused).
// A Batch is not safe for concurrent use.
type Batch struct {
	l     *Ledger
	delta map[key]*usage
	ver   map[identity.ID]bool // verified, asked once per identity per batch
}

// Batch starts a batch.
func (l *Ledger) Batch() *Batch {
	return &Batch{l: l, delta: map[key]*usage{}, ver: map[identity.ID]bool{}}
}

func (b *Batch) verified(id identity.ID) bool {
	v, ok := b.ver[id]
	if !ok {
		v = b.l.verified(id)
		b.ver[id] = v
	}
	return v
}

// Admit counts an item of size bytes by author, received from peer, if
// both have room; otherwise it counts nothing and returns an *OverError.
// An item by me counts against nothing.
func (b *Batch) Admit(me, author, peer identity.ID, size int) error {
	if author == me {
		return nil
	}
	b.l.mu.Lock()
	defer b.l.mu.Unlock()
	es, err := b.checkLocked(author, peer, size)
	if err != nil {
		return err
	}
	keys := [2]key{{Author, author}, {Peer, peer}}
	for i, k := range keys {
		es[i].use.Items++
		es[i].use.Bytes += int64(size)
		d := b.delta[k]
		if d == nil {
			d = &usage{}
			b.delta[k] = d
			es[i].pending++
		}
		d.Items++
		d.Bytes += int64(size)
	}
	return nil
}

// Over is Admit without counting: it returns the *OverError Admit would,
// and counts the refusal, so that the node can refuse an item before it
// checks its signature (most of the cost of receiving one).
func (b *Batch) Over(me, author, peer identity.ID, size int) error {
	if author == me {
		return nil
	}
	b.l.mu.Lock()
	defer b.l.mu.Unlock()
	_, err := b.checkLocked(author, peer, size)
	return err
}

// checkLocked returns the author's and the peer's counts if both have room
// for one more item of size bytes, else the refusal (recorded). l.mu held.
func (b *Batch) checkLocked(author, peer identity.ID, size int) ([2]*entry, error) {
	l := b.l
	keys := [2]key{{Author, author}, {Peer, peer}}
	verified := [2]bool{b.verified(author), b.verified(peer)}
	var es [2]*entry
	for i, k := range keys {
		e, err := l.get(k)
		if err != nil {
			return es, err
		}
		lim := l.limitFor(k, verified[i])
		if e.use.Items+1 > lim.Items || e.use.Bytes+int64(size) > lim.Bytes {
			l.refusedLocked(k, verified[i], e.use, lim)
			return es, &OverError{Who: k.who, ID: k.id, Limit: lim}
		}
		es[i] = e
	}
	return es, nil
}

// Reached reports whether items from peer may be refused for a quota: the
// peer, or some author, has been refused for one since the node started.
// Until then checking each item early would only cost time.
func (l *Ledger) Reached(peer identity.ID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.hits[key{Peer, peer}] != nil {
		return true
	}
	for k := range l.hits {
		if k.who == Author {
			return true
		}
	}
	return false
}

// refusedLocked records a hit for status, logging the first. l.mu held.
func (l *Ledger) refusedLocked(k key, verified bool, use usage, lim Limits) {
	h := l.hits[k]
	if h == nil {
		if len(l.hits) >= maxHits {
			return
		}
		h = &Hit{Who: k.who, ID: k.id}
		l.hits[k] = h
		l.log.Warn("a quota is reached: items over it are refused (status lists it)",
			"who", k.who.String(), "id", k.id, "verified", verified, "items", use.Items, "bytes", use.Bytes,
			"max_items", lim.Items, "max_bytes", lim.Bytes)
	}
	h.Verified, h.Use, h.Limit = verified, Limits(use), lim
	h.Refused++
}

// Undo takes back one admitted item the store did not keep (it held it
// already, or refused it).
func (b *Batch) Undo(me, author, peer identity.ID, size int) {
	if author == me {
		return
	}
	l := b.l
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range [2]key{{Author, author}, {Peer, peer}} {
		if d := b.delta[k]; d != nil && d.Items > 0 {
			d.Items--
			d.Bytes -= int64(size)
			if e := l.cache[k]; e != nil {
				e.use.Items--
				e.use.Bytes -= int64(size)
			}
		}
	}
}

// Commit stores the batch's counts. Until it returns, a crash forgets
// them: at most one frame per session is not counted.
func (b *Batch) Commit() error { return b.finish(true) }

// Cancel takes back every admission of the batch (the frame was not stored).
func (b *Batch) Cancel() { b.finish(false) }

func (b *Batch) finish(commit bool) error {
	l := b.l
	if len(b.delta) == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	if commit {
		err = l.db.Update(func(tx *store.Tx) error {
			for k, d := range b.delta {
				if d.Items == 0 && d.Bytes == 0 {
					continue
				}
				var u usage
				if raw, err := tx.Get(k.who.bucket(), k.id.Bytes()); err == nil {
					if err := wire.Unmarshal(raw, &u); err != nil {
						return err
					}
				}
				u.Items += d.Items
				u.Bytes += d.Bytes
				v, err := wire.Marshal(u)
				if err != nil {
					return err
				}
				if err := tx.Put(k.who.bucket(), k.id.Bytes(), v); err != nil {
					return err
				}
			}
			return nil
		})
	}
	for k, d := range b.delta {
		e := l.cache[k]
		if e == nil {
			continue
		}
		if !commit || err != nil {
			e.use.Items -= d.Items
			e.use.Bytes -= d.Bytes
		}
		e.pending--
	}
	b.delta = nil
	if len(l.cache) > maxCached {
		for k, e := range l.cache {
			if e.pending == 0 {
				delete(l.cache, k)
			}
		}
	}
	return err
}
