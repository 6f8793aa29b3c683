package rating

// wireSighting is a sighting's payload, docs/protocol.md §5.10.
type wireSighting struct {
	Target  []byte `cbor:"1,keyasint"`
	Source  []byte `cbor:"2,keyasint"`
	Verdict uint64 `cbor:"3,keyasint"`
}

// wireRating is a rating's payload, docs/protocol.md §5.10.
type wireRating struct {
	Subject []byte `cbor:"1,keyasint"`
	Verdict uint64 `cbor:"2,keyasint"`
}
