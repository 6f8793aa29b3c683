package localapi

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/localapi/apitype"
)

// TestRoomRoutes walks a room through the API on one node (its tor never
// comes up): create, send, read, members; then the refusals, each with its
// status and a hint, none of which changes anything.
func TestRoomRoutes(t *testing.T) {
	tn := startTestNode(t, t.TempDir(), 1)
	other, _ := identity.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{9}, 64)))
	if code, body := tn.req(t, "POST", "/v1/peers", "application/json", strings.NewReader(`{"onion":"`+other.ID().String()+`","name":"bob"}`)); code != 201 {
		t.Fatalf("add peer: %d %s", code, body)
	}
	code, body := tn.req(t, "POST", "/v1/rooms", "application/json", strings.NewReader(`{"name":"ops"}`))
	var room apitype.Room
	if code != 201 || json.Unmarshal([]byte(body), &room) != nil || room.Status != apitype.RoomJoined || room.Members != 1 {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, body := tn.req(t, "POST", "/v1/rooms/ops/messages", "application/json", strings.NewReader(`{"text":"hello \u001b[2J"}`)); code != 202 {
		t.Fatalf("send: %d %s", code, body)
	}
	var msgs []apitype.RoomMessage
	_, body = tn.req(t, "GET", "/v1/rooms/"+room.ID[:10]+"/messages", "", nil)
	if json.Unmarshal([]byte(body), &msgs) != nil || len(msgs) != 1 || msgs[0].Text != "hello \x1b[2J" || !msgs[0].Mine {
		t.Fatalf("messages: %s", body)
	}
	var members apitype.RoomMembers
	_, body = tn.req(t, "GET", "/v1/rooms/ops/members", "", nil)
	if json.Unmarshal([]byte(body), &members) != nil || len(members.Members) != 1 || !members.Members[0].Owner || members.Room.KeyChanged == nil {
		t.Fatalf("members: %s", body)
	}

	before := tn.state(t)
	for _, c := range []struct {
		name, method, path, body string
		code                     int
		want                     string
	}{
		{"name of 100 KB", "POST", "/v1/rooms", `{"name":"` + strings.Repeat("x", 100<<10) + `"}`, 413, "larger than"},
		{"name over the limit", "POST", "/v1/rooms", `{"name":"` + strings.Repeat("x", 129) + `"}`, 400, "the limit is 128"},
		{"empty name", "POST", "/v1/rooms", `{"name":" "}`, 400, "empty"},
		{"unknown room", "POST", "/v1/rooms/nope/messages", `{"text":"x"}`, 404, "room list"},
		{"invite unknown peer", "POST", "/v1/rooms/ops/invites", `{"peer":"nobody"}`, 404, "no peer named"},
		{"invite a peer without key", "POST", "/v1/rooms/ops/invites", `{"peer":"bob"}`, 400, "sync with it once"},
		{"remove a non-member", "DELETE", "/v1/rooms/ops/members/bob", "", 400, "is not in"},
		{"owner leaves", "POST", "/v1/rooms/ops/leave", "", 400, "an owner cannot leave"},
		{"join without invitation", "POST", "/v1/rooms/ops/join", "", 400, "no pending invitation"},
		{"empty message", "POST", "/v1/rooms/ops/messages", `{"text":""}`, 400, "empty"},
	} {
		code, body := tn.req(t, c.method, c.path, "application/json", strings.NewReader(c.body))
		var e ErrorBody
		// The body limit answers before any room code runs, without a hint.
		if code != c.code || !strings.Contains(body, c.want) || json.Unmarshal([]byte(body), &e) != nil || e.Hint == "" {
			t.Errorf("%s: %d %s, want %d containing %q and a hint", c.name, code, body, c.code, c.want)
		}
		if after := tn.state(t); after != before {
			t.Fatalf("%s changed state", c.name)
		}
	}
}

// TestRoomTimerRoutes: the timer routes and fields reach the room service
// (docs/api.md, Rooms), and each refusal says why with a hint: a ttl that
// is not a duration or out of range, a message asking for a timer on a
// node without a burn vault (this test node has none), and a set-timer
// in a room one does not know. None changes anything.
func TestRoomTimerRoutes(t *testing.T) {
	tn := startTestNode(t, t.TempDir(), 1)
	if code, body := tn.req(t, "POST", "/v1/rooms", "application/json", strings.NewReader(`{"name":"ops"}`)); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	before := tn.state(t)
	for _, c := range []struct {
		name, method, path, body string
		code                     int
		want                     string
	}{
		{"ttl not a duration", "POST", "/v1/rooms", `{"name":"timed","ttl":"soon"}`, 400, "not a duration"},
		{"ttl under a minute", "POST", "/v1/rooms", `{"name":"timed","ttl":"30s"}`, 400, "outside the range"},
		{"ttl over 365 days", "POST", "/v1/rooms", `{"name":"timed","ttl":"366d"}`, 400, "outside the range"},
		{"room timer without a vault", "POST", "/v1/rooms", `{"name":"timed","ttl":"7d"}`, 400, "no burn vault"},
		{"set-timer without a vault", "POST", "/v1/rooms/ops/timer", `{"ttl":"1h"}`, 400, "no burn vault"},
		{"set-timer out of range", "POST", "/v1/rooms/ops/timer", `{"ttl":"400d"}`, 400, "outside the range"},
		{"set-timer unknown room", "POST", "/v1/rooms/nope/timer", `{"ttl":"off"}`, 404, "room list"},
		{"message ttl without a vault", "POST", "/v1/rooms/ops/messages", `{"text":"x","ttl":"10m"}`, 400, "no burn vault"},
		{"after-read without a vault", "POST", "/v1/rooms/ops/messages", `{"text":"x","burn_after_read":true}`, 400, "no burn vault"},
		{"message ttl not a duration", "POST", "/v1/rooms/ops/messages", `{"text":"x","ttl":"later"}`, 400, "not a duration"},
	} {
		code, body := tn.req(t, c.method, c.path, "application/json", strings.NewReader(c.body))
		var e ErrorBody
		if code != c.code || !strings.Contains(body, c.want) || json.Unmarshal([]byte(body), &e) != nil || e.Hint == "" {
			t.Errorf("%s: %d %s, want %d containing %q and a hint", c.name, code, body, c.code, c.want)
		}
		if after := tn.state(t); after != before {
			t.Fatalf("%s changed state", c.name)
		}
	}
	// Clearing a timer the room does not have changes nothing, and says so.
	code, body := tn.req(t, "POST", "/v1/rooms/ops/timer", "application/json", strings.NewReader(`{"ttl":"off"}`))
	var room apitype.Room
	if code != 200 || json.Unmarshal([]byte(body), &room) != nil || room.Timer != "" || room.Epoch != 0 {
		t.Fatalf("set-timer off on a room without one: %d %s", code, body)
	}
}
