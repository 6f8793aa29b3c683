package localapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
)

// TestAPIAnswersBusy: with every working place taken by requests that take
// long (fetches waiting for a peer that never connects), a further request
// is answered 503 "busy", with a message and a hint, while they are still
// running, instead of waiting behind them (on main before the deadline it
// got no such answer: nothing bounded the work in progress or the wait).
// The fetches' wait (3 s) against the shortened deadline (200 ms) is the
// margin; the test checks order (busy arrives before any fetch ended), not
// speed.
func TestAPIAnswersBusy(t *testing.T) {
	tn := startTestNodeWith(t, t.TempDir(), 41, func(s *server) { s.deadline = 200 * time.Millisecond })
	other, _ := identity.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{42}, 64)))
	if code, body := tn.req(t, "POST", "/v1/peers", "application/json", strings.NewReader(`{"onion":"`+other.ID().String()+`","name":"far"}`)); code != 201 {
		t.Fatalf("add peer: %d %s", code, body)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ended := 0
	started := make(chan struct{}, maxWorking)
	for range maxWorking {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _ := http.NewRequest("POST", "http://ghostwire/v1/iocs/0123456789abcdef/fetch?wait=3s", nil)
			started <- struct{}{}
			resp, err := tn.client.Do(r)
			if err == nil {
				resp.Body.Close()
			}
			mu.Lock()
			ended++
			mu.Unlock()
		}()
	}
	for range maxWorking {
		<-started
	}
	// Wait until the node holds every place (each fetch takes one as it
	// arrives), by asking until the answer is busy.
	var code int
	var body string
	for range 100 {
		code, body = tn.req(t, "GET", "/v1/status", "", nil)
		if code == http.StatusServiceUnavailable {
			break
		}
	}
	mu.Lock()
	early := ended
	mu.Unlock()
	if code != http.StatusServiceUnavailable {
		t.Fatalf("status with every place taken: %d %s; want 503 busy", code, body)
	}
	if early != 0 {
		t.Errorf("busy came after %d fetches ended: it waited for them", early)
	}
	var e ErrorBody
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Kind != fault.Busy || !strings.Contains(e.Error, "busy") || e.Hint == "" {
		t.Errorf("busy reply %q: want kind busy, a message and a hint", body)
	}
	wg.Wait()
	if code, body := tn.req(t, "GET", "/v1/status", "", nil); code != 200 {
		t.Errorf("status once the fetches ended: %d %s", code, body)
	}
}
