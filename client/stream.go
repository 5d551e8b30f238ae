package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"consoled/api"
)

// Edits go over one edit stream per client (see api/stream.go), shared by
// every caller. The console commits what a stream sends together as one
// submission, so the stream sends in rounds: while answers are awaited,
// callers' edits queue here, and when the last answer of a round is in, the
// answers' reader lets the callers it woke queue their next edits and then
// sends everything queued with one write. Sixty-four callers then cost a
// few syscalls and one group commit per round, not one each per edit.

// maxAwait bounds how long the answers' reader waits for the callers it
// woke to queue their next edits (callers that send nothing more cost that,
// once per round).
const maxAwait = 50 * time.Microsecond

// Set records key=value and returns its seq once acknowledged.
func (c *Client) Set(ctx context.Context, key, value string) (uint64, error) {
	return c.edit(ctx, key, value, false)
}

// Delete records the deletion of key and returns its seq once acknowledged.
func (c *Client) Delete(ctx context.Context, key string) (uint64, error) {
	return c.edit(ctx, key, "", true)
}

func (c *Client) edit(ctx context.Context, key, value string, del bool) (uint64, error) {
	if len(key)+len(value) > api.MaxFrame-16 {
		return 0, &api.Error{Kind: api.KindBadInput, Message: fmt.Sprintf("value of %q is %d bytes, over the %d a console takes", key, len(value), api.MaxValueLen)}
	}
	frame := api.AppendEdit(make([]byte, 0, 16+len(key)+len(value)), key, value, del)
	for attempt := 0; ; attempt++ {
		select {
		case c.window <- struct{}{}: // freed when the call is done
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		st, err := c.stream(ctx)
		if err != nil {
			<-c.window
			return 0, err
		}
		cl := st.queue(frame, key)
		select {
		case <-cl.done:
		case <-ctx.Done():
			// The answer, when it comes, goes nowhere; the stream stays
			// in step.
			return 0, ctx.Err()
		}
		if cl.retry && attempt == 0 {
			// It was not applied (the stream was closed before it went
			// out, or the console ended the stream): once more on a new
			// one, as http.Transport retries on a closed connection.
			continue
		}
		return cl.seq, cl.err
	}
}

// stream returns the client's stream, opening one if there is none or the
// last one broke.
func (c *Client) stream(ctx context.Context) (*stream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("consoled at %s: the client was closed", c.opts.Where)
	}
	if c.st != nil && !c.st.broken() {
		return c.st, nil
	}
	st, err := c.openStream(ctx)
	if err != nil {
		return nil, err
	}
	c.st = st
	go st.readAnswers()
	return st, nil
}

// openStream dials and upgrades a connection to an edit stream.
func (c *Client) openStream(ctx context.Context) (*stream, error) {
	nc, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	req := "POST " + api.PathEditStream + " HTTP/1.1\r\nHost: consoled\r\nConnection: Upgrade\r\nUpgrade: " + api.StreamProtocol + "\r\n\r\n"
	br := bufio.NewReaderSize(nc, 64<<10)
	if _, err := io.WriteString(nc, req); err != nil {
		nc.Close()
		return nil, fmt.Errorf("consoled at %s: %w", c.opts.Where, err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("consoled at %s: opening an edit stream: %w", c.opts.Where, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer nc.Close()
		return nil, errorAnswer(resp)
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), api.StreamProtocol) {
		nc.Close()
		return nil, fmt.Errorf("consoled at %s: switched to %q, not %s", c.opts.Where, resp.Header.Get("Upgrade"), api.StreamProtocol)
	}
	if !stop() {
		nc.Close()
		return nil, ctx.Err()
	}
	nc.SetDeadline(time.Time{})
	return &stream{c: c, nc: nc, fr: api.NewFrameReader(br)}, nil
}

// stream is one edit stream.
type stream struct {
	c  *Client
	nc net.Conn
	fr *api.FrameReader // the answers' reader's

	mu      sync.Mutex
	out     []byte  // the frames of the queued calls
	spare   []byte  // the last written buffer, for reuse
	writing bool    // a caller, or the reader, is writing out
	corked  bool    // the reader is handing out answers: queue, do not write
	calls   []*call // waiting for their answers: sent ones, then queued ones
	queued  int     // how many of calls (the last ones) are in out
	err     error   // why the stream broke
}

// call is one edit on a stream.
type call struct {
	key   string
	end   int // where its frame ends in out (or the buffer being written)
	sent  bool
	done  chan struct{}
	seq   uint64
	err   error
	retry bool // not applied: it may be sent again
}

func (s *stream) broken() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err != nil
}

// finish gives cl its answer and frees its room in the window.
func (s *stream) finish(cl *call, seq uint64, err error, retry bool) {
	cl.seq, cl.err, cl.retry = seq, err, retry
	close(cl.done)
	<-s.c.window
}

// queue adds an edit's frame, and writes it out unless earlier edits await
// their answers (it then goes with the next round).
func (s *stream) queue(frame []byte, key string) *call {
	cl := &call{key: key, done: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		s.finish(cl, 0, s.err, true)
		return cl
	}
	s.out = append(s.out, frame...)
	cl.end = len(s.out)
	s.calls = append(s.calls, cl)
	s.queued++
	if !s.writing {
		s.writeOutLocked()
	}
	return cl
}

// writeOutLocked writes what is queued, if no answer is awaited and the
// reader is not handing out answers. The caller holds s.mu.
func (s *stream) writeOutLocked() {
	if s.queued == 0 || len(s.calls) > s.queued || s.corked || s.err != nil {
		return
	}
	s.writing = true
	buf := s.out
	for _, cl := range s.calls {
		cl.sent = true
	}
	// The spare becomes the queue: it is no longer spare, whether or not
	// buf takes its place below.
	s.out, s.spare, s.queued = s.spare[:0], nil, 0
	s.mu.Unlock()
	n, err := s.nc.Write(buf)
	s.mu.Lock()
	s.writing = false
	if cap(buf) <= 256<<10 {
		s.spare = buf[:0]
	}
	if err != nil {
		// A frame the console did not get whole was not applied.
		for _, cl := range s.calls {
			if cl.sent && cl.end > n {
				cl.sent = false
			}
		}
		s.breakLocked(fmt.Errorf("consoled at %s: %w", s.c.opts.Where, err))
		return
	}
	// Answers may have come while writing, and the reader may have left the
	// next round to this writer.
	s.writeOutLocked()
}

// breakLocked ends the stream: every waiting edit gets why. One that was
// sent may or may not have been applied; one that was not may go again.
func (s *stream) breakLocked(why error) {
	if s.err == nil {
		s.err = why
		s.nc.Close()
	}
	for _, cl := range s.calls {
		if cl.sent {
			s.finish(cl, 0, &api.Error{Kind: api.KindOutcomeUnknown, Message: fmt.Sprintf(
				"%v, before the answer to the edit of %q came: it may or may not have been applied (setting or deleting it again is safe)", s.err, cl.key)}, false)
		} else {
			s.finish(cl, 0, s.err, true)
		}
	}
	clear(s.calls)
	s.calls, s.queued, s.out = s.calls[:0], 0, nil
}

// endLocked ends the stream as the console said (api.FrameEnd): the edits
// it did not answer were not applied. A console that is stopping or that
// ended an idle stream may take them on a new stream.
func (s *stream) endLocked(kind api.Kind, msg string) {
	why := &api.Error{Kind: kind, Message: fmt.Sprintf("consoled at %s ended the edit stream: %s", s.c.opts.Where, msg)}
	if s.err == nil {
		s.err = why
		s.nc.Close()
	}
	for _, cl := range s.calls {
		s.finish(cl, 0, why, kind == api.KindUnavailable)
	}
	clear(s.calls)
	s.calls, s.queued, s.out = s.calls[:0], 0, nil
}

// close breaks the stream from the client's side.
func (s *stream) close(why error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.breakLocked(why)
}

// readAnswers hands each answer to the edit waiting longest, until the
// stream ends.
func (s *stream) readAnswers() {
	for {
		typ, p, err := s.fr.Next()
		s.mu.Lock()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the console closed the edit stream")
			}
			s.breakLocked(fmt.Errorf("consoled at %s: %w", s.c.opts.Where, err))
			s.mu.Unlock()
			return
		}
		// Hand out every answer that has arrived, holding back the
		// callers' next edits meanwhile.
		s.corked = true
		woken := 0
		for {
			if !s.answerLocked(typ, p) {
				s.corked = false
				s.mu.Unlock()
				return
			}
			woken++
			if !s.fr.Buffered() {
				break
			}
			if typ, p, err = s.fr.Next(); err != nil {
				s.breakLocked(fmt.Errorf("consoled at %s: %w", s.c.opts.Where, err))
				s.corked = false
				s.mu.Unlock()
				return
			}
		}
		if len(s.calls) == s.queued && !s.writing {
			s.awaitLocked(woken)
		}
		s.corked = false
		if !s.writing {
			s.writeOutLocked()
		}
		s.mu.Unlock()
	}
}

// answerLocked gives the oldest sent edit its answer. It reports false
// when the stream has ended.
func (s *stream) answerLocked(typ byte, p []byte) bool {
	if typ == api.FrameEnd {
		kind, msg, err := api.DecodeError(p)
		if err != nil {
			s.breakLocked(fmt.Errorf("consoled at %s: %w", s.c.opts.Where, err))
			return false
		}
		s.endLocked(kind, msg)
		return false
	}
	if len(s.calls) == s.queued {
		s.breakLocked(fmt.Errorf("consoled at %s: an answer to no edit", s.c.opts.Where))
		return false
	}
	cl := s.calls[0]
	switch typ {
	case api.FrameSeq:
		seq, err := api.DecodeSeq(p)
		if err != nil {
			s.breakLocked(fmt.Errorf("consoled at %s: %w", s.c.opts.Where, err))
			return false
		}
		s.finish(cl, seq, nil, false)
	case api.FrameError:
		kind, msg, err := api.DecodeError(p)
		if err != nil {
			s.breakLocked(fmt.Errorf("consoled at %s: %w", s.c.opts.Where, err))
			return false
		}
		s.finish(cl, 0, &api.Error{Kind: kind, Message: msg}, false)
	default:
		s.breakLocked(fmt.Errorf("consoled at %s: edit stream frame type %#02x", s.c.opts.Where, typ))
		return false
	}
	s.calls[0] = nil
	s.calls = s.calls[1:]
	return true
}

// awaitLocked gives the callers just answered a moment to queue their next
// edits, so that the next round carries them all: until as many more are
// queued as callers were answered, or maxAwait has passed.
func (s *stream) awaitLocked(woken int) {
	var start time.Time
	for want := s.queued + woken; s.queued < want && s.err == nil; {
		s.mu.Unlock()
		runtime.Gosched()
		s.mu.Lock()
		if start.IsZero() {
			start = time.Now()
		} else if time.Since(start) > maxAwait {
			return
		}
	}
}
