// Package collection is indicator collections: IOC items (docs/protocol.md
// §5.8, docs/ioc.md) in named collections, the scopes each TLP class of a
// collection is reconciled in (§10.1, docs/ioc.md §4.2) and who may see
// them, who may write to a collection (writers.go), and dropping, listing,
// retracting, importing and exporting indicators (STIX 2.1, MISP).
//
// It is an item-kind service: the node calls it through Scopes, Check and
// Accepted and gives it what it needs through Host. It never imports node,
// net/http or a transport; fetching from peers (which drives sessions) and
// the local API stay in the node.
package collection
