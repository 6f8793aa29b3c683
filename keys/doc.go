// Package keys is what an identity says about its own keys: revocations
// (docs/protocol.md §5.12), an item kind by which an identity withdraws one
// of its subkeys (§5.9), or itself, from a given time on.
//
// The one thing a reader must know: a revocation binds only its author's
// items. It names a key and a time; from then on, items by the author
// whose signer (item.Item.Signer) is that key are refused on receipt, and
// if the key is the identity itself, every item by it is, and the contact
// becomes revoked. Because of that binding, a revocation by anyone else
// has no power over the author's items, and one signed by a subkey is
// refused: only the identity key may revoke.
//
// It is an item-kind service: the node calls it through Scopes, Check and
// Accepted, asks Admit of every item a peer sends in any scope, and gives
// it what it needs through Host. It never imports node, net/http or a
// transport.
package keys
