package syncproto

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Specification constants: frames, docs/protocol.md §2.
const (
	// frameHeaderSize is the big-endian uint32 length prefix of every frame.
	frameHeaderSize = 4
	// MaxHandshakeFrame bounds the body of a handshake frame (§2.2). The
	// largest handshake message, the initiator hello, has a 1,231-byte body.
	MaxHandshakeFrame = 4096
	// MaxPayload is the largest application message one channel frame
	// carries (§4.2). WriteFrame refuses anything larger.
	MaxPayload = 1 << 20
	// maxChannelFrame is the largest channel frame body: the message, the
	// content-type byte and the Poly1305 tag.
	maxChannelFrame = MaxPayload + 1 + tagSize
	// minChannelFrame is the smallest: an empty message, its type, the tag.
	minChannelFrame = 1 + tagSize
)

// errFrameTooLarge and errFrameTooSmall report a length prefix outside the
// bounds of the current stage; the body is never read or allocated.
var (
	errFrameTooLarge = errors.New("frame length exceeds the maximum")
	errFrameTooSmall = errors.New("frame length below the minimum")
)

// readFrame reads one frame whose body length must lie in [min, max] and
// returns the whole frame, header included, in buf's storage (grown only
// after the length check). docs/protocol.md §2.1.
//
// io.EOF means the stream ended cleanly before the first header byte;
// io.ErrUnexpectedEOF means it ended inside a frame.
func readFrame(r *bufio.Reader, buf []byte, min, max int) ([]byte, error) {
	// Peek rather than a local array: the array would escape to the heap
	// through io.ReadFull, one allocation per frame.
	hdr, err := r.Peek(frameHeaderSize)
	if err != nil {
		if len(hdr) > 0 && err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr)
	if uint64(n) > uint64(max) {
		return nil, fmt.Errorf("%w: %d > %d", errFrameTooLarge, n, max)
	}
	if int(n) < min {
		return nil, fmt.Errorf("%w: %d < %d", errFrameTooSmall, n, min)
	}
	total := frameHeaderSize + int(n)
	if cap(buf) < total {
		buf = make([]byte, total)
	}
	buf = buf[:total]
	copy(buf, hdr)
	r.Discard(frameHeaderSize)
	if _, err := io.ReadFull(r, buf[frameHeaderSize:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// appendFrame appends body to dst as one frame.
func appendFrame(dst, body []byte) []byte {
	if len(body) > maxChannelFrame {
		panic("bug: syncproto: frame body too large")
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)))
	return append(dst, body...)
}
