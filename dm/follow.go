package dm

import (
	"context"
	"sync"

	"github.com/ghostwire/ghostwire/identity"
)

// maxFeedLog bounds the changes a feed keeps for followers that have not
// caught up; one further behind gets the whole list again.
const maxFeedLog = 4096

// feeds are the message change feeds, one per filter (every peer, or one
// peer), shared by every --follow stream with that filter: a change is
// listed once per feed, not once per follower, so 500 followers cost one
// listing and 500 small sends per change instead of 500 listings.
type feeds struct {
	mu sync.Mutex
	m  map[string]*msgFeed // by filter: "" or the peer's address
}

// msgFeed is one filter's feed. mu guards every field; a listing runs
// under it, so followers that wake together list once.
type msgFeed struct {
	mu     sync.Mutex
	users  int               // followers using it; the feed goes when the last leaves
	seen   <-chan struct{}   // the node's change channel current when it last listed
	opened *Cache            // bodies opened already, so a change decrypts only what is new
	state  map[string]string // message ID → state, as last listed
	list   []*Message        // the last listing, never changed once made (followers share it)
	log    []*Message        // the changes since, oldest first; log[i] has sequence first+i
	first  uint64            // sequence of log[0]
}

func (f *feeds) join(key string) *msgFeed {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]*msgFeed{}
	}
	fd := f.m[key]
	if fd == nil {
		fd = &msgFeed{opened: NewCache(), state: map[string]string{}}
		f.m[key] = fd
	}
	fd.users++
	return fd
}

func (f *feeds) leave(key string, fd *msgFeed) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fd.users--; fd.users == 0 {
		delete(f.m, key)
	}
}

// catchUp lists the messages again if the node changed since the feed last
// did, logging each message that is new or changed state. It returns the
// sequence after the last change.
func (fd *msgFeed) catchUp(s *Service, only *identity.ID) (uint64, error) {
	ch := s.h.Changes()
	if fd.seen != ch || fd.list == nil {
		msgs, err := s.List(only, fd.opened)
		if err != nil {
			return 0, err
		}
		fd.seen = ch
		for _, m := range msgs {
			if fd.state[m.ID] == m.State {
				continue
			}
			fd.state[m.ID] = m.State
			fd.log = append(fd.log, m)
		}
		if over := len(fd.log) - maxFeedLog; over > 0 {
			fd.log = append(fd.log[:0:0], fd.log[over:]...)
			fd.first += uint64(over)
		}
		if len(fd.state) > len(msgs) { // messages deleted (burnt) leave the state too
			live := make(map[string]bool, len(msgs))
			for _, m := range msgs {
				live[m.ID] = true
			}
			for id := range fd.state {
				if !live[id] {
					delete(fd.state, id)
				}
			}
		}
		fd.list = msgs
	}
	return fd.first + uint64(len(fd.log)), nil
}

// Follow calls fn with every message (only those with one peer if only is
// set), then with each one that arrives or changes state, until ctx ends
// (it then returns nil) or fn or a listing fails. Every follow with the
// same filter shares one feed (feeds), so a change costs one listing
// whatever the number of followers.
func (s *Service) Follow(ctx context.Context, only *identity.ID, fn func(*Message) error) error {
	key := ""
	if only != nil {
		key = only.String()
	}
	fd := s.feeds.join(key)
	defer s.feeds.leave(key, fd)

	fd.mu.Lock()
	ch := s.h.Changes()
	pos, err := fd.catchUp(s, only)
	start := fd.list
	fd.mu.Unlock()
	if err != nil {
		return err
	}
	for _, m := range start {
		if err := fn(m); err != nil {
			return err
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ch:
		}
		fd.mu.Lock()
		ch = s.h.Changes()
		end, err := fd.catchUp(s, only)
		var send []*Message
		switch {
		case err != nil:
		case pos < fd.first: // fell too far behind: everything again
			send = fd.list
		default:
			send = fd.log[pos-fd.first:]
		}
		fd.mu.Unlock()
		if err != nil {
			return err
		}
		pos = end
		for _, m := range send {
			if err := fn(m); err != nil {
				return err
			}
		}
	}
}
