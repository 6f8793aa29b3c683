package syncproto

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"
)

// Labels, spelled exactly as in docs/protocol.md §3.4, §4.3 and §4.5.
const (
	// transcriptLabel starts every transcript hash; it names the protocol
	// and version so that no other protocol's transcript hashes alike.
	transcriptLabel = "ghostwire handshake v1"

	labelResponderHandshake = "ghostwire v1 responder handshake key"
	labelInitiatorHandshake = "ghostwire v1 initiator handshake key"
	labelInitiatorData      = "ghostwire v1 initiator data key"
	labelResponderData      = "ghostwire v1 responder data key"
	labelRekey              = "ghostwire v1 rekey"
	labelExporterSecret     = "ghostwire v1 exporter secret"
	labelExporter           = "ghostwire v1 exporter"

	// Signature contexts. Each ends in a zero byte so that no other
	// GhostWire signature (whose contexts never start with "ghostwire v1
	// handshake") can be taken for one of these.
	sigContextResponder = "ghostwire v1 handshake responder signature\x00"
	sigContextInitiator = "ghostwire v1 handshake initiator signature\x00"
)

const (
	keySize   = chacha20poly1305.KeySize
	nonceSize = chacha20poly1305.NonceSize
	tagSize   = chacha20poly1305.Overhead
	hashSize  = sha256.Size
)

// transcript is the running SHA-256 hash of the transcript label and every
// handshake frame, header included, in the order sent. docs/protocol.md §3.4.
type transcript struct{ h hash.Hash }

func newTranscript() transcript {
	t := transcript{h: sha256.New()}
	t.h.Write([]byte(transcriptLabel))
	return t
}

func (t transcript) add(frame []byte) { t.h.Write(frame) }

func (t transcript) sum() []byte { return t.h.Sum(nil) }

// extractSecret is HKDF-Extract(SHA-256, salt = H2, IKM = ss_mlkem ‖ ss_x25519).
// The ML-KEM secret comes first as in the X25519MLKEM768 TLS hybrid; either
// secret alone keeps the result secret.
func extractSecret(ssMLKEM, ssX25519, h2 []byte) []byte {
	ikm := make([]byte, 0, len(ssMLKEM)+len(ssX25519))
	ikm = append(append(ikm, ssMLKEM...), ssX25519...)
	prk, err := hkdf.Extract(sha256.New, ikm, h2)
	clear(ikm)
	if err != nil {
		panic("bug: syncproto: hkdf extract: " + err.Error())
	}
	return prk
}

// expandKey is HKDF-Expand(SHA-256, prk, label ‖ context, 32).
func expandKey(prk []byte, label string, context []byte) []byte {
	k, err := hkdf.Expand(sha256.New, prk, label+string(context), keySize)
	if err != nil {
		panic("bug: syncproto: hkdf expand: " + err.Error())
	}
	return k
}

// newAEAD returns ChaCha20-Poly1305 under a 32-byte key.
func newAEAD(key []byte) cipher.AEAD {
	a, err := chacha20poly1305.New(key)
	if err != nil {
		panic("bug: syncproto: " + err.Error())
	}
	return a
}

// zeroNonce is the nonce of the two handshake seals: each handshake key
// seals exactly one message, so a fixed nonce never repeats under a key.
var zeroNonce [nonceSize]byte
