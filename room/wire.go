package room

// The CBOR forms of the room items' payloads, docs/protocol.md §13.2. Every
// one is decoded with wire.UnmarshalCanonical, so each has one encoding and
// unknown keys are refused. Optional keys are omitted when empty.

// wireState is a room state (kind 32): the room's genesis at epoch 0, and
// every membership change with its rekey after it (§13.2).
type wireState struct {
	Nonce   []byte   `cbor:"1,keyasint"`
	Name    string   `cbor:"2,keyasint"`
	Epoch   uint64   `cbor:"3,keyasint"`
	Members [][]byte `cbor:"4,keyasint"`
	Removed [][]byte `cbor:"5,keyasint,omitempty"`
	Commit  []byte   `cbor:"6,keyasint"`
	Keys    []byte   `cbor:"7,keyasint"`
	Parts   uint64   `cbor:"8,keyasint"`
	// TTL is the room's timer in seconds (§13.6): the longest any message
	// written under this epoch lives. Absent when the room has none.
	TTL uint64 `cbor:"9,keyasint,omitempty"`
}

// wireKeys is one further part of an epoch's sealed key (kind 33), for
// rooms whose key wraps do not all fit in the state item (§13.4).
type wireKeys struct {
	Epoch  uint64 `cbor:"1,keyasint"`
	Commit []byte `cbor:"2,keyasint"`
	Part   uint64 `cbor:"3,keyasint"`
	Keys   []byte `cbor:"4,keyasint"`
}

// wireInvite is an invitation (kind 34), sent to the invitee in the pair's
// invite scope and to the members in the room scope.
type wireInvite struct {
	Nonce   []byte   `cbor:"1,keyasint"`
	Name    string   `cbor:"2,keyasint"`
	Epoch   uint64   `cbor:"3,keyasint"`
	Invitee []byte   `cbor:"4,keyasint"`
	Members [][]byte `cbor:"5,keyasint"`
}

// wireMark is a member's join (kind 35) or leave (kind 36).
type wireMark struct {
	Epoch uint64 `cbor:"1,keyasint"`
}

// wireMessage is a room message (kind 37). Its timer sits beside the
// ciphertext, not inside it (§13.6): a member that holds the message but
// not its epoch's key (it joined later) must still burn it on time, and the
// node must know before storing it that it is to be kept erasably.
type wireMessage struct {
	Epoch      uint64 `cbor:"1,keyasint"`
	Nonce      []byte `cbor:"2,keyasint"`
	Ciphertext []byte `cbor:"3,keyasint"`
	// TTL is seconds from the message's creation to its deadline; absent
	// for a message that does not burn.
	TTL uint64 `cbor:"4,keyasint,omitempty"`
	// AfterRead burns each member's copy once that member has read it.
	AfterRead bool `cbor:"5,keyasint,omitempty"`
}

// wireBody is a room message's plaintext.
type wireBody struct {
	Text string `cbor:"1,keyasint"`
	// TTL is key 2, which an earlier version reserved for the timer; the
	// timer lives in the signed payload instead (§13.6), so a body that
	// carries key 2 is refused.
	TTL uint64 `cbor:"2,keyasint,omitempty"`
}

// wireRecord is the local record of a room this node knows (bucketRooms),
// never sent.
type wireRecord struct {
	Owner  []byte `cbor:"1,keyasint"`
	Nonce  []byte `cbor:"2,keyasint"`
	Name   string `cbor:"3,keyasint"`
	Status string `cbor:"4,keyasint"`
	Epoch  uint64 `cbor:"5,keyasint"` // the invite's epoch, for a pending room
	// Members is the invite's member list: who to sync with before the
	// room's states have arrived.
	Members [][]byte `cbor:"6,keyasint,omitempty"`
}
