package firmware

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
	"time"
	"unicode/utf8"
)

// Client talks to a console's control API over its unix socket.
type Client struct {
	socket string
	hc     *http.Client
}

// NewClient returns a client for the control socket at path.
func NewClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
	}
	return &Client{socket: path, hc: &http.Client{Transport: tr}}
}

// Close drops idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// APIError is an error answer from the console.
type APIError struct {
	Status int
	Kind   string
	Msg    string
}

func (e *APIError) Error() string { return e.Msg }

// Refused reports whether a guard refused the request (consolectl exit 3).
func (e *APIError) Refused() bool { return e.Kind == "refused" }

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("reading the answer of consoled at %s: %w", c.socket, err)
	}
	return nil
}

// send makes a request and returns the response of a 2xx answer, or the
// console's error as an *APIError.
func (c *Client) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://consoled"+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ne *net.OpError
		if errors.As(err, &ne) && ne.Op == "dial" {
			return nil, fmt.Errorf("cannot reach consoled at %s (is it running? --socket or $CONSOLED_SOCKET name the socket): %v", c.socket, ne.Err)
		}
		return nil, fmt.Errorf("consoled at %s: %w", c.socket, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	var e ErrorJSON
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Error == "" {
		return nil, &APIError{Status: resp.StatusCode, Kind: "internal", Msg: fmt.Sprintf("consoled answered %s", resp.Status)}
	}
	return nil, &APIError{Status: resp.StatusCode, Kind: e.Kind, Msg: e.Error}
}

func (c *Client) Status(ctx context.Context) (StatusJSON, error) {
	var s StatusJSON
	return s, c.do(ctx, "GET", "/v1/status", nil, &s)
}

func (c *Client) Launch(ctx context.Context, show string, force bool) (StatusJSON, error) {
	var s StatusJSON
	return s, c.do(ctx, "POST", "/v1/launch", LaunchRequest{Show: show, Force: force}, &s)
}

func (c *Client) Logoff(ctx context.Context) (StatusJSON, error) {
	var s StatusJSON
	return s, c.do(ctx, "POST", "/v1/logoff", struct{}{}, &s)
}

// Set records key=value and returns its seq once acknowledged.
func (c *Client) Set(ctx context.Context, key, value string) (uint64, error) {
	// JSON would quietly turn invalid bytes into U+FFFD: refuse them here.
	if !utf8.ValidString(value) {
		return 0, fmt.Errorf("value of %q is not valid UTF-8 text", key)
	}
	var r EditResponse
	return r.Seq, c.do(ctx, "POST", "/v1/edit", EditRequest{Key: key, Value: value}, &r)
}

// Delete records the deletion of key and returns its seq once acknowledged.
func (c *Client) Delete(ctx context.Context, key string) (uint64, error) {
	var r EditResponse
	return r.Seq, c.do(ctx, "POST", "/v1/edit", EditRequest{Key: key, Delete: true}, &r)
}

func (c *Client) Get(ctx context.Context, key string) (string, error) {
	var o ObjectJSON
	return o.Value, c.do(ctx, "GET", "/v1/object?key="+url.QueryEscape(key), nil, &o)
}

// DumpTo copies the show's DumpJSON to w as it streams in.
func (c *Client) DumpTo(ctx context.Context, w io.Writer) error {
	resp, err := c.send(ctx, "GET", "/v1/dump", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("dump from consoled at %s broke off: %w", c.socket, err)
	}
	return nil
}

func (c *Client) Dump(ctx context.Context) (DumpJSON, error) {
	var d DumpJSON
	return d, c.do(ctx, "GET", "/v1/dump", nil, &d)
}

func (c *Client) Press(ctx context.Context, button string, hold time.Duration) (PressResponse, error) {
	var r PressResponse
	return r, c.do(ctx, "POST", "/v1/press", PressRequest{Button: button, HoldMS: hold.Milliseconds()}, &r)
}

func (c *Client) Link(ctx context.Context, up bool) (StatusJSON, error) {
	var s StatusJSON
	return s, c.do(ctx, "POST", "/v1/link", LinkRequest{Up: up}, &s)
}

func (c *Client) Panel(ctx context.Context) (map[string]string, error) {
	var m map[string]string
	return m, c.do(ctx, "GET", "/v1/panel", nil, &m)
}

func (c *Client) Archives(ctx context.Context) ([]ArchiveJSON, error) {
	var a []ArchiveJSON
	return a, c.do(ctx, "GET", "/v1/archives", nil, &a)
}

func (c *Client) NetworkKey(ctx context.Context) (KeyJSON, error) {
	var k KeyJSON
	return k, c.do(ctx, "GET", "/v1/network-key", nil, &k)
}
