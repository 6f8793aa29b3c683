package localapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/ghostwire/ghostwire/dm"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/room"
)

// The room routes (docs/api.md, Rooms). A room in a path is its name or
// its ID (or an unambiguous ID prefix of at least 8 digits), as the CLI
// takes it.

// createRoomRequest is POST /v1/rooms.
type createRoomRequest struct {
	Name string `json:"name"`
	// TTL is the room's timer from the start (docs/protocol.md §13.6):
	// "10m", "24h", "7d", 1m to 365d; empty for none.
	TTL string `json:"ttl,omitempty"`
}

// roomTimerRequest is POST /v1/rooms/{room}/timer: TTL as in
// createRoomRequest, "" or "off" clears the room's timer.
type roomTimerRequest struct {
	TTL string `json:"ttl"`
}

// roomPeerRequest is POST /v1/rooms/{room}/invites.
type roomPeerRequest struct {
	Peer string `json:"peer"`
}

// roomMessageRequest is POST /v1/rooms/{room}/messages.
type roomMessageRequest struct {
	Text string `json:"text"`
	// TTL and BurnAfterRead are the message's own timer (docs/protocol.md
	// §13.6); the room's timer applies without them, and a TTL longer
	// than the room's is refused.
	TTL           string `json:"ttl,omitempty"`
	BurnAfterRead bool   `json:"burn_after_read,omitempty"`
}

func roomRoutes() []route {
	return []route{
		{"GET /v1/rooms", jsonHandler((*server).rooms)},
		{"POST /v1/rooms", jsonHandler((*server).createRoom)},
		{"GET /v1/rooms/{room}/members", jsonHandler((*server).roomMembers)},
		{"POST /v1/rooms/{room}/invites", jsonHandler((*server).inviteToRoom)},
		{"POST /v1/rooms/{room}/join", roomDo(func(s *server, sp item.Space) (*apitype.Room, error) { return s.n.Room().Join(sp) })},
		{"POST /v1/rooms/{room}/leave", roomDo(func(s *server, sp item.Space) (*apitype.Room, error) { return s.n.Room().Leave(sp) })},
		{"DELETE /v1/rooms/{room}/members/{peer}", jsonHandler((*server).removeFromRoom)},
		{"POST /v1/rooms/{room}/messages", jsonHandler((*server).sendToRoom)},
		{"POST /v1/rooms/{room}/timer", jsonHandler((*server).setRoomTimer)},
		{"GET /v1/rooms/{room}/messages", func(s *server) http.HandlerFunc { return s.roomMessages }},
	}
}

func (s *server) room(r *http.Request) (item.Space, error) {
	return s.n.Room().Find(r.PathValue("room"))
}

func (s *server) rooms(r *http.Request) (int, any, error) {
	list, err := s.n.Room().List()
	return http.StatusOK, list, err
}

func (s *server) createRoom(r *http.Request) (int, any, error) {
	var req createRoomRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	ttl, err := roomTTL(req.TTL)
	if err != nil {
		return 0, nil, err
	}
	room, err := s.n.Room().Create(req.Name, ttl)
	return http.StatusCreated, room, err
}

// roomTTL reads a room timer: empty or "off" is none.
func roomTTL(s string) (time.Duration, error) {
	if s == "" || s == "off" {
		return 0, nil
	}
	return dm.ParseTTL(s)
}

func (s *server) setRoomTimer(r *http.Request) (int, any, error) {
	var req roomTimerRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	sp, err := s.room(r)
	if err != nil {
		return 0, nil, err
	}
	ttl, err := roomTTL(req.TTL)
	if err != nil {
		return 0, nil, err
	}
	room, err := s.n.Room().SetTimer(sp, ttl)
	return http.StatusOK, room, err
}

func (s *server) roomMembers(r *http.Request) (int, any, error) {
	sp, err := s.room(r)
	if err != nil {
		return 0, nil, err
	}
	m, err := s.n.Room().Members(sp)
	return http.StatusOK, m, err
}

func (s *server) inviteToRoom(r *http.Request) (int, any, error) {
	var req roomPeerRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	sp, err := s.room(r)
	if err != nil {
		return 0, nil, err
	}
	id, err := s.n.ResolvePeer(req.Peer)
	if err != nil {
		return 0, nil, err
	}
	room, err := s.n.Room().Invite(sp, id)
	return http.StatusOK, room, err
}

// roomDo is a route that applies one action to the room in the path.
func roomDo(action func(s *server, sp item.Space) (*apitype.Room, error)) func(s *server) http.HandlerFunc {
	return jsonHandler(func(s *server, r *http.Request) (int, any, error) {
		sp, err := s.room(r)
		if err != nil {
			return 0, nil, err
		}
		room, err := action(s, sp)
		return http.StatusOK, room, err
	})
}

func (s *server) removeFromRoom(r *http.Request) (int, any, error) {
	sp, err := s.room(r)
	if err != nil {
		return 0, nil, err
	}
	id, err := s.n.ResolvePeer(r.PathValue("peer"))
	if err != nil {
		return 0, nil, err
	}
	room, err := s.n.Room().Remove(sp, id)
	return http.StatusOK, room, err
}

func (s *server) sendToRoom(r *http.Request) (int, any, error) {
	var req roomMessageRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	sp, err := s.room(r)
	if err != nil {
		return 0, nil, err
	}
	t := room.Timer{AfterRead: req.BurnAfterRead}
	if req.TTL != "" {
		if t.TTL, err = dm.ParseTTL(req.TTL); err != nil {
			return 0, nil, err
		}
	}
	m, err := s.n.Room().Send(sp, req.Text, t)
	return http.StatusAccepted, m, err
}

// roomMessages is GET /v1/rooms/{room}/messages[?follow=1]; with follow it
// streams one JSON object per line, as GET /v1/messages does.
func (s *server) roomMessages(w http.ResponseWriter, r *http.Request) {
	sp, err := s.room(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if r.URL.Query().Get("follow") == "" {
		jsonHandler(func(s *server, _ *http.Request) (int, any, error) {
			m, err := s.n.Room().Messages(sp)
			return http.StatusOK, m, err
		})(s)(w, r)
		return
	}
	s.follow(w, r, func(ctx context.Context, emit func(any) error) error {
		return s.n.Room().Follow(ctx, sp, func(m *apitype.RoomMessage) error { return emit(m) })
	})
}

func roomPath(room string, rest ...string) string {
	p := "/v1/rooms/" + url.PathEscape(room)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// Rooms lists the rooms the node knows.
func (c *Client) Rooms(ctx context.Context) ([]apitype.Room, error) {
	var out []apitype.Room
	return out, c.Do(ctx, http.MethodGet, "/v1/rooms", nil, &out)
}

// CreateRoom makes a room owned by the node, with the timer ttl ("10m",
// "24h", "7d"; "" for none).
func (c *Client) CreateRoom(ctx context.Context, name, ttl string) (*apitype.Room, error) {
	var out apitype.Room
	return &out, c.Do(ctx, http.MethodPost, "/v1/rooms", createRoomRequest{Name: name, TTL: ttl}, &out)
}

// SetRoomTimer sets a room's timer ("10m", "24h", "7d"), or clears it
// ("off"); only the owner may.
func (c *Client) SetRoomTimer(ctx context.Context, room, ttl string) (*apitype.Room, error) {
	var out apitype.Room
	return &out, c.Do(ctx, http.MethodPost, roomPath(room, "timer"), roomTimerRequest{TTL: ttl}, &out)
}

// RoomMembers lists a room's members.
func (c *Client) RoomMembers(ctx context.Context, room string) (*apitype.RoomMembers, error) {
	var out apitype.RoomMembers
	return &out, c.Do(ctx, http.MethodGet, roomPath(room, "members"), nil, &out)
}

// InviteToRoom invites a peer to a room the node owns.
func (c *Client) InviteToRoom(ctx context.Context, room, peer string) (*apitype.Room, error) {
	var out apitype.Room
	return &out, c.Do(ctx, http.MethodPost, roomPath(room, "invites"), roomPeerRequest{Peer: peer}, &out)
}

// JoinRoom accepts the invitation to a room.
func (c *Client) JoinRoom(ctx context.Context, room string) (*apitype.Room, error) {
	var out apitype.Room
	return &out, c.Do(ctx, http.MethodPost, roomPath(room, "join"), nil, &out)
}

// LeaveRoom leaves a room.
func (c *Client) LeaveRoom(ctx context.Context, room string) (*apitype.Room, error) {
	var out apitype.Room
	return &out, c.Do(ctx, http.MethodPost, roomPath(room, "leave"), nil, &out)
}

// RemoveFromRoom removes a member from a room the node owns.
func (c *Client) RemoveFromRoom(ctx context.Context, room, peer string) (*apitype.Room, error) {
	var out apitype.Room
	return &out, c.Do(ctx, http.MethodDelete, roomPath(room, "members", peer), nil, &out)
}

// SendToRoom posts a message to a room, with its own timer: burning
// after each member reads it (afterRead), or when ttl ("10m", "24h",
// "7d") runs out; neither set, the room's timer applies, if any.
func (c *Client) SendToRoom(ctx context.Context, room, text string, afterRead bool, ttl string) (*apitype.RoomMessage, error) {
	var out apitype.RoomMessage
	return &out, c.Do(ctx, http.MethodPost, roomPath(room, "messages"), roomMessageRequest{Text: text, TTL: ttl, BurnAfterRead: afterRead}, &out)
}

// RoomMessages lists a room's messages.
func (c *Client) RoomMessages(ctx context.Context, room string) ([]apitype.RoomMessage, error) {
	var out []apitype.RoomMessage
	return out, c.Do(ctx, http.MethodGet, roomPath(room, "messages"), nil, &out)
}

// FollowRoom calls fn with a room's messages, then each new one, until ctx
// ends or fn fails.
func (c *Client) FollowRoom(ctx context.Context, room string, fn func(*apitype.RoomMessage) error) error {
	return c.Stream(ctx, roomPath(room, "messages")+Query("follow", "1"), func(raw json.RawMessage) error {
		var m apitype.RoomMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("reading the node's answer: %w", err)
		}
		return fn(&m)
	})
}
