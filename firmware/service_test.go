package firmware

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// testService is a console run in-process for a test, with an HTTP client
// of its control socket. It stops, and its data goes, when the test ends.
type testService struct {
	t      *testing.T
	svc    *Service
	socket string
	hc     *http.Client
	stop   func() // stops the console (at the latest when the test ends)
}

// startTestService runs a console alone (not logged on) with opts and the
// extra consoled flags args.
func startTestService(t *testing.T, opts Options, args ...string) *testService {
	t.Helper()
	return startTestServiceWith(t, opts, nil, args...)
}

// startTestServiceWith is startTestService with prepare called on the
// service between New and Run.
func startTestServiceWith(t *testing.T, opts Options, prepare func(*Service), args ...string) *testService {
	t.Helper()
	dir := t.TempDir()
	cfg, err := ParseArgs(append([]string{"--id", "t1", "--data", dir, "--listen", "127.0.0.1:0", "--http", "off", "--discovery", "off"}, args...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	svc, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(svc)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- svc.Run(ctx) }()
	ts := &testService{t: t, svc: svc, socket: filepath.Join(dir, "consoled.sock")}
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", ts.socket)
	}}
	ts.hc = &http.Client{Transport: tr}
	var once sync.Once
	ts.stop = func() {
		once.Do(func() {
			tr.CloseIdleConnections()
			cancel()
			if err := <-ran; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(ts.stop)
	return ts
}

// post sends body to path and returns the answer's status and body.
func (ts *testService) post(path, body string) (int, string) {
	ts.t.Helper()
	return ts.do("POST", path, body)
}

func (ts *testService) do(method, path, body string) (int, string) {
	ts.t.Helper()
	req, err := http.NewRequest(method, "http://consoled"+path, strings.NewReader(body))
	if err != nil {
		ts.t.Fatal(err)
	}
	resp, err := ts.hc.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
