package identity

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// TestKeyCacheKeepsOnlyValidKeys: a refused key is refused every time (it
// is never remembered), a valid one is accepted every time, and the cache
// never holds more than its bound however many valid keys pass through.
func TestKeyCacheKeepsOnlyValidKeys(t *testing.T) {
	bad := make([]byte, IDSize)
	bad[0] = 1 // the identity point: small order
	k, err := GenerateKey(bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	good := k.ID().Bytes()
	for range 3 {
		if _, err := NewID(bad); !errors.Is(err, ErrInvalidID) {
			t.Fatalf("NewID(small-order key) = %v, want ErrInvalidID", err)
		}
		if _, err := NewID(good); err != nil {
			t.Fatalf("NewID(valid key) = %v", err)
		}
	}
	validKeys.Lock()
	_, cachedBad := validKeys.m[[IDSize]byte(bad)]
	validKeys.Unlock()
	if cachedBad {
		t.Fatal("a refused key was remembered as valid")
	}
	seed := make([]byte, 64)
	for i := range keyCacheSize + 100 {
		binary.BigEndian.PutUint32(seed, uint32(i))
		k, err := GenerateKey(bytes.NewReader(seed))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := NewID(k.ID().Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	validKeys.Lock()
	n := len(validKeys.m)
	validKeys.Unlock()
	if n > keyCacheSize {
		t.Fatalf("cache holds %d keys, bound %d", n, keyCacheSize)
	}
}
