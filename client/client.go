// Package client speaks a console's control API (package api): HTTP/1.1 for
// requests, and the edit stream for Set and Delete. It holds no service
// code, so a program that uses it links neither the engine, the store nor
// the HAL.
//
// A transport is a DialFunc: Unix dials the control socket; a remote
// transport (TLS with the show network's key) is another DialFunc given to
// New.
package client

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
	"sync"
	"time"

	"consoled/api"
)

// DialFunc opens a connection to a console's control API.
type DialFunc func(ctx context.Context) (net.Conn, error)

// Options tune a Client. The zero value is usable.
type Options struct {
	// Where names the console in messages, e.g. its socket's path.
	// Default "consoled".
	Where string
	// Window bounds the edits sent and not yet answered; Set and Delete
	// wait for room. Default 4096.
	Window int
	// IdleConns bounds the kept-alive connections for requests other than
	// edits. Default 16.
	IdleConns int
}

func (o *Options) defaults() {
	if o.Where == "" {
		o.Where = "consoled"
	}
	if o.Window <= 0 {
		o.Window = 4096
	}
	if o.IdleConns <= 0 {
		o.IdleConns = 16
	}
}

// Client is a client of one console. Its methods are safe for concurrent
// use.
type Client struct {
	opts   Options
	dial   DialFunc
	hc     *http.Client
	tr     *http.Transport
	window chan struct{} // a slot per unanswered edit

	mu     sync.Mutex // guards st and closed; held while a stream is dialled
	st     *stream
	closed bool
}

// New returns a client that reaches its console through dial.
func New(dial DialFunc, opts Options) *Client {
	opts.defaults()
	c := &Client{opts: opts, window: make(chan struct{}, opts.Window)}
	c.dial = func(ctx context.Context) (net.Conn, error) {
		nc, err := dial(ctx)
		if err != nil {
			return nil, &DialError{Where: opts.Where, Err: err}
		}
		return nc, nil
	}
	c.tr = &http.Transport{
		DialContext:         func(ctx context.Context, _, _ string) (net.Conn, error) { return c.dial(ctx) },
		MaxIdleConnsPerHost: opts.IdleConns,
		// Shorter than the console's idle timeout, so that the console
		// rarely closes a connection this client is about to use.
		IdleConnTimeout:    30 * time.Second,
		DisableCompression: true,
	}
	c.hc = &http.Client{Transport: c.tr}
	return c
}

// Unix returns a client of the control socket at path.
func Unix(path string) *Client {
	return New(DialUnix(path), Options{Where: path})
}

// DialUnix dials the control socket at path.
func DialUnix(path string) DialFunc {
	return func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, "unix", path)
		var oe *net.OpError
		if errors.As(err, &oe) {
			err = oe.Err // the path is in the DialError already
		}
		return nc, err
	}
}

// DialError is a console that could not be reached.
type DialError struct {
	Where string
	Err   error
}

func (e *DialError) Error() string {
	return fmt.Sprintf("cannot reach consoled at %s: %v", e.Where, e.Err)
}
func (e *DialError) Unwrap() error { return e.Err }

// Close closes the client's connections. Edits still waiting for their
// answers fail.
func (c *Client) Close() {
	c.tr.CloseIdleConnections()
	c.mu.Lock()
	c.closed = true
	st := c.st
	c.st = nil
	c.mu.Unlock()
	if st != nil {
		st.close(fmt.Errorf("consoled at %s: the client was closed", c.opts.Where))
	}
}

// do makes a request and decodes a 2xx answer into out (unless nil).
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
		return fmt.Errorf("reading the answer of consoled at %s: %w", c.opts.Where, err)
	}
	return nil
}

// send makes a request and returns the response of a 2xx answer, or the
// console's error answer as an *api.Error.
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
		var de *DialError
		if errors.As(err, &de) {
			return nil, de
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("consoled at %s: %w", c.opts.Where, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, errorAnswer(resp)
}

// errorAnswer reads an error answer.
func errorAnswer(resp *http.Response) *api.Error {
	var e api.ErrorAnswer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e); err != nil || e.Error == "" {
		return &api.Error{Status: resp.StatusCode, Kind: api.KindInternal, Message: fmt.Sprintf("consoled answered %s", resp.Status)}
	}
	return &api.Error{Status: resp.StatusCode, Kind: e.Kind, Message: e.Error}
}

// Status returns the console's state.
func (c *Client) Status(ctx context.Context) (api.Status, error) {
	var s api.Status
	return s, c.do(ctx, "GET", api.PathStatus, nil, &s)
}

// Launch logs on to show; force overrides the stale-launch guard.
func (c *Client) Launch(ctx context.Context, show string, force bool) (api.Status, error) {
	var s api.Status
	return s, c.do(ctx, "POST", api.PathLaunch, api.LaunchRequest{Show: show, Force: force}, &s)
}

// Logoff logs off the show.
func (c *Client) Logoff(ctx context.Context) (api.Status, error) {
	var s api.Status
	return s, c.do(ctx, "POST", api.PathLogoff, struct{}{}, &s)
}

// PostEdit records an edit with a plain POST /v1/edit, as any HTTP client
// can, and returns its seq once acknowledged. Set and Delete are faster.
func (c *Client) PostEdit(ctx context.Context, key, value string, del bool) (uint64, error) {
	var a api.EditAnswer
	return a.Seq, c.do(ctx, "POST", api.PathEdit, api.EditRequest{Key: key, Value: value, Delete: del}, &a)
}

// Get returns one object's value.
func (c *Client) Get(ctx context.Context, key string) (string, error) {
	var o api.Object
	return o.Value, c.do(ctx, "GET", api.PathObject+"?key="+url.QueryEscape(key), nil, &o)
}

// DumpTo copies the show's api.Dump JSON to w as it streams in.
func (c *Client) DumpTo(ctx context.Context, w io.Writer) error {
	resp, err := c.send(ctx, "GET", api.PathDump, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("dump from consoled at %s broke off: %w", c.opts.Where, err)
	}
	return nil
}

// Dump returns every object of the live show.
func (c *Client) Dump(ctx context.Context) (api.Dump, error) {
	var d api.Dump
	return d, c.do(ctx, "GET", api.PathDump, nil, &d)
}

// Press presses a front-panel button for hold (a board that can, such as
// the mock board) and returns what the press did.
func (c *Client) Press(ctx context.Context, button string, hold time.Duration) (api.PressAnswer, error) {
	var r api.PressAnswer
	return r, c.do(ctx, "POST", api.PathPress, api.PressRequest{Button: button, HoldMS: hold.Milliseconds()}, &r)
}

// Link sets the NIC's carrier (a board that can, such as the mock board).
func (c *Client) Link(ctx context.Context, up bool) (api.Status, error) {
	var s api.Status
	return s, c.do(ctx, "POST", api.PathLink, api.LinkRequest{Up: up}, &s)
}

// Panel returns the LEDs.
func (c *Client) Panel(ctx context.Context) (api.Panel, error) {
	var m api.Panel
	return m, c.do(ctx, "GET", api.PathPanel, nil, &m)
}

// Archives lists the kept copies.
func (c *Client) Archives(ctx context.Context) ([]api.Archive, error) {
	var a []api.Archive
	return a, c.do(ctx, "GET", api.PathArchives, nil, &a)
}

// Ack acknowledges the reported merges and returns how many there were.
func (c *Client) Ack(ctx context.Context) (int, error) {
	var r api.AckAnswer
	err := c.do(ctx, "POST", api.PathAck, struct{}{}, &r)
	return r.Acknowledged, err
}

// Restore brings an archive back as a show of its own and returns its name.
func (c *Client) Restore(ctx context.Context, archive string) (string, error) {
	var r api.RestoreAnswer
	err := c.do(ctx, "POST", api.PathRestore, api.RestoreRequest{Archive: archive}, &r)
	return r.Show, err
}

// NetworkKey returns the show network's key.
func (c *Client) NetworkKey(ctx context.Context) (api.NetworkKey, error) {
	var k api.NetworkKey
	return k, c.do(ctx, "GET", api.PathNetworkKey, nil, &k)
}
