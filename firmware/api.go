package firmware

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
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
		var req LaunchRequest
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
		var req EditRequest
		value, ok := readEditRequest(w, r, &req)
		if !ok {
			return
		}
		seq, err := s.submit(r.Context(), []store.Op{{Key: req.Key, Value: value, Delete: req.Delete}})
		if err != nil {
			writeError(w, err)
			return
		}
		// What writeJSON(w, EditResponse{Seq: seq}) writes, without the
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
			writeErrorKind(w, http.StatusNotFound, "not_found", fmt.Sprintf("no object %q in the show", key))
			return
		}
		writeJSON(w, ObjectJSON{Key: key, Value: string(v)})
	})
	mux.HandleFunc("GET /v1/dump", s.handleDump)
	mux.HandleFunc("GET /v1/archives", func(w http.ResponseWriter, r *http.Request) {
		list, err := s.store.Archives()
		if err != nil {
			writeError(w, err)
			return
		}
		out := []ArchiveJSON{}
		for _, a := range list {
			out = append(out, ArchiveJSON{Name: a.Name, Show: a.Show, Console: a.Console, Time: a.Time, Why: a.Why, Edits: a.Seq})
		}
		writeJSON(w, out)
	})
	mux.HandleFunc("POST /v1/ack", func(w http.ResponseWriter, r *http.Request) {
		n := s.engine.AckMerges()
		writeJSON(w, AckJSON{Acknowledged: n})
	})
	mux.HandleFunc("POST /v1/restore", func(w http.ResponseWriter, r *http.Request) {
		var req RestoreRequest
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
		writeJSON(w, RestoreJSON{Show: show})
	})
	mux.HandleFunc("GET /v1/network-key", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, KeyJSON{Key: s.key.Hex(), Fingerprint: s.key.Fingerprint()})
	})
	mux.HandleFunc("POST /v1/press", func(w http.ResponseWriter, r *http.Request) {
		var req PressRequest
		if !readJSON(w, r, &req) {
			return
		}
		if s.mock == nil {
			writeErrorKind(w, http.StatusConflict, "mock_only", fmt.Sprintf("press: board %s has real buttons; press works on the mock board only", s.board.Name()))
			return
		}
		if _, ok := s.board.Button(req.Button); !ok {
			writeErrorKind(w, http.StatusBadRequest, "bad_input", fmt.Sprintf("press: unknown button %q (buttons: %v)", req.Button, hal.ButtonNames))
			return
		}
		if req.HoldMS < 0 {
			writeErrorKind(w, http.StatusBadRequest, "bad_input", "press: --hold must not be negative")
			return
		}
		if err := s.mock.Press(r.Context(), req.Button, time.Duration(req.HoldMS)*time.Millisecond); err != nil {
			writeError(w, err)
			return
		}
		results, err := s.settle(r)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, PressResponse{Results: results})
	})
	mux.HandleFunc("POST /v1/link", func(w http.ResponseWriter, r *http.Request) {
		var req LinkRequest
		if !readJSON(w, r, &req) {
			return
		}
		if s.mock == nil || s.board.Link() != s.mock.Link() {
			writeErrorKind(w, http.StatusConflict, "mock_only", fmt.Sprintf("link: board %s has a real NIC (%s); link works on the mock board only", s.board.Name(), s.board.Link().Name()))
			return
		}
		if err := s.mock.SetLink(req.Up); err != nil {
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
func (s *Service) settle(r *http.Request) ([]CommandResult, error) {
	reply := make(chan []CommandResult, 1)
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

func (s *Service) status() StatusJSON {
	st := s.engine.Status()
	out := StatusJSON{
		Console: st.Console,
		Role:    string(st.Role),
		Show:    st.Show,
		ShowID:  st.ShowID,
		Epoch:   st.Epoch,
		Epochs:  []EpochJSON{},
		Seq:     st.Seq,
		Stale:   st.Stale,
		Link:    "down",
		Peers:   st.Peers,
		LEDs:    s.ledStates(),
		Board:   s.board.Name(),
		Master:  s.cfg.Master,
		Faults:  s.faults.list(),
		Acked:   s.acked.Load(),

		Syncing:     st.Syncing,
		Active:      st.Active,
		Listen:      st.Listen,
		NetworkKey:  st.KeyFingerprint,
		AuthRefused: st.AuthRefused,
		FullSyncs:   st.FullSyncs,
		CatchUps:    st.CatchUps,
		Adoptions:   st.Adoptions,
		Merges:      st.Merges,
		WaitingFor:  st.WaitingFor,
		Ack:         s.cfg.Ack,
	}
	for _, msg := range st.ProtocolFaults {
		out.Faults = append(out.Faults, Fault{Kind: "protocol", Level: "blink", Message: msg})
	}
	for _, e := range st.Epochs {
		out.Epochs = append(out.Epochs, EpochJSON{ID: e.ID, FirstSeq: e.FirstSeq})
	}
	if st.LinkUp {
		out.Link = "up"
	}
	return out
}

// ledStates reads the LEDs back from the board: what the panel shows, not
// what the service meant to show.
func (s *Service) ledStates() map[string]string {
	m := map[string]string{}
	for _, name := range hal.LEDNames {
		if led, ok := s.board.LED(name); ok {
			m[name] = led.State().String()
		}
	}
	return m
}

// handleDump streams the show as DumpJSON without holding it in memory. The
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
		b, err := json.Marshal(ObjectJSON{Key: o.Key, Value: string(o.Value)})
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

// readEditRequest reads an EditRequest and returns the value as the bytes
// to store. The common request (a small body of plain strings) is parsed
// directly; anything else goes through readJSON, whose answers (and errors)
// it matches exactly.
func readEditRequest(w http.ResponseWriter, r *http.Request, req *EditRequest) ([]byte, bool) {
	if n := r.ContentLength; n > 0 && n <= 4096 {
		b := make([]byte, n)
		got, err := io.ReadFull(r.Body, b)
		if err == nil {
			if value, ok := parseEditRequest(b, req); ok {
				return value, true
			}
			*req = EditRequest{}
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

// parseEditRequest parses b as exactly one JSON object of EditRequest's
// fields, each at most once, spelled as in its tags, with string values
// that are valid UTF-8 without control characters or \u escapes, and
// nothing after it but white space. It reports false for anything else
// (which may still be valid: the caller then asks encoding/json).
func parseEditRequest(b []byte, req *EditRequest) (value []byte, ok bool) {
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
		writeErrorKind(w, http.StatusBadRequest, "bad_input", "malformed request: "+err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func writeErrorKind(w http.ResponseWriter, code int, kind, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(ErrorJSON{Error: msg, Kind: kind})
}

// writeError maps the engine's and store's errors to an HTTP status, which
// consolectl maps to its exit status (409 refused → 3, others → 1).
func writeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, replication.ErrBadInput):
		writeErrorKind(w, http.StatusBadRequest, "bad_input", err.Error())
	case errors.Is(err, replication.ErrRefused):
		writeErrorKind(w, http.StatusConflict, "refused", err.Error())
	case errors.Is(err, replication.ErrNotLoggedOn):
		writeErrorKind(w, http.StatusPreconditionFailed, "not_logged_on", err.Error())
	case errors.Is(err, replication.ErrNoActive):
		writeErrorKind(w, http.StatusServiceUnavailable, "no_active", err.Error())
	case errors.Is(err, store.ErrDiskFull):
		writeErrorKind(w, http.StatusInsufficientStorage, "disk_full", err.Error())
	default:
		writeErrorKind(w, http.StatusInternalServerError, "internal", err.Error())
	}
}
