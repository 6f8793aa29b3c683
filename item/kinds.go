package item

import "strconv"

// Kind says what an item's payload is. Every assigned kind is in the table
// below, which is docs/protocol.md §5.6 (a test keeps the two identical);
// zero is invalid. The envelope accepts any other kind; which kinds a scope
// admits is the business of the package that owns the scope.
type Kind uint32

// The assigned kinds, docs/protocol.md §5.6. Payload rules belong to the
// package that reads the kind; the number belongs here, so no two packages
// can claim one.
const (
	KindTombstone    Kind = 1 // a deletion record, §5.7 (this package)
	KindRecipientKey Kind = 2 // a recipient-key certificate, §9.1 (recipient)
	KindMessage      Kind = 3 // a direct message, sealed, §5.6 (node)
	KindReceipt      Kind = 4 // a read receipt, §5.6 (node)
	// KindBurnMessage is a direct message that burns: after it is read, or
	// when its timer runs out, §5.11 (dm). Its timer is in the signed
	// envelope, outside the sealed text, so that both sides agree on it
	// and a node can keep the item sealed at rest without opening it.
	KindBurnMessage Kind = 5
	KindIOC         Kind = 16 // an indicator in the clear, §5.8 (ioc)
	// KindIOCSealed is an indicator sealed to its recipients, §5.8 (ioc).
	// It is a kind of its own so that the sync engine can place an item in
	// its visibility classes from the visible stanza list, without
	// decrypting it.
	KindIOCSealed Kind = 17
	KindSighting  Kind = 18 // an analyst's verdict on an indicator statement, §5.10 (rating)
	KindRating    Kind = 19 // an analyst's rating of a source, §5.10 (rating)
	// KindRevocation is an identity's revocation of one of its subkeys, or
	// of itself, §5.12 (keys). A tombstone cannot delete it: a thief who
	// holds a revoked key must not be able to bring the key back.
	KindRevocation Kind = 20

	// The room kinds, §13.2 (room): a room's state (genesis and every
	// membership change with its rekey), further parts of an epoch's
	// sealed key, an invitation, a member's join and leave, a message.
	KindRoomState   Kind = 32
	KindRoomKeys    Kind = 33
	KindRoomInvite  Kind = 34
	KindRoomJoin    Kind = 35
	KindRoomLeave   Kind = 36
	KindRoomMessage Kind = 37
)

// KindInfo is what every assigned kind has in common: its name in
// docs/protocol.md §5.6, and whether a tombstone (§5.7) may delete it.
type KindInfo struct {
	Kind Kind
	Name string
	// Deletable is false for tombstones and revocations: they are
	// permanent, so a deleted item or a revoked key can never come back
	// through a peer that missed the deletion or the revocation.
	Deletable bool
}

// kinds is the registry, in ascending order.
var kinds = []KindInfo{
	{KindTombstone, "tombstone", false},
	{KindRecipientKey, "recipient-key certificate", true},
	{KindMessage, "direct message", true},
	{KindReceipt, "read receipt", true},
	{KindBurnMessage, "burnable direct message", true},
	{KindIOC, "ioc", true},
	{KindIOCSealed, "ioc sealed", true},
	{KindSighting, "sighting", true},
	{KindRating, "rating", true},
	{KindRevocation, "revocation", false},
	{KindRoomState, "room state", true},
	{KindRoomKeys, "room key part", true},
	{KindRoomInvite, "room invite", true},
	{KindRoomJoin, "room join", true},
	{KindRoomLeave, "room leave", true},
	{KindRoomMessage, "room message", true},
}

// Kinds returns a copy of the table of assigned kinds, ascending.
func Kinds() []KindInfo { return append([]KindInfo(nil), kinds...) }

// Info returns k's entry in the table, or false when k is not assigned.
func (k Kind) Info() (KindInfo, bool) {
	for _, i := range kinds {
		if i.Kind == k {
			return i, true
		}
	}
	return KindInfo{}, false
}

// Deletable reports whether a tombstone may delete an item of kind k (§5.7).
// Kinds missing from the table are deletable: only tombstones are
// permanent, and the tombstone kind is in every build's table.
func (k Kind) Deletable() bool {
	i, ok := k.Info()
	return !ok || i.Deletable
}

// String returns the kind's §5.6 name, or its number when unassigned.
func (k Kind) String() string {
	if i, ok := k.Info(); ok {
		return i.Name
	}
	return "kind " + strconv.FormatUint(uint64(k), 10)
}
