package firmware

import (
	"consoled/api"

	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"consoled/hal"
	"consoled/replication"
	"consoled/replication/store"
)

// maxRequest bounds a control request: one value of store.MaxValueLen as a
// JSON string may double in size by escaping, plus the key and framing.
const maxRequest = 2*store.MaxValueLen + 64<<10

// controlAPI is the API on the control socket, used by consolectl.
func (s *Service) controlAPI() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.status())
	})
	mux.HandleFunc("GET /v1/panel", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.ledStates())
	})
	mux.HandleFunc("POST /v1/launch", func(w http.ResponseWriter, r *http.Request) {
		var req api.LaunchRequest
		if !readJSON(w, r, &req) {
			return
		}
		if err := s.launch(r.Context(), req.Show, req.Force); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, s.status())
	})
	mux.HandleFunc("POST /v1/logoff", func(w http.ResponseWriter, r *http.Request) {
		if err := s.engine.Logoff(r.Context()); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, s.status())
	})
	mux.HandleFunc("POST /v1/edit", func(w http.ResponseWriter, r *http.Request) {
		var req api.EditRequest
		value, ok := readEditRequest(w, r, &req)
		if !ok {
			return
		}
		seq, err := s.submit(r.Context(), []store.Op{{Key: req.Key, Value: value, Delete: req.Delete}})
		if err != nil {
			writeError(w, err)
			return
		}
		// What writeJSON(w, api.EditAnswer{Seq: seq}) writes, without the
		// reflection: this is the busiest answer.
		b := make([]byte, 0, 32)
		b = append(b, `{"seq":`...)
		b = strconv.AppendUint(b, seq, 10)
		b = append(b, "}\n"...)
		h := w.Header()
		h["Content-Type"] = jsonContentType
		h["Content-Length"] = []string{strconv.Itoa(len(b))}
		w.Write(b)
	})
	mux.HandleFunc("GET /v1/object", func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Query().Get("key")
		v, ok, err := s.engine.Get(key)
		if err != nil {
			writeError(w, err)
			return
		}
		if !ok {
			writeErrorKind(w, api.KindNotFound, fmt.Sprintf("no object %q in the show", key))
			return
		}
		writeJSON(w, api.Object{Key: key, Value: string(v)})
	})
	mux.HandleFunc("GET /v1/dump", s.handleDump)
	mux.HandleFunc("GET /v1/archives", func(w http.ResponseWriter, r *http.Request) {
		list, err := s.store.Archives()
		if err != nil {
			writeError(w, err)
			return
		}
		out := []api.Archive{}
		for _, a := range list {
			out = append(out, api.Archive{Name: a.Name, Show: a.Show, Console: a.Console, Time: a.Time, Why: a.Why, Edits: a.Seq})
		}
		writeJSON(w, out)
	})
	mux.HandleFunc("POST /v1/ack", func(w http.ResponseWriter, r *http.Request) {
		n := s.engine.AckMerges()
		writeJSON(w, api.AckAnswer{Acknowledged: n})
	})
	mux.HandleFunc("POST /v1/restore", func(w http.ResponseWriter, r *http.Request) {
		var req api.RestoreRequest
		if !readJSON(w, r, &req) {
			return
		}
		show, err := s.store.Restore(req.Archive)
		if err != nil {
			if errors.Is(err, store.ErrNoArchive) {
				err = fmt.Errorf("%w: %w", replication.ErrBadInput, err)
			}
			writeError(w, err)
			return
		}
		writeJSON(w, api.RestoreAnswer{Show: show})
	})
	mux.HandleFunc("GET /v1/network-key", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, api.NetworkKey{Key: s.key.Hex(), Fingerprint: s.key.Fingerprint()})
	})
	mux.HandleFunc("POST /v1/press", func(w http.ResponseWriter, r *http.Request) {
		var req api.PressRequest
		if !readJSON(w, r, &req) {
			return
		}
		btn, ok := s.board.Button(req.Button)
		if !ok {
			writeErrorKind(w, api.KindBadInput, fmt.Sprintf("press: unknown button %q (buttons: %v)", req.Button, hal.ButtonNames))
			return
		}
		presser, ok := btn.(hal.ButtonPresser)
		if !ok {
			writeErrorKind(w, api.KindMockOnly, fmt.Sprintf("press: board %s has real buttons that software cannot press; press works on the mock board only", s.board.Name()))
			return
		}
		if req.HoldMS < 0 {
			writeErrorKind(w, api.KindBadInput, "press: --hold must not be negative")
			return
		}
		if err := presser.Press(r.Context(), time.Duration(req.HoldMS)*time.Millisecond); err != nil {
			writeError(w, err)
			return
		}
		results, err := s.settle(r)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, api.PressAnswer{Results: results})
	})
	mux.HandleFunc("POST /v1/link", func(w http.ResponseWriter, r *http.Request) {
		var req api.LinkRequest
		if !readJSON(w, r, &req) {
			return
		}
		setter, ok := s.board.Link().(hal.LinkSetter)
		if !ok {
			writeErrorKind(w, api.KindMockOnly, fmt.Sprintf("link: board %s has a real NIC (%s) whose cable software cannot pull; link works on the mock board only", s.board.Name(), s.board.Link().Name()))
			return
		}
		if err := setter.SetCarrier(req.Up); err != nil {
			writeError(w, err)
			return
		}
		if _, err := s.settle(r); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, s.status())
	})
	return mux
}

// settle waits until the panel loop has taken every event queued so far and
// the command worker has carried out what they caused, so a `press` answers
// with its effect and a `status` after it sees the new state.
func (s *Service) settle(r *http.Request) ([]api.CommandResult, error) {
	reply := make(chan []api.CommandResult, 1)
	select {
	case s.barrier <- reply:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	select {
	case res := <-reply:
		return res, nil
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
}

// handleDump streams the show as api.Dump without holding it in memory. The
// digest is known only at the end, so it follows the objects.
func (s *Service) handleDump(w http.ResponseWriter, r *http.Request) {
	started := false
	bw := bufio.NewWriterSize(w, 64<<10)
	show, digest, seq, err := s.engine.Dump(func(o store.Object) error {
		if !started {
			w.Header().Set("Content-Type", "application/json")
			bw.WriteString(`{"objects":[` + "\n")
			started = true
		} else {
			bw.WriteString(",\n")
		}
		b, err := json.Marshal(api.Object{Key: o.Key, Value: string(o.Value)})
		bw.Write(b)
		return err
	})
	if err != nil {
		if started {
			// The status is sent; break the stream so the client sees an error
			// rather than a short dump.
			panic(http.ErrAbortHandler)
		}
		writeError(w, err)
		return
	}
	if !started {
		w.Header().Set("Content-Type", "application/json")
		bw.WriteString(`{"objects":[`)
	}
	tail, _ := json.Marshal(struct {
		Show   string `json:"show"`
		Seq    uint64 `json:"seq"`
		Digest string `json:"digest"`
	}{show, seq, hex.EncodeToString(digest[:])})
	bw.WriteString("\n],")
	bw.Write(tail[1:])
	bw.WriteString("\n")
	bw.Flush()
}

var jsonContentType = []string{"application/json"}

// readEditRequest reads an api.EditRequest and returns the value as the bytes
// to store. The common request (a small body of plain strings) is parsed
// directly; anything else goes through readJSON, whose answers (and errors)
// it matches exactly.
func readEditRequest(w http.ResponseWriter, r *http.Request, req *api.EditRequest) ([]byte, bool) {
	if n := r.ContentLength; n > 0 && n <= 4096 {
		b := make([]byte, n)
		got, err := io.ReadFull(r.Body, b)
		if err == nil {
			if value, ok := parseEditRequest(b, req); ok {
				return value, true
			}
			*req = api.EditRequest{}
		}
		// Not the common case (or a short body): give encoding/json what
		// was read and the rest, so it answers as it always did.
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b[:got]), r.Body), r.Body}
	}
	if !readJSON(w, r, req) {
		return nil, false
	}
	return []byte(req.Value), true
}

// parseEditRequest parses b as exactly one JSON object of api.EditRequest's
// fields, each at most once, spelled as in its tags, with string values
// that are valid UTF-8 without control characters or \u escapes, and
// nothing after it but white space. It reports false for anything else
// (which may still be valid: the caller then asks encoding/json).
func parseEditRequest(b []byte, req *api.EditRequest) (value []byte, ok bool) {
	i := 0
	ws := func() {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
			i++
		}
	}
	// str reads a string. Its bytes alias b unless it has escapes; only the
	// one-letter escapes are handled here (\u goes to encoding/json).
	str := func() ([]byte, bool) {
		if i >= len(b) || b[i] != '"' {
			return nil, false
		}
		start := i + 1
		var out []byte // the unescaped string, once an escape is seen
		for j := start; j < len(b); j++ {
			switch c := b[j]; {
			case c == '"':
				i = j + 1
				if out == nil {
					return b[start:j], utf8.Valid(b[start:j])
				}
				out = append(out, b[start:j]...)
				return out, utf8.Valid(out)
			case c == '\\':
				if j+1 >= len(b) {
					return nil, false
				}
				var u byte
				switch b[j+1] {
				case '"', '\\', '/':
					u = b[j+1]
				case 'b':
					u = '\b'
				case 'f':
					u = '\f'
				case 'n':
					u = '\n'
				case 'r':
					u = '\r'
				case 't':
					u = '\t'
				default:
					return nil, false
				}
				out = append(append(out, b[start:j]...), u)
				j++
				start = j + 1
			case c < 0x20:
				return nil, false
			}
		}
		return nil, false
	}
	var seen [3]bool
	ws()
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	i++
	ws()
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			ws()
			name, ok := str()
			if !ok {
				return nil, false
			}
			ws()
			if i >= len(b) || b[i] != ':' {
				return nil, false
			}
			i++
			ws()
			switch string(name) {
			case "key", "value":
				f := 0
				if name[0] == 'v' {
					f = 1
				}
				v, ok := str()
				if !ok || seen[f] {
					return nil, false
				}
				seen[f] = true
				if f == 0 {
					req.Key = string(v)
				} else {
					value = append([]byte(nil), v...) // b is the caller's buffer
					req.Value = ""                    // not needed: value carries it
				}
			case "delete":
				if seen[2] {
					return nil, false
				}
				seen[2] = true
				switch {
				case bytes.HasPrefix(b[i:], []byte("true")):
					req.Delete, i = true, i+4
				case bytes.HasPrefix(b[i:], []byte("false")):
					req.Delete, i = false, i+5
				default:
					return nil, false
				}
			default:
				return nil, false
			}
			ws()
			if i < len(b) && b[i] == ',' {
				i++
				continue
			}
			if i < len(b) && b[i] == '}' {
				i++
				break
			}
			return nil, false
		}
	}
	ws()
	if i != len(b) {
		return nil, false
	}
	if value == nil {
		value = []byte{}
	}
	return value, true
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeErrorKind(w, api.KindBadInput, "malformed request: "+err.Error())
		return false
	}
	return true
}

// The edit fast path. net/http's server costs more CPU per request than the
// edit itself (a goroutine wake, header maps, two syscalls per request), and
// it serves a connection's pipelined requests one at a time, so a client
// cannot batch. editListener sits between the control socket and the
// http.Server: a connection whose requests are plain edits is served here,
// reading whatever requests have arrived, submitting them together as one
// submission (in order, so a pipelining client's edits commit in the order
// it sent them) and writing the answers with one write. The first request
// that is anything else hands the connection, unread bytes included, to the
// http.Server, which answers it and everything after it as before.
type editListener struct {
	net.Listener
	s *Service

	start    sync.Once
	accepted chan acceptResult
	done     chan struct{} // closed by Close

	mu     sync.Mutex
	closed bool
	conns  map[*fastConn]bool // served here, whether waiting for a request
	wg     sync.WaitGroup     // the connections served here
}

type acceptResult struct {
	c   net.Conn
	err error
}

// fastConn is a control connection served by the fast path.
type fastConn struct {
	nc  net.Conn
	br  *bufio.Reader
	out []byte
	ops []store.Op
	req api.EditRequest
}

const (
	// fastBuf bounds a request the fast path takes (larger ones go to
	// net/http) and is what one read can bring in.
	fastBuf = 32 << 10
	// headTimeout is the service's ReadHeaderTimeout for the control API.
	headTimeout = 10 * time.Second
	// fastGroupOps and fastGroupBytes bound one submission of pipelined
	// edits: a backup forwards it to the active as one message.
	fastGroupOps   = 512
	fastGroupBytes = 1 << 20
	// shutdownWait bounds how long Close waits for edits in flight, as the
	// service's Shutdown does for net/http's requests.
	shutdownWait = 10 * time.Second
)

func newEditListener(inner net.Listener, s *Service) *editListener {
	return &editListener{
		Listener: inner, s: s,
		accepted: make(chan acceptResult),
		done:     make(chan struct{}),
		conns:    map[*fastConn]bool{},
	}
}

// Accept returns the connections the fast path does not serve.
func (l *editListener) Accept() (net.Conn, error) {
	l.start.Do(func() { go l.acceptLoop() })
	select {
	case r := <-l.accepted:
		return r.c, r.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *editListener) acceptLoop() {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			select {
			case l.accepted <- acceptResult{err: err}:
			case <-l.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(5 * time.Millisecond) // as net/http backs off
			continue
		}
		fc := &fastConn{nc: nc, br: bufio.NewReaderSize(nc, fastBuf)}
		if !l.track(fc) {
			nc.Close()
			continue
		}
		go l.serve(fc)
	}
}

func (l *editListener) track(fc *fastConn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.conns[fc] = false
	l.wg.Add(1)
	return true
}

func (l *editListener) untrack(fc *fastConn) {
	l.mu.Lock()
	delete(l.conns, fc)
	l.mu.Unlock()
	l.wg.Done()
}

// setIdle marks fc as waiting for a request (Close may then cut it) or not.
// It reports false once the listener is closed.
func (l *editListener) setIdle(fc *fastConn, idle bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conns[fc] = idle
	return !l.closed
}

// Close stops accepting, cuts the connections waiting for a request and
// waits for the edits in flight to be answered.
func (l *editListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	for fc, idle := range l.conns {
		if idle {
			fc.nc.Close()
		}
	}
	l.mu.Unlock()
	err := l.Listener.Close()
	finished := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(shutdownWait):
	}
	return err
}

func (l *editListener) serve(fc *fastConn) {
	handOver := l.serveEdits(fc)
	l.untrack(fc)
	if !handOver {
		fc.nc.Close()
		return
	}
	rest, _ := fc.br.Peek(fc.br.Buffered())
	c := &prefixConn{Conn: fc.nc, prefix: bytes.Clone(rest)}
	select {
	case l.accepted <- acceptResult{c: c}:
	case <-l.done:
		fc.nc.Close()
	}
}

// serveEdits answers edits on fc until the connection ends (false) or a
// request comes that net/http is to answer (true).
func (l *editListener) serveEdits(fc *fastConn) bool {
	ctx := context.Background()
	for {
		if !l.setIdle(fc, true) {
			return false
		}
		_, err := fc.br.Peek(1)
		if !l.setIdle(fc, false) || err != nil {
			return false
		}
		n, handOver := fc.readGroup()
		if n == 0 {
			return handOver
		}
		fc.out = fc.out[:0]
		date := time.Now().UTC().AppendFormat(make([]byte, 0, 32), http.TimeFormat)
		ops := fc.ops
		seq, err := l.s.submit(ctx, ops)
		if errors.Is(err, replication.ErrBadInput) && len(ops) > 1 {
			// Some op is invalid, and the engine refused them all. Each run
			// of valid ops goes again as one submission, each invalid op
			// alone, so that it gets the engine's own answer.
			for len(ops) > 0 {
				k := 0
				for k < len(ops) && replication.ValidateOp(ops[k]) == nil {
					k++
				}
				if k == 0 {
					k = 1
				}
				seq, err := l.s.submit(ctx, ops[:k])
				fc.out = appendAnswers(fc.out, date, k, seq, err)
				ops = ops[k:]
			}
		} else {
			fc.out = appendAnswers(fc.out, date, len(ops), seq, err)
		}
		clear(fc.ops)
		fc.ops = fc.ops[:0]
		if _, err := fc.nc.Write(fc.out); err != nil {
			return false
		}
		if cap(fc.out) > 1<<20 {
			fc.out = nil
		}
	}
}

// readGroup parses the edits that have arrived (at least one, reading more
// when the first is incomplete) into fc.ops, up to a submission's worth. It
// stops at a request the fast path does not take: handOver then says that
// it is the next one on the connection.
func (fc *fastConn) readGroup() (n int, handOver bool) {
	size := 0
	for len(fc.ops) < fastGroupOps && size < fastGroupBytes {
		buf, _ := fc.br.Peek(fc.br.Buffered())
		bodyAt, length, st := parseEditHead(buf)
		if st == headIncomplete || (st == headOK && len(buf) < bodyAt+length) {
			if len(fc.ops) > 0 {
				break // answer what is here; the rest comes on the next turn
			}
			if len(buf) >= fastBuf || (st == headOK && bodyAt+length > fastBuf) {
				return 0, true
			}
			if st == headIncomplete {
				// As the http.Server's ReadHeaderTimeout: a head that has
				// begun must arrive in time.
				fc.nc.SetReadDeadline(time.Now().Add(headTimeout))
			}
			_, err := fc.br.Peek(len(buf) + 1)
			if st == headIncomplete {
				fc.nc.SetReadDeadline(time.Time{})
			}
			if err != nil {
				// A head that timed out: net/http closes the connection
				// without an answer, and so do we. A request cut short
				// gets net/http's answer (which depends on where it ends).
				var ne net.Error
				return 0, !(errors.As(err, &ne) && ne.Timeout())
			}
			continue
		}
		if st != headOK {
			return len(fc.ops), len(fc.ops) == 0
		}
		body := buf[bodyAt : bodyAt+length]
		req := &fc.req
		*req = api.EditRequest{}
		value, ok := parseEditRequest(body, req)
		if !ok {
			// What readJSON decides for this body, from the same bytes.
			*req = api.EditRequest{}
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(req); err != nil {
				// Not an edit to submit: net/http answers it, after the
				// edits before it.
				return len(fc.ops), len(fc.ops) == 0
			}
			value = []byte(req.Value)
		}
		fc.ops = append(fc.ops, store.Op{Key: req.Key, Value: value, Delete: req.Delete})
		size += len(req.Key) + len(value)
		fc.br.Discard(bodyAt + length)
	}
	return len(fc.ops), false
}

const (
	headOK = iota
	headIncomplete
	headOther // not a request the fast path takes
)

// parseEditHead parses the head of the request at the start of b. It takes
// only "POST /v1/edit HTTP/1.1" with one Host header, one Content-Length
// and well-formed header lines, without Transfer-Encoding, Expect or
// Connection headers: everything net/http would answer differently from the
// edit handler, or whose meaning goes beyond an edit, is headOther.
func parseEditHead(b []byte) (bodyAt, length int, st int) {
	const line = "POST /v1/edit HTTP/1.1\r\n"
	if len(b) < len(line) {
		if !bytes.HasPrefix([]byte(line), b) {
			return 0, 0, headOther
		}
		return 0, 0, headIncomplete
	}
	if string(b[:len(line)]) != line {
		return 0, 0, headOther
	}
	i := len(line)
	hosts := 0
	length = -1
	for {
		end := bytes.IndexByte(b[i:], '\n')
		if end < 0 {
			if len(b)-i > fastBuf {
				return 0, 0, headOther
			}
			return 0, 0, headIncomplete
		}
		h := b[i : i+end]
		i += end + 1
		if len(h) == 0 || h[len(h)-1] != '\r' {
			return 0, 0, headOther
		}
		h = h[:len(h)-1]
		if len(h) == 0 {
			break // end of the head
		}
		colon := bytes.IndexByte(h, ':')
		if colon <= 0 {
			return 0, 0, headOther
		}
		name, val := h[:colon], bytes.Trim(h[colon+1:], " \t")
		for _, c := range name {
			if !isTokenByte(c) {
				return 0, 0, headOther
			}
		}
		for _, c := range val {
			if c < 0x20 && c != '\t' || c == 0x7f {
				return 0, 0, headOther
			}
		}
		switch {
		case asciiEqualFold(name, "Host"):
			// Plain names only: net/http refuses some others with its own
			// answer.
			if len(val) == 0 {
				return 0, 0, headOther
			}
			for _, c := range val {
				if !isTokenByte(c) && c != ':' && c != '[' && c != ']' {
					return 0, 0, headOther
				}
			}
			hosts++
		case asciiEqualFold(name, "Content-Length"):
			if length >= 0 || len(val) == 0 || len(val) > 9 {
				return 0, 0, headOther
			}
			length = 0
			for _, c := range val {
				if c < '0' || c > '9' {
					return 0, 0, headOther
				}
				length = length*10 + int(c-'0')
			}
		case asciiEqualFold(name, "Transfer-Encoding"), asciiEqualFold(name, "Expect"),
			asciiEqualFold(name, "Connection"), asciiEqualFold(name, "Trailer"):
			return 0, 0, headOther
		}
	}
	if hosts != 1 || length <= 0 {
		return 0, 0, headOther
	}
	return i, length, headOK
}

func isTokenByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c, d := b[i], s[i]
		if c|0x20 != d|0x20 {
			return false
		}
	}
	return true
}

// appendAnswers appends the answers to n edits submitted together: their
// seqs are consecutive, up to seq.
func appendAnswers(b, date []byte, n int, seq uint64, err error) []byte {
	for i := 0; i < n; i++ {
		if err != nil {
			b = appendErrorAnswer(b, date, err)
			continue
		}
		b = appendSeqAnswer(b, date, seq-uint64(n-1-i))
	}
	return b
}

// appendSeqAnswer appends the answer net/http gives for an acknowledged
// edit (see the /v1/edit handler).
func appendSeqAnswer(b, date []byte, seq uint64) []byte {
	var body [32]byte
	n := len(strconv.AppendUint(append(body[:0], `{"seq":`...), seq, 10)) + 2
	b = append(b, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: "...)
	b = append(b, date...)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body[:n-2]...)
	return append(b, "}\n"...)
}

// appendErrorAnswer appends the answer writeError gives for err.
func appendErrorAnswer(b, date []byte, err error) []byte {
	var w bufferedAnswer
	writeError(&w, err)
	code := w.code
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(code)...)
	b = append(b, "\r\nContent-Type: application/json\r\nDate: "...)
	b = append(b, date...)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(w.body.Len()), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, w.body.Bytes()...)
}

// bufferedAnswer is the http.ResponseWriter writeError writes to on the
// fast path.
type bufferedAnswer struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func (w *bufferedAnswer) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}

func (w *bufferedAnswer) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *bufferedAnswer) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.body.Write(p)
}

// prefixConn is a connection handed over to net/http with the bytes the
// fast path had read but not taken.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
