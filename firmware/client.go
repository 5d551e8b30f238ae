package firmware

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"consoled/api"
)

// Client talks to a console's control API over its unix socket.
type Client struct {
	socket string
	hc     *http.Client

	// Edits (set, delete) skip http.Transport: they are the hot path of
	// scripts and panels, and the Transport's two goroutines and channel
	// hand-offs per request cost more CPU than the edit itself. They speak
	// the same HTTP/1.1 over kept-alive connections of their own.
	editMu    sync.Mutex
	editIdle  []*editConn
	editClose bool

	// Ordinary edits are pipelined: callers queue their requests on a
	// shared connection, the first one to find the connection's writer
	// free writes everything queued with one write, and a reader per
	// connection hands each answer (they come in request order) to its
	// caller. The console reads and commits what arrived together, so 64
	// callers cost a few syscalls per batch instead of four per edit.
	pipeMu sync.Mutex
	pipes  []*pipeConn
}

// editConn is a kept-alive control connection for edits, used by one
// request at a time.
type editConn struct {
	nc     net.Conn
	br     *bufio.Reader
	socket string // for messages
	req    []byte // reused
}

// maxIdleEdit bounds the edit connections kept open between requests.
const maxIdleEdit = 256

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
func (c *Client) Close() {
	c.hc.CloseIdleConnections()
	c.editMu.Lock()
	idle := c.editIdle
	c.editIdle = nil
	c.editMu.Unlock()
	for _, ec := range idle {
		ec.nc.Close()
	}
	c.pipeMu.Lock()
	for _, pc := range c.pipes {
		pc.mu.Lock()
		if len(pc.calls) == 0 {
			pc.failLocked(fmt.Errorf("consoled at %s: connection closed by the client", c.socket), 0)
		}
		pc.mu.Unlock()
	}
	c.pipeMu.Unlock()
}

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
	var e api.ErrorAnswer
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Error == "" {
		return nil, &APIError{Status: resp.StatusCode, Kind: "internal", Msg: fmt.Sprintf("consoled answered %s", resp.Status)}
	}
	return nil, &APIError{Status: resp.StatusCode, Kind: string(e.Kind), Msg: e.Error}
}

func (c *Client) Status(ctx context.Context) (api.Status, error) {
	var s api.Status
	return s, c.do(ctx, "GET", "/v1/status", nil, &s)
}

func (c *Client) Launch(ctx context.Context, show string, force bool) (api.Status, error) {
	var s api.Status
	return s, c.do(ctx, "POST", "/v1/launch", api.LaunchRequest{Show: show, Force: force}, &s)
}

func (c *Client) Logoff(ctx context.Context) (api.Status, error) {
	var s api.Status
	return s, c.do(ctx, "POST", "/v1/logoff", struct{}{}, &s)
}

// Set records key=value and returns its seq once acknowledged.
func (c *Client) Set(ctx context.Context, key, value string) (uint64, error) {
	// JSON would quietly turn invalid bytes into U+FFFD: refuse them here.
	if !utf8.ValidString(value) {
		return 0, fmt.Errorf("value of %q is not valid UTF-8 text", key)
	}
	return c.edit(ctx, key, value, false)
}

// Delete records the deletion of key and returns its seq once acknowledged.
func (c *Client) Delete(ctx context.Context, key string) (uint64, error) {
	return c.edit(ctx, key, "", true)
}

// edit posts an api.EditRequest to /v1/edit, on a kept-alive connection.
func (c *Client) edit(ctx context.Context, key, value string, del bool) (uint64, error) {
	if !utf8.ValidString(key) {
		// appendJSONString needs valid UTF-8; let encoding/json say what
		// it does with the rest.
		var r api.EditAnswer
		return r.Seq, c.do(ctx, "POST", "/v1/edit", api.EditRequest{Key: key, Value: value, Delete: del}, &r)
	}
	if len(key)+len(value) <= maxPipelined {
		return c.pipelinedEdit(ctx, key, value, del)
	}
	ec, reused, err := c.editConn(ctx)
	if err != nil {
		return 0, err
	}
	seq, keep, sent, err := ec.roundTrip(ctx, key, value, del)
	if err != nil && reused && !sent {
		// The kept connection was closed by the console (it restarted, say)
		// and took none of this request: one more try on a new one, as
		// http.Transport does.
		ec.nc.Close()
		if ec, _, err = c.dialEdit(ctx); err != nil {
			return 0, err
		}
		seq, keep, _, err = ec.roundTrip(ctx, key, value, del)
	}
	if keep {
		c.putEditConn(ec)
	} else {
		ec.nc.Close()
	}
	return seq, err
}

func (c *Client) editConn(ctx context.Context) (ec *editConn, reused bool, err error) {
	c.editMu.Lock()
	if n := len(c.editIdle); n > 0 {
		ec = c.editIdle[n-1]
		c.editIdle[n-1] = nil
		c.editIdle = c.editIdle[:n-1]
	}
	c.editMu.Unlock()
	if ec != nil {
		return ec, true, nil
	}
	return c.dialEdit(ctx)
}

func (c *Client) dialEdit(ctx context.Context) (*editConn, bool, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		var ne *net.OpError
		if errors.As(err, &ne) {
			err = ne.Err
		}
		return nil, false, fmt.Errorf("cannot reach consoled at %s (is it running? --socket or $CONSOLED_SOCKET name the socket): %v", c.socket, err)
	}
	return &editConn{nc: nc, br: bufio.NewReaderSize(nc, 4096), socket: c.socket}, false, nil
}

func (c *Client) putEditConn(ec *editConn) {
	c.editMu.Lock()
	if len(c.editIdle) < maxIdleEdit {
		c.editIdle = append(c.editIdle, ec)
		ec = nil
	}
	c.editMu.Unlock()
	if ec != nil {
		ec.nc.Close()
	}
}

// roundTrip sends one edit request and reads its answer. keep reports
// whether the connection can take another request; sent whether the request
// may have reached the console (false only when writing it failed).
func (ec *editConn) roundTrip(ctx context.Context, key, value string, del bool) (seq uint64, keep, sent bool, err error) {
	if dl, ok := ctx.Deadline(); ok {
		ec.nc.SetDeadline(dl)
		defer ec.nc.SetDeadline(time.Time{})
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { ec.nc.SetDeadline(time.Unix(1, 0)) })
		defer func() {
			if !stop() {
				// Cancelled: the connection may be cut mid-answer.
				keep = false
				if err == nil {
					seq, err = 0, ctx.Err()
				}
			}
		}()
	}
	req := appendEditRequest(ec.req[:0], key, value, del)
	if cap(req) <= 64<<10 { // keep the buffers of ordinary edits only
		ec.req = req
	}
	if _, err := ec.nc.Write(req); err != nil {
		return 0, false, false, fmt.Errorf("consoled at %s: %w", ec.socket, err)
	}
	if _, err := ec.br.Peek(1); err != nil {
		return 0, false, true, fmt.Errorf("consoled at %s: %w", ec.socket, err)
	}
	seq, keep, err = readEditAnswer(ec.br, ec.socket)
	return seq, keep, true, err
}

// appendEditRequest appends the HTTP request of an edit; key and value are
// valid UTF-8.
func appendEditRequest(req []byte, key, value string, del bool) []byte {
	var lenAt int
	req = append(req, "POST /v1/edit HTTP/1.1\r\nHost: consoled\r\nContent-Type: application/json\r\nContent-Length: "...)
	// The body's length is known once it is written: leave room for it.
	lenAt = len(req)
	req = append(req, "          \r\n\r\n"...)
	bodyAt := len(req)
	req = append(req, `{"key":`...)
	req = appendJSONString(req, key)
	if del {
		req = append(req, `,"delete":true}`...)
	} else {
		req = append(req, `,"value":`...)
		req = appendJSONString(req, value)
		req = append(req, '}')
	}
	var n [10]byte
	digits := strconv.AppendInt(n[:0], int64(len(req)-bodyAt), 10)
	// Shift the head's tail left over the unused room.
	room := 10 - len(digits)
	copy(req[lenAt:], digits)
	copy(req[lenAt+len(digits):], req[lenAt+10:])
	return req[:len(req)-room]
}

// readEditAnswer reads the answer to an edit from br, whose first byte has
// arrived. keep reports whether the connection can take another request.
func readEditAnswer(br *bufio.Reader, socket string) (seq uint64, keep bool, err error) {
	if seq, ok := quickAnswer(br); ok {
		return seq, true, nil
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, false, fmt.Errorf("consoled at %s: %w", socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e api.ErrorAnswer
		derr := json.NewDecoder(resp.Body).Decode(&e)
		_, cerr := io.Copy(io.Discard, resp.Body)
		keep = derr == nil && cerr == nil && !resp.Close
		if derr != nil || e.Error == "" {
			return 0, keep, &APIError{Status: resp.StatusCode, Kind: "internal", Msg: fmt.Sprintf("consoled answered %s", resp.Status)}
		}
		return 0, keep, &APIError{Status: resp.StatusCode, Kind: string(e.Kind), Msg: e.Error}
	}
	var r api.EditAnswer
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, false, fmt.Errorf("reading the answer of consoled at %s: %w", socket, err)
	}
	_, cerr := io.Copy(io.Discard, resp.Body)
	return r.Seq, cerr == nil && !resp.Close, nil
}

// quickAnswer takes the common answer to an edit, when it has fully arrived:
// "200 OK" with a Content-Length, no Connection or Transfer-Encoding header,
// and the body {"seq":N}. Anything else it leaves unread for
// http.ReadResponse, so it only saves that general parser's work.
func quickAnswer(br *bufio.Reader) (uint64, bool) {
	buf, _ := br.Peek(br.Buffered())
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 || !bytes.HasPrefix(buf, []byte("HTTP/1.1 200 ")) {
		return 0, false
	}
	hdr := buf[:end]
	length := -1
	for len(hdr) > 0 {
		line := hdr
		if i := bytes.Index(hdr, []byte("\r\n")); i >= 0 {
			line, hdr = hdr[:i], hdr[i+2:]
		} else {
			hdr = nil
		}
		name, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue // the status line
		}
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.Atoi(string(bytes.TrimSpace(val)))
			if err != nil || length >= 0 {
				return 0, false
			}
			length = n
		case bytes.EqualFold(name, []byte("Connection")), bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return 0, false
		}
	}
	start := end + 4
	if length < 0 || len(buf) < start+length {
		return 0, false
	}
	body := bytes.TrimSuffix(buf[start:start+length], []byte("\n"))
	digits, ok1 := bytes.CutPrefix(body, []byte(`{"seq":`))
	digits, ok2 := bytes.CutSuffix(digits, []byte("}"))
	if !ok1 || !ok2 || len(digits) == 0 || digits[0] == '0' && len(digits) > 1 {
		return 0, false
	}
	seq, err := strconv.ParseUint(string(digits), 10, 64)
	if err != nil {
		return 0, false
	}
	br.Discard(start + length)
	return seq, true
}

// appendJSONString appends s, valid UTF-8, as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func (c *Client) Get(ctx context.Context, key string) (string, error) {
	var o api.Object
	return o.Value, c.do(ctx, "GET", "/v1/object?key="+url.QueryEscape(key), nil, &o)
}

// DumpTo copies the show's api.Dump to w as it streams in.
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

func (c *Client) Dump(ctx context.Context) (api.Dump, error) {
	var d api.Dump
	return d, c.do(ctx, "GET", "/v1/dump", nil, &d)
}

func (c *Client) Press(ctx context.Context, button string, hold time.Duration) (api.PressAnswer, error) {
	var r api.PressAnswer
	return r, c.do(ctx, "POST", "/v1/press", api.PressRequest{Button: button, HoldMS: hold.Milliseconds()}, &r)
}

func (c *Client) Link(ctx context.Context, up bool) (api.Status, error) {
	var s api.Status
	return s, c.do(ctx, "POST", "/v1/link", api.LinkRequest{Up: up}, &s)
}

func (c *Client) Panel(ctx context.Context) (map[string]string, error) {
	var m map[string]string
	return m, c.do(ctx, "GET", "/v1/panel", nil, &m)
}

func (c *Client) Archives(ctx context.Context) ([]api.Archive, error) {
	var a []api.Archive
	return a, c.do(ctx, "GET", "/v1/archives", nil, &a)
}

// Ack acknowledges the reported merges and returns how many there were.
func (c *Client) Ack(ctx context.Context) (int, error) {
	var r api.AckAnswer
	err := c.do(ctx, "POST", "/v1/ack", struct{}{}, &r)
	return r.Acknowledged, err
}

// Restore brings an archive back as a show of its own and returns its name.
func (c *Client) Restore(ctx context.Context, archive string) (string, error) {
	var r api.RestoreAnswer
	err := c.do(ctx, "POST", "/v1/restore", api.RestoreRequest{Archive: archive}, &r)
	return r.Show, err
}

func (c *Client) NetworkKey(ctx context.Context) (api.NetworkKey, error) {
	var k api.NetworkKey
	return k, c.do(ctx, "GET", "/v1/network-key", nil, &k)
}

// maxPipelined bounds the key and value of a pipelined edit: the console's
// fast path takes requests of up to 32 KiB, and a larger one (which JSON
// escaping may double) goes on a connection of its own.
const maxPipelined = 12 << 10

// maxPipes is how many pipelined connections a client keeps. The console
// serves one connection's requests a batch at a time, in order; one
// connection carries the most edits per batch, and on the bench (64
// callers, two backups) a second one's smaller batches cost more than the
// overlap wins.
const maxPipes = 1

// pipeConn is a control connection carrying pipelined edits.
type pipeConn struct {
	c  *Client
	nc net.Conn
	br *bufio.Reader

	mu      sync.Mutex
	out     []byte      // requests queued for the writer
	spare   []byte      // the writer's last buffer, for reuse
	writing bool        // a caller is writing out
	calls   []*pipeCall // waiting for their answers, in request order
	queued  int         // how many of calls (the last ones) are in out
	err     error       // the connection is broken
}

// pipeCall is one pipelined edit.
type pipeCall struct {
	done chan struct{}
	seq  uint64
	err  error
	sent bool // the request may have reached the console
}

func (c *Client) pipelinedEdit(ctx context.Context, key, value string, del bool) (uint64, error) {
	req := appendEditRequest(make([]byte, 0, 128+len(key)+len(value)), key, value, del)
	for attempt := 0; ; attempt++ {
		pc, err := c.pipe(ctx)
		if err != nil {
			return 0, err
		}
		call := pc.queue(req)
		select {
		case <-call.done:
		case <-ctx.Done():
			// The answer, when it comes, goes nowhere; the connection
			// stays in step.
			return 0, ctx.Err()
		}
		if call.err != nil && !call.sent && attempt == 0 {
			// The connection broke before this request went out (the
			// console closed a kept connection, say): one more try on a
			// new one, as http.Transport does.
			continue
		}
		return call.seq, call.err
	}
}

// pipe returns the pipelined connection with the fewest edits waiting,
// opening another while there are fewer than maxPipes and all are busy.
func (c *Client) pipe(ctx context.Context) (*pipeConn, error) {
	c.pipeMu.Lock()
	defer c.pipeMu.Unlock()
	var best *pipeConn
	bestN := 0
	for _, pc := range c.pipes {
		pc.mu.Lock()
		n, broken := len(pc.calls), pc.err != nil
		pc.mu.Unlock()
		if broken {
			continue
		}
		if best == nil || n < bestN {
			best, bestN = pc, n
		}
	}
	if best != nil && (bestN == 0 || len(c.pipes) >= maxPipes) {
		return best, nil
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		if best != nil {
			return best, nil
		}
		var ne *net.OpError
		if errors.As(err, &ne) {
			err = ne.Err
		}
		return nil, fmt.Errorf("cannot reach consoled at %s (is it running? --socket or $CONSOLED_SOCKET name the socket): %v", c.socket, err)
	}
	pc := &pipeConn{c: c, nc: nc, br: bufio.NewReaderSize(nc, 16<<10)}
	c.pipes = append(c.pipes, pc)
	go pc.readAnswers()
	return pc, nil
}

// queue adds req to pc's outgoing requests and writes out everything
// queued, unless another caller is writing or earlier requests await their
// answers. The console serves a connection's requests a batch at a time,
// so requests sent meanwhile would only wait there, and then go as a small
// batch of their own, holding up the large one behind it for a whole
// round: they wait here instead and go with the next batch, which the
// answers' reader sends once the last answer is in.
func (pc *pipeConn) queue(req []byte) *pipeCall {
	call := &pipeCall{done: make(chan struct{})}
	pc.mu.Lock()
	if pc.err != nil {
		call.err = pc.err
		pc.mu.Unlock()
		close(call.done)
		return call
	}
	pc.out = append(pc.out, req...)
	pc.calls = append(pc.calls, call)
	pc.queued++
	if pc.writing || len(pc.calls) > pc.queued {
		pc.mu.Unlock()
		return call
	}
	pc.writing = true
	pc.mu.Unlock()
	// Callers woken by the same batch of answers are runnable now: let them
	// queue their next edits first, so that they go out (and are
	// committed) together rather than one alone and the rest a round later.
	runtime.Gosched()
	pc.mu.Lock()
	pc.writeOutLocked()
	pc.mu.Unlock()
	return call
}

// writeOutLocked writes what is queued while no answer is awaited, then
// gives up the writer's role, which the caller holds (and pc.mu).
func (pc *pipeConn) writeOutLocked() {
	for pc.queued > 0 && len(pc.calls) == pc.queued && pc.err == nil {
		buf := pc.out
		pc.out = pc.spare[:0]
		n := pc.queued
		pc.queued = 0
		for _, w := range pc.calls[len(pc.calls)-n:] {
			w.sent = true
		}
		pc.mu.Unlock()
		_, err := pc.nc.Write(buf)
		pc.mu.Lock()
		if cap(buf) <= 256<<10 {
			pc.spare = buf[:0]
		}
		if err != nil {
			pc.failLocked(fmt.Errorf("consoled at %s: %w", pc.c.socket, err), n)
		}
	}
	pc.writing = false
}

// failLocked breaks pc: every waiting edit gets err. unsent of the waiting
// edits, the last ones, had their request in a write that failed, or not
// yet written: they count as not sent (a unix socket takes a write whole or
// not at all when its reader is gone).
func (pc *pipeConn) failLocked(err error, unsent int) {
	if pc.err == nil {
		pc.err = err
		pc.nc.Close()
	}
	unsent += pc.queued
	for i, w := range pc.calls {
		w.err = err
		if i >= len(pc.calls)-unsent {
			w.sent = false
		}
		close(w.done)
	}
	clear(pc.calls)
	pc.calls = pc.calls[:0]
	pc.out, pc.queued = nil, 0
	go pc.c.dropPipe(pc)
}

func (c *Client) dropPipe(pc *pipeConn) {
	c.pipeMu.Lock()
	defer c.pipeMu.Unlock()
	for i, p := range c.pipes {
		if p == pc {
			c.pipes = append(c.pipes[:i], c.pipes[i+1:]...)
			return
		}
	}
}

// readAnswers hands each answer to the edit waiting longest, until the
// connection ends.
func (pc *pipeConn) readAnswers() {
	for {
		_, err := pc.br.Peek(1)
		if err != nil {
			pc.mu.Lock()
			pc.failLocked(fmt.Errorf("consoled at %s: %w", pc.c.socket, err), 0)
			pc.mu.Unlock()
			return
		}
		// Hold the writer's role while handing out the answers that came
		// together, so that the edits their callers send next queue up and
		// go out in one write, to be committed together.
		pc.mu.Lock()
		hold := !pc.writing
		pc.writing = true
		pc.mu.Unlock()
		woken, ok := pc.takeAnswers()
		pc.mu.Lock()
		// Unless a writer is still at work (it looks again once its write
		// is done), the next batch is ours to send.
		if hold || !pc.writing {
			pc.writing = true
			if len(pc.calls) == pc.queued {
				pc.awaitLocked(woken)
			}
			if pc.queued > 0 && len(pc.calls) == pc.queued {
				pc.writeOutLocked()
			} else {
				pc.writing = false
			}
		}
		pc.mu.Unlock()
		if !ok {
			return
		}
	}
}

// awaitLocked gives the callers just woken a moment to queue their next
// edits, so that the next batch carries them all: until as many more
// requests are queued as callers were woken, or maxAwait has passed (callers that
// send nothing more cost that, once per batch of answers).
func (pc *pipeConn) awaitLocked(woken int) {
	var start time.Time
	for want := pc.queued + woken; pc.queued < want; {
		pc.mu.Unlock()
		runtime.Gosched()
		pc.mu.Lock()
		if start.IsZero() {
			start = time.Now()
		} else if time.Since(start) > maxAwait {
			return
		}
	}
}

// maxAwait bounds awaitLocked's wait.
const maxAwait = 50 * time.Microsecond

// takeAnswers hands out every answer that has arrived (at least one), and
// says how many. It reports false once the connection is broken.
func (pc *pipeConn) takeAnswers() (n int, ok bool) {
	for ; ; n++ {
		seq, keep, err := readEditAnswer(pc.br, pc.c.socket)
		pc.mu.Lock()
		if len(pc.calls) == pc.queued {
			// An answer to no request.
			pc.failLocked(fmt.Errorf("consoled at %s: an answer to no request", pc.c.socket), 0)
			pc.mu.Unlock()
			return n, false
		}
		call := pc.calls[0]
		pc.calls[0] = nil
		pc.calls = pc.calls[1:]
		call.seq, call.err = seq, err
		close(call.done)
		if !keep {
			pc.failLocked(fmt.Errorf("consoled at %s: the console closed the connection", pc.c.socket), 0)
			pc.mu.Unlock()
			return n + 1, false
		}
		pc.mu.Unlock()
		if pc.br.Buffered() == 0 {
			return n + 1, true
		}
	}
}
