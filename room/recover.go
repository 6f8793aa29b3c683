package room

import (
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/recipient"
)

// Recover returns the text of every room message among items that the
// member me, holding rk, can open: what someone who copied a member's data
// directory and knows its passphrase reads of its rooms, from whatever
// item versions the store still gives, live or deleted, and whatever the
// node's own records say. The burn tests use it to show that a burnt room
// message is beyond that reach (docs/storage.md §4); the node never does.
// Items of other kinds, and items that do not decode, are ignored.
func Recover(items []*item.Item, me identity.ID, rk *recipient.PrivateKey) []string {
	bySpace := map[item.Space][]*item.Item{}
	owners := map[item.Space]identity.ID{}
	for _, it := range items {
		switch it.Kind() {
		case KindState:
			if _, err := decodeState(it); err == nil {
				owners[it.Space()] = it.Author()
			}
			fallthrough
		case KindKeys, KindMessage:
			bySpace[it.Space()] = append(bySpace[it.Space()], it)
		}
	}
	var out []string
	for sp, its := range bySpace {
		owner, ok := owners[sp]
		if !ok {
			continue
		}
		m := newModel(sp, owner)
		order(its)
		for _, it := range its {
			if it.Kind() == KindMessage {
				// Only what opening needs: the epoch's state and key.
				if msg, err := decodeMessage(it); err == nil {
					m.messages = append(m.messages, msg)
				}
				continue
			}
			m.add(it) // a state or key part that does not fit is left out
		}
		keys := map[uint64][]byte{}
		for _, msg := range m.messages {
			k, ok := keys[msg.epoch]
			if !ok {
				if st, part := m.states[msg.epoch], m.partFor(me, msg.epoch); st != nil && part != nil {
					k, _ = openKey(part, sp, msg.epoch, st.commit, rk)
				}
				keys[msg.epoch] = k
			}
			if k == nil {
				continue
			}
			if pt, err := openBody(k, sp, msg.it.Author(), msg.epoch, msg.nonce, msg.ct); err == nil {
				if text, err := decodeBody(pt); err == nil {
					out = append(out, text)
				}
			}
		}
	}
	return out
}
