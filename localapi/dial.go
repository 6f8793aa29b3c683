package localapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"
)

// AnswerWait is how long the client waits for a node that accepted a
// connection to start answering before it reports the node busy. It is
// longer than any answer a healthy node takes to begin; a request that
// waits on purpose (fetch's --wait) adds its own wait to it.
const AnswerWait = 10 * time.Second

// NotRunningError means nothing listens at the socket: it does not exist
// or refuses connections, so the node is not running (or not with this
// data directory).
type NotRunningError struct {
	Socket string
	Err    error
}

func (e *NotRunningError) Error() string {
	return fmt.Sprintf("cannot reach the node at %s: %v", e.Socket, e.Err)
}

func (e *NotRunningError) Unwrap() error { return e.Err }

// BusyError means a node accepted the connection but did not start its
// answer within Wait: it runs, but is overloaded or stuck. Nothing about
// the request's outcome is known.
type BusyError struct {
	Socket string
	Wait   time.Duration
}

func (e *BusyError) Error() string {
	if e.Wait == 0 {
		return fmt.Sprintf("the node at %s is busy (its queue of connections is full)", e.Socket)
	}
	return fmt.Sprintf("the node at %s is busy (no answer in %s)", e.Socket, e.Wait)
}

// ForeignSocketError means the socket, or the process listening on it,
// belongs to another user than the client's. The client sends nothing to
// it: another local user who put a socket where the node's should be would
// otherwise read every request, message text included.
type ForeignSocketError struct {
	Socket string
	UID    uint32 // the owner found: of the file, or of the listening process
	What   string // "file" or "listener"
}

func (e *ForeignSocketError) Error() string {
	return fmt.Sprintf("someone else's socket at %s (its %s belongs to uid %d, not to you, uid %d)",
		e.Socket, e.What, e.UID, os.Getuid())
}

// dialOwn connects to the node's socket and proves, before a byte is sent,
// that both the socket file and the process that listens on it belong to
// this user. The file check alone would race with a swap of the file; the
// listener's credentials (SO_PEERCRED, taken by the kernel when it called
// listen) are what decides.
func dialOwn(ctx context.Context, socket string) (net.Conn, error) {
	me := uint32(os.Getuid())
	if fi, err := os.Lstat(socket); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != me {
			return nil, &ForeignSocketError{Socket: socket, UID: st.Uid, What: "file"}
		}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket) // cloak:allow the local API's Unix socket
	if err != nil {
		return nil, err
	}
	uid, err := listenerUID(conn)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("localapi: checking who listens at %s: %w", socket, err)
	}
	if uid != me {
		conn.Close()
		return nil, &ForeignSocketError{Socket: socket, UID: uid, What: "listener"}
	}
	return conn, nil
}

// listenerUID is the user ID of the process at the other end of a Unix
// socket connection.
func listenerUID(conn net.Conn) (uint32, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return 0, errors.New("not a Unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, cerr
	}
	return cred.Uid, nil
}

// unreachable classifies a failed request that got no answer: a foreign
// socket; nothing listening (not running); a full backlog (busy); anything
// else, such as a socket this user may not open, as it is.
func (c *Client) unreachable(err error) error {
	var fe *ForeignSocketError
	if errors.As(err, &fe) {
		return fe
	}
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED):
		return &NotRunningError{Socket: c.socket, Err: syscall.ECONNREFUSED}
	case errors.Is(err, syscall.EAGAIN):
		return &BusyError{Socket: c.socket}
	}
	if u := errors.Unwrap(err); u != nil {
		err = u
	}
	return fmt.Errorf("localapi: cannot use the node's socket %s: %w", c.socket, err)
}

// errNoAnswer is the cause of a request's cancellation when the node did
// not start answering in time.
var errNoAnswer = errors.New("localapi: no answer in time")

// do sends req and returns once the node's answer has begun. If it has not
// begun within wait (0: no limit) the request is abandoned and the error is
// a *BusyError. The deadline stops at the answer's headers, so a long
// stream (a --follow, an export) is not cut.
func (c *Client) do(req *http.Request, wait time.Duration) (*http.Response, error) {
	if wait <= 0 {
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, c.unreachable(err)
		}
		return resp, nil
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	timer := time.AfterFunc(wait, func() { cancel(errNoAnswer) })
	resp, err := c.http.Do(req.WithContext(ctx))
	timer.Stop()
	if err != nil {
		busy := errors.Is(context.Cause(ctx), errNoAnswer)
		cancel(nil)
		if busy {
			return nil, &BusyError{Socket: c.socket, Wait: wait}
		}
		return nil, c.unreachable(err)
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: func() { cancel(nil) }}
	return resp, nil
}

// cancelOnClose releases a request's context when its answer is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel func()
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
