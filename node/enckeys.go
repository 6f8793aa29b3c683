package node

import (
	"context"
	"time"

	"github.com/ghostwire/ghostwire/recipient"
)

// keyIdle bounds how long keyLoop sleeps: the schedule is read from the
// node's clock, which tests move, and a rotation an hour late harms no one.
const keyIdle = time.Minute

// recipientKey is the key our payloads are sealed to and opened with: the
// current encryption subkey with those still in grace (keys.Service), or
// without encryption subkeys the keyring's key.
func (n *Node) recipientKey() *recipient.PrivateKey {
	if k := n.keys.RecipientKey(); k != nil {
		return k
	}
	return n.rkey
}

// keyLoop rotates our encryption subkey on its schedule and destroys the
// keys whose grace has ended (keys.Service.EncryptionTick), until ctx
// ends. Without a key vault it returns at once.
func (n *Node) keyLoop(ctx context.Context) {
	if n.cfg.KeyVault == nil {
		return
	}
	for {
		next, err := n.tickKeys()
		if err != nil {
			n.log.Error("rotating the encryption subkey failed; retrying in a minute", "err", err)
		}
		wait := keyIdle
		if d := next.Sub(n.cfg.Now()); err == nil && d > 0 && d < wait {
			wait = d
		}
		if !sleepCtx(ctx, wait) {
			return
		}
	}
}

// TickKeys runs the encryption subkeys' schedule now, as keyLoop does:
// tests that move the clock call it rather than wait a minute.
func (n *Node) TickKeys() error {
	_, err := n.tickKeys()
	return err
}

// tickKeys runs the rooms' epoch keys' schedule, then the encryption
// subkeys': rooms keep their current epoch keys (room.Service.KeyTick)
// before a rotation can destroy the subkey they were sealed to.
func (n *Node) tickKeys() (time.Time, error) {
	if err := n.room.KeyTick(); err != nil {
		n.log.Error("keeping the rooms' epoch keys failed", "err", err)
	}
	return n.keys.EncryptionTick()
}
