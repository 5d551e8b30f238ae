package firmware

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"consoled/api"
	"consoled/replication"
	"consoled/replication/store"
)

// The console's side of the edit stream (see api/stream.go): a connection
// upgraded from HTTP that carries framed edits and their answers. One
// goroutine serves a stream: it waits for an edit, takes every further edit
// that has arrived (up to api.StreamGroup) as one submission, answers them
// all with one write, and waits again. Edits sent while a submission is
// committed arrive meanwhile and make the next one, so a pipelining client
// gets group commits without the console waiting for anything.

const (
	// streamBuf is what one read of a stream can bring in: a whole
	// submission of ordinary edits.
	streamBuf = 64 << 10
	// streamGroupBytes bounds the keys and values of one submission: a
	// backup forwards it to the active as one message.
	streamGroupBytes = 1 << 20
)

// editStreams tracks the streams being served. http.Server.Shutdown does not
// see a hijacked connection, so a stop ends them here.
type editStreams struct {
	mu      sync.Mutex
	closing bool
	set     map[*editStream]struct{}
	wg      sync.WaitGroup
}

func (ss *editStreams) add(es *editStream) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closing {
		return false
	}
	if ss.set == nil {
		ss.set = map[*editStream]struct{}{}
	}
	ss.set[es] = struct{}{}
	ss.wg.Add(1)
	return true
}

func (ss *editStreams) remove(es *editStream) {
	ss.mu.Lock()
	delete(ss.set, es)
	ss.mu.Unlock()
	ss.wg.Done()
}

// waitFor sets es's read deadline for its next edit, or reports false once
// the streams are stopping. Under ss.mu, so that stop's deadline is never
// overwritten.
func (ss *editStreams) waitFor(es *editStream, d time.Duration) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closing {
		return false
	}
	es.nc.SetReadDeadline(time.Now().Add(d))
	return true
}

// stop ends every stream: each answers the edits it has taken, says why it
// ends (api.FrameEnd) and closes. Edits sent and not yet taken are not
// applied, as the FrameEnd tells the client. stop waits until all have
// ended or ctx is done.
func (ss *editStreams) stop(ctx context.Context) {
	ss.mu.Lock()
	ss.closing = true
	for es := range ss.set {
		es.nc.SetReadDeadline(time.Now()) // wakes a stream waiting for an edit
	}
	ss.mu.Unlock()
	done := make(chan struct{})
	go func() {
		ss.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// editStream is one stream being served.
type editStream struct {
	s   *Service
	nc  net.Conn
	fr  *api.FrameReader
	out []byte
	ops []store.Op
}

// serveEditStream upgrades the connection to an edit stream and serves it
// until the client closes it, it idles, it sends something malformed or the
// console stops.
func (s *Service) serveEditStream(w http.ResponseWriter, r *http.Request) {
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", api.StreamProtocol) {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", api.StreamProtocol)
		writeErrorStatus(w, http.StatusUpgradeRequired, api.KindBadInput,
			fmt.Sprintf("edit stream: send Connection: Upgrade and Upgrade: %s, the version this console speaks", api.StreamProtocol))
		return
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		writeError(w, fmt.Errorf("edit stream: %w", err))
		return
	}
	defer nc.Close()
	// What the server read past the request's head is the stream's.
	var rd io.Reader = nc
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		rd = io.MultiReader(bytes.NewReader(bytes.Clone(b)), nc)
	}
	es := &editStream{s: s, nc: nc, fr: api.NewFrameReader(bufio.NewReaderSize(rd, streamBuf))}
	es.out = append(es.out, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "+api.StreamProtocol+"\r\n\r\n"...)
	if !s.streams.add(es) {
		es.end(api.KindUnavailable, "the console is stopping")
		return
	}
	defer s.streams.remove(es)
	if !es.flush() {
		return
	}
	es.serve()
}

func (es *editStream) serve() {
	t := &es.s.timeouts
	for {
		if !es.s.streams.waitFor(es, t.StreamIdle) {
			es.end(api.KindUnavailable, "the console is stopping")
			return
		}
		endKind, endMsg := es.readGroup()
		if len(es.ops) > 0 {
			es.submitGroup()
		}
		if endKind != "" {
			es.end(endKind, endMsg)
			return
		}
		if !es.flush() {
			return
		}
	}
}

// readGroup waits for an edit and takes it and every other that has
// arrived, up to a submission's worth, into es.ops. A reason to end the
// stream comes back as an error kind and message, after the edits before it.
func (es *editStream) readGroup() (api.Kind, string) {
	clear(es.ops)
	es.ops = es.ops[:0]
	size := 0
	for len(es.ops) == 0 || len(es.ops) < api.StreamGroup && size < streamGroupBytes && es.fr.Buffered() {
		typ, p, err := es.fr.Next()
		if err != nil {
			return es.readError(err)
		}
		if typ != api.FrameEdit {
			return api.KindBadInput, fmt.Sprintf("edit stream: frame type %#02x where an edit was expected", typ)
		}
		key, value, del, err := api.DecodeEdit(p)
		if err != nil {
			return api.KindBadInput, err.Error()
		}
		es.ops = append(es.ops, store.Op{Key: string(key), Value: bytes.Clone(value), Delete: del})
		if es.ops[len(es.ops)-1].Value == nil {
			es.ops[len(es.ops)-1].Value = []byte{}
		}
		size += len(key) + len(value)
	}
	return "", ""
}

func (es *editStream) readError(err error) (api.Kind, string) {
	var ne net.Error
	switch {
	case errors.Is(err, api.ErrStream):
		return api.KindBadInput, err.Error()
	case errors.As(err, &ne) && ne.Timeout():
		if es.s.streams.stopping() {
			return api.KindUnavailable, "the console is stopping"
		}
		return api.KindUnavailable, fmt.Sprintf("edit stream idle for %v", es.s.timeouts.StreamIdle)
	}
	// The client went away, or broke off in the middle of a frame: there
	// is no one to tell.
	return api.KindInternal, ""
}

// submitGroup submits es.ops in order and appends their answers to es.out.
// An invalid edit is answered alone; the runs of valid ones between invalid
// ones each go as one submission, so that each edit gets its own answer.
func (es *editStream) submitGroup() {
	ops := es.ops
	for len(ops) > 0 {
		if err := replication.ValidateOp(ops[0]); err != nil {
			err = fmt.Errorf("%w: %w", replication.ErrBadInput, err)
			es.out = api.AppendError(es.out, api.FrameError, kindOf(err), err.Error())
			ops = ops[1:]
			continue
		}
		n := 1
		for n < len(ops) && replication.ValidateOp(ops[n]) == nil {
			n++
		}
		seq, err := es.s.submit(context.Background(), ops[:n])
		for i := 0; i < n; i++ {
			if err != nil {
				es.out = api.AppendError(es.out, api.FrameError, kindOf(err), err.Error())
			} else {
				es.out = api.AppendSeq(es.out, seq-uint64(n-1-i))
			}
		}
		ops = ops[n:]
	}
}

// flush writes the answers; false when the client cannot take them.
func (es *editStream) flush() bool {
	es.nc.SetWriteDeadline(time.Now().Add(es.s.timeouts.Write))
	_, err := es.nc.Write(es.out)
	es.out = es.out[:0]
	if cap(es.out) > streamBuf {
		es.out = nil
	}
	return err == nil
}

// end sends what is pending and a FrameEnd saying why the stream ends. An
// empty message means there is no one left to tell.
func (es *editStream) end(kind api.Kind, msg string) {
	if msg != "" {
		es.out = api.AppendError(es.out, api.FrameEnd, kind, msg)
	}
	es.flush()
}

// count is how many streams are being served.
func (ss *editStreams) count() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.set)
}

func (ss *editStreams) stopping() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.closing
}

// headerHasToken reports whether the comma-separated header name lists
// token (case-insensitively), as Connection: keep-alive, Upgrade does.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
