// Package room is group conversations: rooms with a member list, a key per
// epoch, and rekeying by the room's one owner whenever the membership
// changes. It is specified in docs/protocol.md §13.
//
// The one thing a reader must know: a room is nothing but signed items in
// the room's space, and who may sign what is fixed by the items themselves.
// The room's space is derived from its owner's identity, so only the owner
// can sign a state (the member list and the epoch key sealed to each
// member), a key part or an invitation; a member signs its own join, leave
// and messages. Every node checks each item against the room's states
// before storing it (model.add) and again when listing, so a forged rekey,
// a message under an epoch its author was not in, or a removed member's
// post is refused wherever it arrives. Any member relays any item, so a
// message reaches members who are never online with its author.
//
// It is an item-kind service: the node calls it through service.Service
// and gives it what it needs through Host. It never imports the node,
// net/http or a transport.
package room
