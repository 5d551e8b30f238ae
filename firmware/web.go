package firmware

import (
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"

	"consoled/api"
	"consoled/replication/store"
)

// The page's files, served as they are: no build step.
//
//go:embed web
var webFiles embed.FS

// webUI is the web front panel, the status JSON and the metrics, on
// --http. It only reads: changing the show goes through the control
// socket, which is protected by file permissions, not through a TCP port.
func (s *Service) webUI() http.Handler {
	static, _ := fs.Sub(webFiles, "web")
	files := http.FileServerFS(static)
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", files)
	mux.Handle("GET /panel.css", files)
	mux.Handle("GET /panel.js", files)
	mux.HandleFunc("GET /events", s.hub.serveEvents)
	mux.HandleFunc("GET /view.json", s.hub.serveView)
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.status())
	})
	mux.HandleFunc("GET /digest.json", s.digests.serve(s))
	mux.Handle("GET /metrics", s.metrics.handler(slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)))
	return secureHeaders(mux)
}

// secureHeaders keeps the page to its own files: a show network is offline,
// and nothing on it should be able to frame the page or feed it scripts.
func secureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

// digestCache answers the show's digest, the one a dump prints, for the
// page's details. Working it out reads the whole show, so one runs at a
// time and the answer is kept until the show changes.
type digestCache struct {
	run sync.Mutex // held while a digest is worked out
	mu  sync.Mutex
	key string // show, seq the answer is for
	ans digestAnswer
}

type digestAnswer struct {
	Show   string `json:"show"`
	Seq    uint64 `json:"seq"`
	Digest string `json:"digest"`
}

func (d *digestCache) serve(s *Service) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st := s.engine.Status()
		key := fmt.Sprintf("%s/%s/%d", st.Show, st.ShowID, st.Seq)
		d.mu.Lock()
		if d.key == key {
			ans := d.ans
			d.mu.Unlock()
			writeJSON(w, ans)
			return
		}
		d.mu.Unlock()
		if !d.run.TryLock() {
			writeErrorKind(w, api.KindUnavailable, "a digest is being worked out; try again in a moment")
			return
		}
		defer d.run.Unlock()
		show, digest, seq, err := s.engine.Dump(func(store.Object) error { return nil })
		if err != nil {
			writeError(w, err)
			return
		}
		ans := digestAnswer{Show: show, Seq: seq, Digest: hex.EncodeToString(digest[:])}
		d.mu.Lock()
		d.key, d.ans = fmt.Sprintf("%s/%s/%d", show, st.ShowID, seq), ans
		d.mu.Unlock()
		writeJSON(w, ans)
	}
}
