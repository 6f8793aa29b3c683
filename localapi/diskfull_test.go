package localapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ghostwire/ghostwire/localapi/apitype"
)

// TestDiskFullThroughTheAPI runs a node whose data directory is an 8 MiB
// tmpfs and drops IOCs until the disk is full (docs/storage.md §3): the
// drop that does not fit is a 507 of kind disk_full with a hint, the node
// stays up, status says "disk full", every IOC acknowledged is still
// listed, and after space is freed drops succeed and status says "ok".
func TestDiskFullThroughTheAPI(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8388608,mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mounting a tmpfs for the full-disk test needs root: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	spare := filepath.Join(dir, "spare")
	if err := os.WriteFile(spare, bytes.Repeat([]byte{1}, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	tn := startTestNode(t, dir, 3) // its cleanup stops it before the unmount

	drop := func(i int) (int, string) {
		body := fmt.Sprintf(`{"type":"domain","value":"host%d.example","description":%q}`, i, strings.Repeat("d", 1500))
		return tn.req(t, "POST", "/v1/iocs", "application/json", strings.NewReader(body))
	}
	status := func() apitype.Status {
		code, body := tn.req(t, "GET", "/v1/status", "", nil)
		var st apitype.Status
		if code != 200 || json.Unmarshal([]byte(body), &st) != nil {
			t.Fatalf("status: %d %s", code, body)
		}
		return st
	}
	if st := status(); st.Store != apitype.StoreOK {
		t.Fatalf("status store %q before the disk filled", st.Store)
	}
	acked := 0
	var code int
	var body string
	for ; acked < 20000; acked++ {
		if code, body = drop(acked); code != 201 {
			break
		}
	}
	var eb ErrorBody
	if code != 507 || json.Unmarshal([]byte(body), &eb) != nil || eb.Kind != "disk_full" || eb.Hint == "" {
		t.Fatalf("after %d IOCs the drop answered %d %s; want 507, kind disk_full, a hint", acked, code, body)
	}
	t.Logf("full after %d IOCs: %s", acked, eb.Error)
	if st := status(); st.Store != apitype.StoreDiskFull {
		t.Errorf("status store %q on a full disk, want %q", st.Store, apitype.StoreDiskFull)
	}
	listed := func() int {
		code, body := tn.req(t, "GET", "/v1/iocs", "", nil)
		var iocs []json.RawMessage
		if code != 200 || json.Unmarshal([]byte(body), &iocs) != nil {
			t.Fatalf("listing on a full disk: %d %.200s", code, body)
		}
		return len(iocs)
	}
	if n := listed(); n != acked {
		t.Fatalf("the full node lists %d IOCs, want the %d acknowledged", n, acked)
	}

	if err := os.Remove(spare); err != nil {
		t.Fatal(err)
	}
	if code, body := drop(acked); code != 201 {
		t.Fatalf("drop after space was freed: %d %s", code, body)
	}
	if st := status(); st.Store != apitype.StoreOK {
		t.Errorf("status store %q after space was freed", st.Store)
	}
	if n := listed(); n != acked+1 {
		t.Fatalf("lists %d IOCs, want %d", n, acked+1)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err == nil {
		t.Logf("%d KiB free at the end", int64(st.Bavail)*int64(st.Bsize)>>10)
	}
}
