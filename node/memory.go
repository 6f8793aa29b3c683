package node

import (
	"runtime/debug"
	"runtime/metrics"
)

// releaseSlack is how much heap the node may hold beyond its live set
// (garbage not yet collected, or freed and not yet returned) before
// releaseMemory gives it back at once.
const releaseSlack = 64 << 20

// releaseMemory gives back to the system what the work just done (opening
// the store, a session that built its sets) used and an idle node does not
// need: the store's mapped pages (store.ReleaseMapped), and, if the heap
// holds more than releaseSlack beyond its live set, that heap. Go returns
// freed heap to the system only slowly on its own, so an idle node holding
// a million IOCs kept hundreds of MB resident after the reads it did once
// (issue 19). The forced collection costs a few ms per 100 MB live, and
// only follows work that read much.
func (n *Node) releaseMemory() {
	if _, err := n.db.ReleaseMapped(); err != nil {
		n.log.Debug("cannot release the store's mapped pages", "err", err)
	}
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(s)
	for _, x := range s {
		if x.Value.Kind() != metrics.KindUint64 {
			return // not this runtime's metrics: leave it to the runtime
		}
	}
	objects, live, free := s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64()
	if objects > live && objects-live+free > releaseSlack || free > releaseSlack {
		debug.FreeOSMemory()
	}
}
