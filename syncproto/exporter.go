package syncproto

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// Exporter limits, docs/protocol.md §4.5.
const (
	// MaxExporterLabel is the longest label Exporter takes; its length is
	// one byte in the derivation.
	MaxExporterLabel = 255
	// MaxExporterLength is the most bytes Exporter derives at once, HKDF
	// SHA-256's limit.
	MaxExporterLength = 255 * sha256.Size
)

// Exporter returns length bytes derived from this connection's handshake
// secret and transcript, in the spirit of TLS exporters (RFC 5705, RFC
// 8446 §7.5): both ends of one connection get the same bytes and nobody
// else can compute them, and another connection, label or context gives
// unrelated ones. It is how a layer above binds something to this exact
// connection: pairing derives the short code two people compare, so a
// man in the middle holding two connections shows them two different
// codes.
//
// label names the use (for example "ghostwire pairing code v1") and must
// be 1 to MaxExporterLabel bytes; each use needs its own label. context is
// any value the use wants mixed in; nil and empty are the same. length is
// 1 to MaxExporterLength; a shorter output is not a prefix of a longer
// one. Exporter is safe for concurrent use and works after Close.
func (c *Conn) Exporter(label string, context []byte, length int) ([]byte, error) {
	return export(c.exporter, label, context, length)
}

// export is the derivation of §4.5 from the exporter secret.
func export(secret []byte, label string, context []byte, length int) ([]byte, error) {
	switch {
	case len(label) == 0 || len(label) > MaxExporterLabel:
		return nil, fmt.Errorf("syncproto: exporter label is %d bytes, want 1 to %d", len(label), MaxExporterLabel)
	case length < 1 || length > MaxExporterLength:
		return nil, fmt.Errorf("syncproto: exporter length %d, want 1 to %d", length, MaxExporterLength)
	case len(secret) == 0:
		return nil, errors.New("syncproto: exporter used on a connection that did not come from a handshake")
	}
	ctx := sha256.Sum256(context)
	info := make([]byte, 0, len(labelExporter)+2+1+len(label)+len(ctx))
	info = append(info, labelExporter...)
	info = binary.BigEndian.AppendUint16(info, uint16(length))
	info = append(info, byte(len(label)))
	info = append(info, label...)
	info = append(info, ctx[:]...)
	out, err := hkdf.Expand(sha256.New, secret, string(info), length)
	if err != nil {
		panic("bug: syncproto: hkdf expand: " + err.Error())
	}
	return out, nil
}
