package item

// wireItem is the CBOR form of an item, docs/protocol.md §5.1. Payload and
// Sig are omitted when empty: an absent key is the only encoding of an empty
// payload (a zero-length string or a null would re-encode differently and so
// fail the canonical check), and an absent signature is the signing input.
// Cert is absent when the identity signs itself, which keeps every such item
// byte for byte what it was before subkeys existed.
type wireItem struct {
	Author  []byte    `cbor:"1,keyasint"`
	Kind    uint64    `cbor:"2,keyasint"`
	Space   []byte    `cbor:"3,keyasint"`
	Created uint64    `cbor:"4,keyasint"`
	Payload []byte    `cbor:"5,keyasint,omitempty"`
	Sig     []byte    `cbor:"6,keyasint,omitempty"`
	Cert    *wireCert `cbor:"7,keyasint,omitempty"`
}

// wireTombstone is a tombstone's payload, docs/protocol.md §5.7.
type wireTombstone struct {
	Target []byte `cbor:"1,keyasint"`
}

// wireCert is a subkey certificate, the item's key 7 (docs/protocol.md
// §5.9). Sig is omitted only in the certificate's signing input.
type wireCert struct {
	Key       []byte `cbor:"1,keyasint"`
	Purpose   uint64 `cbor:"2,keyasint"`
	NotBefore uint64 `cbor:"3,keyasint"`
	NotAfter  uint64 `cbor:"4,keyasint"`
	Sig       []byte `cbor:"5,keyasint,omitempty"`
}
