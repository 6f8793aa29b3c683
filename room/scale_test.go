package room

import (
	"testing"

	"github.com/ghostwire/ghostwire/item"
)

func mustModel(t *testing.T, n *node, sp item.Space) *model {
	t.Helper()
	r, err := n.svc.record(sp)
	if err != nil {
		t.Fatal(err)
	}
	m, err := n.svc.load(r)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
