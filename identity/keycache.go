package identity

import "sync"

// keyCacheSize bounds the public keys remembered as valid.
const keyCacheSize = 4096

// validKeys remembers public keys that passed checkPublicKey and
// checkPrimeOrder. Items arrive by the thousand from a few authors, and the
// two checks together cost about as much as the Ed25519 verification that
// follows them. Only valid keys are kept, and
// validity depends on the 32 bytes alone, so a remembered answer is always
// the right one. When full it starts over: a peer sending many distinct keys
// costs at most keyCacheSize entries and evicts nothing for long.
var validKeys struct {
	sync.Mutex
	m map[[IDSize]byte]struct{}
}

// checkPublicKeyCached is checkPublicKey then checkPrimeOrder, with
// validKeys in front.
func checkPublicKeyCached(pub []byte) error {
	k := [IDSize]byte(pub)
	validKeys.Lock()
	_, ok := validKeys.m[k]
	validKeys.Unlock()
	if ok {
		return nil
	}
	if err := checkPublicKey(pub); err != nil {
		return err
	}
	if err := checkPrimeOrder(pub); err != nil {
		return err
	}
	validKeys.Lock()
	if validKeys.m == nil || len(validKeys.m) >= keyCacheSize {
		validKeys.m = make(map[[IDSize]byte]struct{}, 64)
	}
	validKeys.m[k] = struct{}{}
	validKeys.Unlock()
	return nil
}
