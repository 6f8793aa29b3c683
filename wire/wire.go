// Package wire defines GhostWire's one CBOR decoding mode and one encoding
// mode, used by every package that puts CBOR on a wire or under a signature
// (docs/protocol.md §1.2).
//
// Decoding is strict so that hostile input costs bounded memory and has one
// meaning: duplicate map keys, indefinite lengths, unknown struct fields,
// tags and trailing bytes are errors, and nesting, array, map and string
// sizes are capped. Encoding is RFC 8949 §4.2.1 core deterministic, so the
// same value always has the same bytes and signatures verify byte for byte.
package wire

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Limits on any decoded CBOR value (docs/protocol.md §1.2).
const (
	MaxNesting     = 16
	MaxArrayItems  = 1 << 17
	MaxMapPairs    = 1 << 10
	MaxStringBytes = 1 << 20
)

var (
	decMode cbor.DecMode
	encMode cbor.EncMode
)

func init() {
	var err error
	decMode, err = cbor.DecOptions{
		DupMapKey:          cbor.DupMapKeyEnforcedAPF,
		IndefLength:        cbor.IndefLengthForbidden,
		TagsMd:             cbor.TagsForbidden,
		ExtraReturnErrors:  cbor.ExtraDecErrorUnknownField,
		MaxNestedLevels:    MaxNesting,
		MaxArrayElements:   MaxArrayItems,
		MaxMapPairs:        MaxMapPairs,
		UTF8:               cbor.UTF8RejectInvalid,
		DefaultMapType:     nil,
		IntDec:             cbor.IntDecConvertNone,
		NaN:                cbor.NaNDecodeForbidden,
		Inf:                cbor.InfDecodeForbidden,
		ByteStringToString: cbor.ByteStringToStringForbidden,
		FieldNameMatching:  cbor.FieldNameMatchingCaseSensitive,
	}.DecMode()
	if err != nil {
		panic("bug: wire decode mode: " + err.Error())
	}
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic("bug: wire encode mode: " + err.Error())
	}
}

// ErrDecode is wrapped by every decoding error.
var ErrDecode = errors.New("wire: malformed CBOR")

// Marshal encodes v in core deterministic form.
func Marshal(v any) ([]byte, error) {
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("wire: encode: %w", err)
	}
	return b, nil
}

// Unmarshal decodes exactly one CBOR item from data into v with the strict
// mode; trailing bytes are an error. Strings longer than MaxStringBytes are
// refused before they are copied.
func Unmarshal(data []byte, v any) error {
	if err := checkStrings(data); err != nil {
		return err
	}
	rest, err := decMode.UnmarshalFirst(data, v)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDecode, err)
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrDecode, len(rest))
	}
	return nil
}

// UnmarshalCanonical decodes like Unmarshal and also requires data to be the
// deterministic encoding of the result, so one logical value has exactly one
// byte string. Signed and content-addressed values use it.
func UnmarshalCanonical(data []byte, v any) error {
	if err := Unmarshal(data, v); err != nil {
		return err
	}
	again, err := Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDecode, err)
	}
	if !bytes.Equal(again, data) {
		return fmt.Errorf("%w: not in canonical (deterministic) encoding", ErrDecode)
	}
	return nil
}

// checkStrings walks the data item by item without building values and
// refuses any byte or text string over MaxStringBytes. The decoder's own
// limits cover arrays, maps and nesting; this covers strings.
func checkStrings(data []byte) error {
	var it checker
	it.data = data
	for it.pos < len(data) && it.err == nil {
		it.item(0)
	}
	return it.err
}

type checker struct {
	data []byte
	pos  int
	err  error
}

func (c *checker) fail(msg string) {
	if c.err == nil {
		c.err = fmt.Errorf("%w: %s", ErrDecode, msg)
	}
}

// head reads an initial byte and argument; ok=false on truncation.
func (c *checker) head() (major byte, arg uint64, ok bool) {
	if c.pos >= len(c.data) {
		c.fail("truncated")
		return 0, 0, false
	}
	ib := c.data[c.pos]
	c.pos++
	major, ai := ib>>5, ib&0x1f
	switch {
	case ai < 24:
		return major, uint64(ai), true
	case ai <= 27:
		n := 1 << (ai - 24)
		if len(c.data)-c.pos < n {
			c.fail("truncated")
			return 0, 0, false
		}
		for i := 0; i < n; i++ {
			arg = arg<<8 | uint64(c.data[c.pos+i])
		}
		c.pos += n
		return major, arg, true
	default:
		c.fail("indefinite length or reserved additional info")
		return 0, 0, false
	}
}

func (c *checker) item(depth int) {
	if depth > MaxNesting {
		c.fail("nested too deeply")
		return
	}
	major, arg, ok := c.head()
	if !ok {
		return
	}
	switch major {
	case 0, 1, 7:
	case 2, 3:
		if arg > MaxStringBytes {
			c.fail(fmt.Sprintf("string of %d bytes exceeds %d", arg, MaxStringBytes))
			return
		}
		if uint64(len(c.data)-c.pos) < arg {
			c.fail("truncated")
			return
		}
		c.pos += int(arg)
	case 4, 5:
		limit := uint64(MaxArrayItems)
		per := uint64(1)
		if major == 5 {
			limit, per = MaxMapPairs, 2
		}
		if arg > limit {
			c.fail("too many elements")
			return
		}
		for i := uint64(0); i < arg*per && c.err == nil; i++ {
			c.item(depth + 1)
		}
	case 6:
		c.fail("tags are not allowed")
	}
}
