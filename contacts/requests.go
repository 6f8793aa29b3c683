package contacts

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/store"
	"github.com/ghostwire/ghostwire/wire"
)

// Contact requests (docs/trust.md §2). A peer that is not a contact and
// completes a handshake with us has proved its identity and shown it knows
// our address: that much, and nothing it sends, is kept as a request until
// the user accepts or ignores it. Identities cost nothing to make, so what
// a flood of them can cost is bounded twice: a cap on pending requests
// (what the disk and the user's list hold) and a token bucket on new ones
// (how fast the list can fill, so a flood cannot crowd out a request that
// arrives after it for long).

// RequestLimits bound contact requests.
type RequestLimits struct {
	// Max is the most requests kept pending. Past it new ones are dropped
	// (the sender sees what it would see anyway: no session) until the user
	// accepts or ignores some.
	Max int
	// Burst new requests are kept at once; after that one more every Every.
	Burst int
	Every time.Duration
}

// DefaultRequestLimits are the node's limits (docs/limits.md): 100 pending,
// 10 at once, then one every 6 minutes (10 an hour).
var DefaultRequestLimits = RequestLimits{Max: 100, Burst: 10, Every: 6 * time.Minute}

// requestTouch is how often a pending request's last-seen time is
// rewritten: a requester redials with backoff, and each redial should not
// cost a write.
const requestTouch = time.Minute

// Errors of Note: the request was not kept. The node refuses the session
// whatever Note returns; these say why nothing was stored.
var (
	// ErrIgnored: the user ignored this peer's request before.
	ErrIgnored = errors.New("contacts: a peer whose request was ignored")
	// ErrRequestsFull: as many requests are pending as RequestLimits.Max.
	ErrRequestsFull = errors.New("contacts: too many pending contact requests; a new one was dropped")
	// ErrRequestRate: new requests came faster than RequestLimits allow.
	ErrRequestRate = errors.New("contacts: contact requests are arriving too fast; a new one was dropped")
)

// requestRecord is a pending request as stored.
type requestRecord struct {
	First int64 `cbor:"1,keyasint"` // Unix seconds of its first handshake
	Last  int64 `cbor:"2,keyasint"` // and of its latest (to requestTouch)
}

// Request is a pending contact request.
type Request struct {
	ID identity.ID
	// SafetyNumber is the number the user compares with the requester out
	// of band before accepting, as for verifying (identity.SafetyNumber).
	SafetyNumber string
	First, Last  time.Time
}

// RequestStats is what status shows of requests.
type RequestStats struct {
	Pending int
	// Dropped counts requests not kept since the node started, for the cap
	// or the rate.
	Dropped uint64
	Limits  RequestLimits
}

// requests is the in-memory half of the limits: the token bucket and the
// drop count. Restarting refills the bucket; the cap is on disk.
type requests struct {
	mu      sync.Mutex
	limit   RequestLimits
	tokens  float64
	filled  time.Time // when tokens was last brought up to date
	dropped uint64
	started bool
}

// take spends a token if one is there.
func (r *requests) take(now time.Time) bool {
	if !r.started {
		r.tokens, r.filled, r.started = float64(r.limit.Burst), now, true
	}
	if d := now.Sub(r.filled); d > 0 && r.limit.Every > 0 {
		r.tokens = min(float64(r.limit.Burst), r.tokens+float64(d)/float64(r.limit.Every))
		r.filled = now
	}
	if r.tokens < 1 {
		return false
	}
	r.tokens--
	return true
}

// SetRequestLimits replaces DefaultRequestLimits (tests use small ones). Call
// it before the node runs.
func (b *Book) SetRequestLimits(l RequestLimits) {
	b.req.mu.Lock()
	b.req.limit, b.req.started = l, false
	b.req.mu.Unlock()
}

// Note records that peer, not a contact, completed a handshake: a new
// request if the limits allow, or the pending one seen again. It returns
// nil if the request is (still) pending, else why nothing was kept.
func (b *Book) Note(peer identity.ID) error {
	if b.Has(peer) {
		return nil
	}
	now := b.now()
	b.req.mu.Lock() // one decision at a time: the count and the bucket go together
	defer b.req.mu.Unlock()
	var (
		pending int
		old     *requestRecord
	)
	err := b.db.View(func(tx *store.Tx) error {
		if _, err := tx.Get(bucketIgnored, peer.Bytes()); err == nil {
			return ErrIgnored
		}
		if raw, err := tx.Get(bucketRequest, peer.Bytes()); err == nil {
			old = new(requestRecord)
			return wire.Unmarshal(raw, old)
		}
		return tx.ScanKeys(bucketRequest, nil, func([]byte) error { pending++; return nil })
	})
	if err != nil {
		return err
	}
	rec := requestRecord{First: now.Unix(), Last: now.Unix()}
	switch {
	case old != nil && now.Unix()-old.Last < int64(requestTouch/time.Second):
		return nil
	case old != nil:
		rec.First = old.First
	case pending >= b.req.limit.Max:
		b.req.dropped++
		return ErrRequestsFull
	case !b.req.take(now):
		b.req.dropped++
		return ErrRequestRate
	}
	v, err := wire.Marshal(rec)
	if err != nil {
		return err
	}
	return b.db.Update(func(tx *store.Tx) error { return tx.Put(bucketRequest, peer.Bytes(), v) })
}

// Requests lists the pending requests, ordered by identity.
func (b *Book) Requests() ([]Request, error) {
	var out []Request
	err := b.db.View(func(tx *store.Tx) error {
		return tx.Scan(bucketRequest, nil, func(k, v []byte) error {
			id, err := identity.NewID(k)
			if err != nil {
				return err
			}
			var rec requestRecord
			if err := wire.Unmarshal(v, &rec); err != nil {
				return err
			}
			out = append(out, Request{ID: id, SafetyNumber: identity.SafetyNumber(b.me, id),
				First: time.Unix(rec.First, 0).UTC(), Last: time.Unix(rec.Last, 0).UTC()})
			return nil
		})
	})
	return out, err
}

// RequestStats reports the pending count, the drops and the limits.
func (b *Book) RequestStats() RequestStats {
	var n int
	b.db.View(func(tx *store.Tx) error {
		return tx.ScanKeys(bucketRequest, nil, func([]byte) error { n++; return nil })
	})
	b.req.mu.Lock()
	defer b.req.mu.Unlock()
	return RequestStats{Pending: n, Dropped: b.req.dropped, Limits: b.req.limit}
}

func (b *Book) hasRequest(id identity.ID) bool {
	return b.db.View(func(tx *store.Tx) error {
		_, err := tx.Get(bucketRequest, id.Bytes())
		return err
	}) == nil
}

func noRequest(id identity.ID) error {
	return fault.New(fault.NotFound, "list the pending requests with 'ghostwire peer requests'", "no pending contact request from %s", id)
}

// Accept makes a pending request's peer an (unverified) contact named
// name. The node then treats it as any peer it added.
func (b *Book) Accept(id identity.ID, name string) error {
	if !b.hasRequest(id) {
		return noRequest(id)
	}
	return b.Add(id, name) // which deletes the request
}

// Ignore drops a pending request and remembers the peer, so that its
// redials make no new request. Adding the peer later undoes it.
func (b *Book) Ignore(id identity.ID) error {
	if !b.hasRequest(id) {
		return noRequest(id)
	}
	return b.db.Update(func(tx *store.Tx) error {
		if err := tx.Delete(bucketRequest, id.Bytes()); err != nil {
			return err
		}
		return tx.Put(bucketIgnored, id.Bytes(), nil)
	})
}

func (b *Book) ignored(id identity.ID) bool {
	return b.db.View(func(tx *store.Tx) error {
		_, err := tx.Get(bucketIgnored, id.Bytes())
		return err
	}) == nil
}

// String describes the limits for logs and status.
func (l RequestLimits) String() string {
	return fmt.Sprintf("at most %d pending, %d at once, then one every %v", l.Max, l.Burst, l.Every)
}
