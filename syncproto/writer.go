package syncproto

// The session's writer (docs/protocol.md §10.3 step 5): Run's goroutine
// never writes; it queues output for the writer goroutine it owns, which
// sends acknowledgements first, then rounds, dones and pushes in order.

import (
	"github.com/ghostwire/ghostwire/wire"
)

// writeLoop writes Run's output until Run stops it: an acknowledgement of
// everything stored so far whenever one is owed, else the next job; a push
// goes one frame at a time, so acknowledgements are never stuck behind it.
func (s *Session) writeLoop() error {
	var ackSent uint64
	liveOK := s.liveOK // nil once closed
	for {
		select {
		case <-liveOK:
			liveOK = nil
		default:
		}
		s.qmu.Lock()
		owed := s.ackOwed
		upTo, rejected := s.takeRejected()
		var job, live *outJob
		if len(s.queue) > 0 {
			job = s.queue[0]
		}
		if len(s.live) > 0 && liveOK == nil {
			live = s.live[0]
		}
		s.qmu.Unlock()
		var err error
		switch {
		case owed > ackSent:
			ack := sessionMsg{Type: msgAck, Acked: owed}
			if rejected != nil {
				ack.Acked, ack.Rejected = upTo, rejected
			}
			err = s.write(ack)
			ackSent = ack.Acked
		case job != nil && job.frames != nil:
			for _, m := range job.frames {
				if err = s.write(m); err != nil {
					break
				}
			}
			if err == nil && job.done {
				s.mu.Lock()
				s.done.sent = true
				s.mu.Unlock()
				s.checkSynced()
			}
			s.pop(&s.queue)
		case job != nil:
			err = s.pushFrame(job, &s.queue)
		case live != nil:
			err = s.pushFrame(live, &s.live)
		default:
			select {
			case <-s.wake:
			case <-liveOK:
			case <-s.quit:
				return nil
			}
		}
		if err != nil {
			return err
		}
	}
}

// pop drops the writer's finished job from the head of q.
func (s *Session) pop(q *[]*outJob) {
	s.qmu.Lock()
	(*q)[0] = nil
	*q = (*q)[1:]
	s.qmu.Unlock()
}

// enqueue hands a job to the writer.
func (s *Session) enqueue(j *outJob) {
	s.qmu.Lock()
	s.queue = append(s.queue, j)
	s.qmu.Unlock()
	s.poke()
}

func (s *Session) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Session) write(m sessionMsg) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.writeLocked(m)
}

// writeLocked writes one frame; the caller holds s.wmu.
func (s *Session) writeLocked(m sessionMsg) error {
	b, err := wire.Marshal(m)
	if err != nil {
		return err
	}
	if err := s.c.WriteFrame(b); err != nil {
		return err
	}
	s.mu.Lock()
	s.stats.BytesSent += len(b) + frameBytes
	s.stats.FramesSent++
	s.mu.Unlock()
	return nil
}
