package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"time"
)

// apiClient talks to a running node's local API over its Unix socket
// (docs/api.md). The CLI uses exactly this API, as any script can.
type apiClient struct {
	socket string
	http   *http.Client
}

func newAPIClient(dataDir string) *apiClient {
	sock := filepath.Join(dataDir, "api.sock")
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock) // cloak:allow the local API's Unix socket
		},
		DisableCompression: true,
	}
	return &apiClient{socket: sock, http: &http.Client{Transport: tr}}
}

type apiErrorBody struct {
	Error string `json:"error"`
	Hint  string `json:"hint"`
}

// do sends a request with an optional JSON body and decodes a JSON reply
// into out (if non-nil). API errors become CLI errors with the API's hint.
func (c *apiClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	resp, err := c.send(ctx, method, path, rd)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return fmt.Errorf("reading the node's answer: %w", err)
		}
	}
	return nil
}

// send makes one request (body, if any, is JSON) and returns the reply
// once it is a success; the caller closes its body. An unreachable node
// and an API error become CLI errors.
func (c *apiClient) send(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://ghostwire"+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.unreachable(err)
	}
	if err := apiError(resp); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// apiError is nil for a successful reply; otherwise it is the API's error
// as a CLI error with the API's hint (exit 2 for what the user asked wrong,
// 1 for the node's own failures).
func apiError(resp *http.Response) error {
	if resp.StatusCode < 300 {
		return nil
	}
	var e apiErrorBody
	json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e)
	code := exitForStatus(resp.StatusCode)
	var hints []string
	if e.Hint != "" {
		hints = append(hints, e.Hint)
	}
	if e.Error == "" {
		e.Error = resp.Status
	}
	return fail(code, errors.New(e.Error), hints...)
}

// exitForStatus is the exit code for an API error status: 2 for what the
// user asked wrong, 1 for the node's own failures.
func exitForStatus(status int) int {
	switch status {
	case http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge:
		return exitUsage
	}
	return exitFailure
}

// download copies a GET reply's body to w, or returns the API's error.
func (c *apiClient) download(ctx context.Context, path string, w io.Writer) error {
	resp, err := c.send(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("copying the node's reply (what was written is incomplete): %w", err)
	}
	return nil
}

func (c *apiClient) unreachable(err error) error {
	return fail(exitNotRunning, fmt.Errorf("cannot reach the node at %s: %v", c.socket, errors.Unwrap(err)),
		fmt.Sprintf("start it with 'ghostwire run --data %s'", filepath.Dir(c.socket)))
}

// stream calls fn for every JSON line of a streaming reply until ctx ends.
func (c *apiClient) stream(ctx context.Context, path string, fn func(json.RawMessage) error) error {
	resp, err := c.send(ctx, http.MethodGet, path, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var m json.RawMessage
		if err := dec.Decode(&m); err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := fn(m); err != nil {
			return err
		}
	}
}

func query(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			v.Set(kv[i], kv[i+1])
		}
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

// flag1 is a boolean query parameter: "1", or "" to leave it out.
func flag1(b bool) string {
	if b {
		return "1"
	}
	return ""
}

// apiTimeout bounds one CLI request.
const apiTimeout = 30 * time.Second
