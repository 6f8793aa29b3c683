package syncproto

// Session messages (docs/protocol.md §10.2): their CBOR form and how a
// round's messages are packed into frames.

import (
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recon"
)

// sessionMsg is a session frame's payload, §10.2.
type sessionMsg struct {
	Type     uint         `cbor:"1,keyasint"`
	Scopes   [][]byte     `cbor:"2,keyasint,omitempty"`
	Recon    []reconEntry `cbor:"3,keyasint,omitempty"`
	End      bool         `cbor:"4,keyasint,omitempty"`
	Scope    uint         `cbor:"5,keyasint,omitempty"`
	Items    [][]byte     `cbor:"6,keyasint,omitempty"`
	Refused  []uint       `cbor:"8,keyasint,omitempty"`
	Done     bool         `cbor:"9,keyasint,omitempty"`  // on a round: also msgDone
	More     bool         `cbor:"10,keyasint,omitempty"` // on a round: scopes were held back, answer with a round
	Acked    uint64       `cbor:"11,keyasint,omitempty"` // ack: items frames received and stored so far
	Rejected [][]byte     `cbor:"12,keyasint,omitempty"` // ack: IDs of items in the frames it acknowledges that were not stored
}

type reconEntry struct {
	_     struct{} `cbor:",toarray"`
	Scope uint
	Msg   []byte
}

// batch is one scope's messages of one round. They travel in the same
// round, since the scope's state machine reads them as one.
type batch []reconEntry

// encodeBatch encodes scope i's messages of one round.
func encodeBatch(i uint, msgs []recon.Message) batch {
	b := make(batch, 0, len(msgs))
	for _, rm := range msgs {
		b = append(b, reconEntry{Scope: i, Msg: rm.Encode()})
	}
	return b
}

// firstFrameSize bounds a round's first frame before its recon entries.
func firstFrameSize(first sessionMsg) int {
	return sessionOverhead + (len(item.Scope{})+2)*len(first.Scopes) + 3*len(first.Refused)
}
