package syncproto

import (
	"bytes"
	"crypto/ecdh"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ghostwire/ghostwire/identity"
)

// kdfVectors is testdata/kdf_v1.json, written by testdata/vectors.py, an
// independent Python implementation of §3.4 and §4 (docs/protocol.md §8).
type kdfVectors struct {
	KDF    map[string]hexBytes `json:"kdf"`
	Frames []struct {
		Key     hexBytes `json:"key"`
		Seq     uint64   `json:"seq"`
		Type    byte     `json:"type"`
		Payload hexBytes `json:"payload"`
		Frame   hexBytes `json:"frame"`
	} `json:"frames"`
	Exporters []struct {
		Label   hexBytes `json:"label"`
		Context hexBytes `json:"context"`
		Length  int      `json:"length"`
		Out     hexBytes `json:"out"`
	} `json:"exporters"`
}

func loadKDFVectors(t *testing.T) kdfVectors {
	b, err := os.ReadFile(filepath.Join("testdata", "kdf_v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v kdfVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestKDFVectors(t *testing.T) {
	v := loadKDFVectors(t).KDF
	prk := extractSecret(v["ss_mlkem"], v["ss_x25519"], v["h2"])
	i2r := expandKey(prk, labelInitiatorData, v["h4"])
	r1 := expandKey(i2r, labelRekey, nil)
	for name, got := range map[string][]byte{
		"prk":                     prk,
		"responder_handshake_key": expandKey(prk, labelResponderHandshake, nil),
		"initiator_handshake_key": expandKey(prk, labelInitiatorHandshake, nil),
		"initiator_data_key":      i2r,
		"responder_data_key":      expandKey(prk, labelResponderData, v["h4"]),
		"rekey_1":                 r1,
		"rekey_2":                 expandKey(r1, labelRekey, nil),
		"exporter_secret":         expandKey(prk, labelExporterSecret, v["h4"]),
	} {
		if !bytes.Equal(got, v[name]) {
			t.Errorf("%s = %x, want %x", name, got, v[name])
		}
	}
}

// TestExporterVectors derives every exporter vector from the vector
// exporter secret (§4.5).
func TestExporterVectors(t *testing.T) {
	v := loadKDFVectors(t)
	if len(v.Exporters) == 0 {
		t.Fatal("no exporter vectors")
	}
	for _, e := range v.Exporters {
		got, err := export(v.KDF["exporter_secret"], string(e.Label), e.Context, e.Length)
		if err != nil || !bytes.Equal(got, e.Out) {
			t.Errorf("label %q, %d-byte context, length %d: %x, %v; want %x", e.Label, len(e.Context), e.Length, got, err, e.Out)
		}
	}
}

// TestFrameVectors seals and opens the vector frames through the channel's
// own write and read paths, advancing the counter (and so the rekeys) to
// each frame's sequence number.
func TestFrameVectors(t *testing.T) {
	for _, f := range loadKDFVectors(t).Frames {
		cfg := &Config{}
		w := &Conn{conn: newScriptConn(nil), log: cfg.logger()}
		w.out.dir = newDirection(bytes.Clone(f.Key), cfg)
		for w.out.dir.seq < f.Seq {
			w.out.dir.next()
		}
		if err := w.writeRecord(f.Type, f.Payload); err != nil {
			t.Fatal(err)
		}
		if got := w.conn.(*scriptConn).written(); !bytes.Equal(got, f.Frame) {
			t.Errorf("seq %d type %d: sealed\n%x\nwant\n%x", f.Seq, f.Type, got, f.Frame)
		}

		sc := newScriptConn(f.Frame)
		r := &Conn{conn: sc, r: newBufReader(sc), log: cfg.logger()}
		r.in.dir = newDirection(bytes.Clone(f.Key), cfg)
		for r.in.dir.seq < f.Seq {
			r.in.dir.next()
		}
		got, err := r.ReadFrame(nil)
		switch {
		case f.Type == recordClose && err == io.EOF:
		case f.Type == recordData && err == nil && bytes.Equal(got, f.Payload):
		default:
			t.Errorf("seq %d: opened %x, %v", f.Seq, got, err)
		}
	}
}

// wycheproofDir returns the directory of the pinned Wycheproof module,
// fetched through the module proxy into the module cache (docs/protocol.md
// §8). It runs outside our module so go.mod is untouched.
func wycheproofDir(t *testing.T) string {
	const mod = "github.com/google/wycheproof@v0.0.0-20191219022705-2196000605e4"
	cmd := exec.Command("go", "mod", "download", "-json", mod)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GO111MODULE=on")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("fetching Wycheproof vectors (%s) through the module proxy: %v\n%s", mod, err, out)
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		t.Fatalf("go mod download %s: %v %s", mod, err, info.Error)
	}
	return filepath.Join(info.Dir, "testvectors")
}

type wycheproofFile[T any] struct {
	TestGroups []T `json:"testGroups"`
}

func readWycheproof[T any](t *testing.T, dir, name string) []T {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	var f wycheproofFile[T]
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.TestGroups
}

// TestWycheproof runs Wycheproof's x25519, Ed25519, ChaCha20-Poly1305 and
// HKDF-SHA256 vectors through the wrappers the handshake and channel use.
// Wycheproof at this version has no ML-KEM vectors; ML-KEM is covered by
// the recorded transcript (a derandomized encapsulation reproduced byte for
// byte), TestInvalidKeyShares (unreduced encapsulation keys, modified
// ciphertexts) and the mutation table over message 1 and 2's key bytes.
func TestWycheproof(t *testing.T) {
	dir := wycheproofDir(t)

	t.Run("x25519", func(t *testing.T) {
		type test struct {
			TcID                    int
			Public, Private, Shared hexBytes
			Result                  string
		}
		n := 0
		for _, g := range readWycheproof[struct{ Tests []test }](t, dir, "x25519_test.json") {
			for _, tc := range g.Tests {
				n++
				priv, err := ecdh.X25519().NewPrivateKey(tc.Private)
				if err != nil {
					t.Fatalf("tc %d: %v", tc.TcID, err)
				}
				got, err := x25519(priv, tc.Public)
				if bytes.Equal(tc.Shared, make([]byte, 32)) {
					if !errors.Is(err, ErrKeyExchange) {
						t.Errorf("tc %d: all-zero secret not refused", tc.TcID)
					}
					continue
				}
				if err != nil || !bytes.Equal(got, tc.Shared) {
					t.Errorf("tc %d (%s): %x, %v; want %x", tc.TcID, tc.Result, got, err, tc.Shared)
				}
			}
		}
		t.Logf("%d cases", n)
	})

	t.Run("ed25519", func(t *testing.T) {
		type group struct {
			Key   struct{ Pk hexBytes }
			Tests []struct {
				TcID     int
				Msg, Sig hexBytes
				Result   string
			}
		}
		n := 0
		for _, g := range readWycheproof[group](t, dir, "eddsa_test.json") {
			id, err := identity.NewID(g.Key.Pk)
			if err != nil {
				t.Fatalf("key %x refused: %v", g.Key.Pk, err)
			}
			for _, tc := range g.Tests {
				n++
				if got := id.Verify(tc.Msg, tc.Sig); got != (tc.Result == "valid") {
					t.Errorf("tc %d: Verify = %v, want %s", tc.TcID, got, tc.Result)
				}
			}
		}
		t.Logf("%d cases", n)
	})

	t.Run("chacha20-poly1305", func(t *testing.T) {
		type group struct {
			IvSize, KeySize int
			Tests           []struct {
				TcID                       int
				Key, Iv, Aad, Msg, Ct, Tag hexBytes
				Result                     string
			}
		}
		n, skipped := 0, 0
		for _, g := range readWycheproof[group](t, dir, "chacha20_poly1305_test.json") {
			for _, tc := range g.Tests {
				if g.IvSize != nonceSize*8 || g.KeySize != keySize*8 {
					// Our channel never uses other sizes; Wycheproof
					// marks every such case invalid.
					if tc.Result != "invalid" {
						t.Errorf("tc %d: %d-bit nonce case is %s", tc.TcID, g.IvSize, tc.Result)
					}
					skipped++
					continue
				}
				n++
				a := newAEAD(tc.Key)
				sealed := append(bytes.Clone(tc.Ct), tc.Tag...)
				pt, err := a.Open(nil, tc.Iv, sealed, tc.Aad)
				if tc.Result == "invalid" {
					if err == nil {
						t.Errorf("tc %d: invalid ciphertext opened", tc.TcID)
					}
					continue
				}
				if err != nil || !bytes.Equal(pt, tc.Msg) {
					t.Errorf("tc %d: open: %v", tc.TcID, err)
				}
				if ct := a.Seal(nil, tc.Iv, tc.Msg, tc.Aad); !bytes.Equal(ct, sealed) {
					t.Errorf("tc %d: seal differs", tc.TcID)
				}
			}
		}
		t.Logf("%d cases through our AEAD, %d other-size cases (all invalid)", n, skipped)
	})

	t.Run("hkdf-sha256", func(t *testing.T) {
		type group struct {
			Tests []struct {
				TcID                 int
				Ikm, Salt, Info, Okm hexBytes
				Size                 int
				Result               string
			}
		}
		n := 0
		for _, g := range readWycheproof[group](t, dir, "hkdf_sha256_test.json") {
			for _, tc := range g.Tests {
				if tc.Result == "invalid" {
					// Output sizes beyond 255·32 bytes: our wrapper always
					// asks for 32.
					continue
				}
				n++
				out := expandKey(extractSecret(tc.Ikm, nil, tc.Salt), string(tc.Info), nil)
				m := min(len(out), tc.Size)
				if !bytes.Equal(out[:m], tc.Okm[:m]) {
					t.Errorf("tc %d: %x, want prefix of %x", tc.TcID, out, tc.Okm)
				}
			}
		}
		t.Logf("%d cases", n)
	})
}
