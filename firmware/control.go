package firmware

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"consoled/api"
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
	mux.HandleFunc("GET "+api.PathStatus, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.status())
	})
	mux.HandleFunc("GET "+api.PathPanel, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.ledStates())
	})
	mux.HandleFunc("POST "+api.PathLaunch, func(w http.ResponseWriter, r *http.Request) {
		var req api.LaunchRequest
		if !readJSON(w, r, &req) {
			return
		}
		s.resumer.operatorActed()
		if err := s.launch(r.Context(), req.Show, req.Force); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, s.status())
	})
	mux.HandleFunc("POST "+api.PathLogoff, func(w http.ResponseWriter, r *http.Request) {
		s.resumer.operatorActed()
		if err := s.engine.Logoff(r.Context()); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, s.status())
	})
	mux.HandleFunc("POST "+api.PathEdit, func(w http.ResponseWriter, r *http.Request) {
		var req api.EditRequest
		if !readJSON(w, r, &req) {
			return
		}
		seq, err := s.submit(r.Context(), []store.Op{{Key: req.Key, Value: []byte(req.Value), Delete: req.Delete}})
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, api.EditAnswer{Seq: seq})
	})
	mux.HandleFunc("POST "+api.PathEditStream, s.serveEditStream)
	mux.HandleFunc("GET "+api.PathObject, func(w http.ResponseWriter, r *http.Request) {
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
	mux.HandleFunc("GET "+api.PathDump, s.handleDump)
	mux.HandleFunc("GET "+api.PathArchives, func(w http.ResponseWriter, r *http.Request) {
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
	mux.HandleFunc("POST "+api.PathAck, func(w http.ResponseWriter, r *http.Request) {
		n := s.engine.AckMerges()
		writeJSON(w, api.AckAnswer{Acknowledged: n})
	})
	mux.HandleFunc("POST "+api.PathRestore, func(w http.ResponseWriter, r *http.Request) {
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
	mux.HandleFunc("GET "+api.PathNetworkKey, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, api.NetworkKey{Key: s.key.Hex(), Fingerprint: s.key.Fingerprint()})
	})
	mux.HandleFunc("POST "+api.PathPress, func(w http.ResponseWriter, r *http.Request) {
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
	mux.HandleFunc("POST "+api.PathLink, func(w http.ResponseWriter, r *http.Request) {
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
	// A client that stops reading must not hold the show's iterator: each
	// write of the dump has a deadline.
	bw := bufio.NewWriterSize(deadlineWriter{w, http.NewResponseController(w), s.timeouts.Write}, 64<<10)
	show, digest, seq, err := s.engine.Dump(func(o store.Object) error {
		if !started {
			w.Header().Set("Content-Type", "application/json")
			bw.WriteString(`{"objects":[` + "\n")
			started = true
		} else {
			bw.WriteString(",\n")
		}
		b, err := json.Marshal(api.Object{Key: o.Key, Value: string(o.Value)})
		if err != nil {
			return err
		}
		_, err = bw.Write(b)
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

// readJSON reads the whole body, then decodes it strictly (see
// api.DecodeRequest): a body cut short, or that does not arrive in time,
// is refused and never applied.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequest))
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mbe):
		err = fmt.Errorf("the request is over %d bytes", mbe.Limit)
	case errors.Is(err, io.ErrUnexpectedEOF):
		err = errors.New("the body ended before its Content-Length (unexpected EOF)")
	case errors.As(err, &ne) && ne.Timeout():
		err = errors.New("the body did not arrive in time")
	case err == nil:
		err = api.DecodeRequest(b, v)
	}
	if err != nil {
		writeErrorKind(w, api.KindBadInput, "malformed request: "+err.Error())
		return false
	}
	return true
}

// deadlineWriter gives each write to an answer a deadline of its own.
type deadlineWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (dw deadlineWriter) Write(p []byte) (int, error) {
	dw.rc.SetWriteDeadline(time.Now().Add(dw.d))
	return dw.w.Write(p)
}
