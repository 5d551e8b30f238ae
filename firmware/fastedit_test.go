package firmware

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseEditHead(t *testing.T) {
	body := `{"key":"a","value":"b"}`
	ok := fmt.Sprintf("POST /v1/edit HTTP/1.1\r\nHost: consoled\r\nContent-Length: %d\r\n\r\n", len(body))
	for _, c := range []struct {
		head string
		want int
	}{
		{ok, headOK},
		{"POST /v1/edit HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\nUser-Agent: t\r\n\r\n", headOK},
		{"POST /v1/ed", headIncomplete},
		{"POST /v1/edit HTTP/1.1\r\nHost: consoled\r\nContent-Len", headIncomplete},
		{"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n", headOther},
		{"POST /v1/edit?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n", headOther},
		{"POST /v1/edit HTTP/1.0\r\nHost: x\r\nContent-Length: 5\r\n\r\n", headOther},
		{"POST /v1/edit HTTP/1.1\r\nContent-Length: 5\r\n\r\n", headOther},                                 // no Host
		{"POST /v1/edit HTTP/1.1\r\nHost: x\r\nHost: y\r\nContent-Length: 5\r\n\r\n", headOther},           // two
		{"POST /v1/edit HTTP/1.1\r\nHost: a b\r\nContent-Length: 5\r\n\r\n", headOther},                    // bad host
		{"POST /v1/edit HTTP/1.1\r\nHost: x\r\n\r\n", headOther},                                           // no length
		{"POST /v1/edit HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", headOther},                      // empty body
		{"POST /v1/edit HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", headOther}, // twice
		{"POST /v1/edit HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", headOther},
		{"POST /v1/edit HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", headOther},
		{"POST /v1/edit HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", headOther},
		{"POST /v1/edit HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\n", headOther},
		{"POST /v1/edit HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n folded\r\n\r\n", headOther},
		{"POST /v1/edit HTTP/1.1\r\nHost: x\r\nContent-Length: 5\nX: y\r\n\r\n", headOther}, // bare LF
		{"POST /v1/edit HTTP/1.1\r\nHost: x\r\nBad Name: y\r\nContent-Length: 5\r\n\r\n", headOther},
		{"POST /v1/edit HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\nContent-Length: 5\r\n\r\n", headOther},
	} {
		if _, _, got := parseEditHead([]byte(c.head)); got != c.want {
			t.Errorf("parseEditHead(%q) = %d, want %d", c.head, got, c.want)
		}
	}
	at, n, st := parseEditHead([]byte(ok + body))
	if st != headOK || at != len(ok) || n != len(body) {
		t.Errorf("parseEditHead = %d, %d, %d; want %d, %d, ok", at, n, st, len(ok), len(body))
	}
}

// launchedService runs a console alone, launched on a show. Its Run
// returns on done once cancel is called (at the latest by the test's
// cleanup); c is a client of its control socket.
func launchedService(t *testing.T) (c *Client, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	dir := t.TempDir()
	cfg, err := ParseArgs([]string{"--id", "t1", "--data", dir, "--listen", "127.0.0.1:0", "--http", "off", "--discovery", "off"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ran := make(chan error, 1)
	go func() { ran <- svc.Run(ctx) }()
	c = NewClient(filepath.Join(dir, "consoled.sock"))
	t.Cleanup(c.Close)
	if _, err := c.Launch(context.Background(), "show", false); err != nil {
		t.Fatal(err)
	}
	return c, cancel, ran
}

// startService runs a console alone, launched on a show, and returns its
// control socket.
func startService(t *testing.T) string {
	t.Helper()
	c, cancel, done := launchedService(t)
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return c.socket
}

// readAnswers reads n HTTP answers from br and returns their status codes
// and bodies.
func readAnswers(t *testing.T, br *bufio.Reader, n int) (codes []int, bodies []string) {
	t.Helper()
	for i := 0; i < n; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		codes, bodies = append(codes, resp.StatusCode), append(bodies, string(b))
	}
	return codes, bodies
}

func editReq(body string, extra string) string {
	return fmt.Sprintf("POST /v1/edit HTTP/1.1\r\nHost: consoled\r\n%sContent-Length: %d\r\n\r\n%s", extra, len(body), body)
}

// Pipelined requests get their answers in order, edits commit in the order
// sent, and a request the fast path does not take (here a status) is
// answered by net/http in its turn, with the edits after it.
func TestFastPathPipelined(t *testing.T) {
	sock := startService(t)
	nc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var reqs strings.Builder
	for i := 0; i < 5; i++ {
		reqs.WriteString(editReq(fmt.Sprintf(`{"key":"cue/k","value":"v%d"}`, i), ""))
	}
	reqs.WriteString(editReq(`{"key":"bad key","value":"x"}`, ""))
	reqs.WriteString(editReq(`{"key":"cue/k2","delete":true}`, ""))
	reqs.WriteString("GET /v1/object?key=cue/k HTTP/1.1\r\nHost: consoled\r\n\r\n")
	reqs.WriteString(editReq(`{"key":"cue/k","value":"after"}`, ""))
	if _, err := io.WriteString(nc, reqs.String()); err != nil {
		t.Fatal(err)
	}
	codes, bodies := readAnswers(t, bufio.NewReader(nc), 9)
	for i := 0; i < 5; i++ {
		if want := fmt.Sprintf(`{"seq":%d}`+"\n", i+1); codes[i] != 200 || bodies[i] != want {
			t.Errorf("answer %d: %d %q, want 200 %q", i, codes[i], bodies[i], want)
		}
	}
	if codes[5] != 400 || !strings.Contains(bodies[5], `"kind":"bad_input"`) {
		t.Errorf("bad key: %d %q", codes[5], bodies[5])
	}
	if codes[6] != 200 || bodies[6] != `{"seq":6}`+"\n" {
		t.Errorf("delete: %d %q", codes[6], bodies[6])
	}
	if codes[7] != 200 || bodies[7] != `{"key":"cue/k","value":"v4"}`+"\n" {
		t.Errorf("get after the edits: %d %q", codes[7], bodies[7])
	}
	if codes[8] != 200 || bodies[8] != `{"seq":7}`+"\n" {
		t.Errorf("edit after the get: %d %q", codes[8], bodies[8])
	}
}

// The fast path answers bad input exactly as net/http's handler does (a
// Connection header sends a request to net/http).
func TestFastPathSameAnswers(t *testing.T) {
	sock := startService(t)
	for _, body := range []string{
		`{"key":"bad key","value":"x"}`, `{"key":"cue/a","value":"\u0000x"}`, `{"key":"cue/a","value":"\ud800"}`, `{"key":"cue/a","value":"ok"}`,
		`{"key":"a","value":1}`, `{"key":"a","nope":1}`, `{"key":"a","value":"b"}x`, `[]`, `{"key":""}`,
		`{"key":"a","value":"` + strings.Repeat("x", 20000) + `"}`,
	} {
		answer := func(extra string) (int, string) {
			nc, err := net.Dial("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			io.WriteString(nc, editReq(body, extra))
			codes, bodies := readAnswers(t, bufio.NewReader(nc), 1)
			return codes[0], bodies[0]
		}
		fc, fb := answer("")
		sc, sb := answer("Connection: keep-alive\r\n")
		if fc == 200 && sc == 200 && strings.HasPrefix(fb, `{"seq"`) && strings.HasPrefix(sb, `{"seq"`) {
			continue // both acknowledged, each with its own seq
		}
		if fc != sc || fb != sb {
			t.Errorf("%.40q: fast path %d %q, net/http %d %q", body, fc, fb, sc, sb)
		}
	}
}

// Many callers of one client, stopping at different times: every edit is
// acknowledged with its own seq (none is left queued behind a batch).
func TestClientPipelinedEdits(t *testing.T) {
	sock := startService(t)
	c := NewClient(sock)
	defer c.Close()
	ctx := context.Background()
	var mu sync.Mutex
	seqs := map[uint64]bool{}
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20+5*w; i++ {
				seq, err := c.Set(ctx, fmt.Sprintf("cue/%d.%d", w, i), "v")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seqs[seq] {
					t.Errorf("seq %d twice", seq)
				}
				seqs[seq] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	const total = 16*20 + 5*(15*16/2)
	if len(seqs) != total {
		t.Fatalf("%d seqs, want %d", len(seqs), total)
	}
	for s := uint64(1); s <= total; s++ {
		if !seqs[s] {
			t.Fatalf("seq %d missing", s)
		}
	}
	if v, err := c.Get(ctx, "cue/3.7"); err != nil || v != "v" {
		t.Fatalf("get: %q %v", v, err)
	}
	// A bad edit gets its error and the others go on.
	if _, err := c.Set(ctx, "bad key", "v"); err == nil || !strings.Contains(err.Error(), "key") {
		t.Fatalf("bad key: %v", err)
	}
	// The client recovers from the console closing its connections.
	c.pipeMu.Lock()
	for _, pc := range c.pipes {
		pc.nc.Close()
	}
	c.pipeMu.Unlock()
	time.Sleep(10 * time.Millisecond)
	if _, err := c.Set(ctx, "cue/after", "v"); err != nil {
		t.Fatal(err)
	}
}

// A stop does not wait for idle fast-path connections, and cuts them.
func TestFastPathShutdown(t *testing.T) {
	c, cancel, done := launchedService(t)
	if _, err := c.Set(context.Background(), "cue/1", "x"); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return with an idle edit connection open")
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("stop took %v", d)
	}
	if _, err := c.Set(context.Background(), "cue/2", "x"); err == nil {
		t.Error("an edit after the stop was acknowledged")
	}
}

// A request cut short gets the answer net/http gives (a Connection header
// sends a request there), wherever it is cut; the console goes on serving
// others.
func TestFastPathShortRequest(t *testing.T) {
	sock := startService(t)
	answer := func(req string) string {
		nc, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		io.WriteString(nc, req)
		nc.(*net.UnixConn).CloseWrite()
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(nc)
		if err != nil {
			t.Fatal(err)
		}
		// The Date header differs from one answer to the next.
		if i := strings.Index(string(b), "Date: "); i >= 0 {
			j := strings.Index(string(b[i:]), "\r\n")
			b = append(b[:i:i], b[i+j+2:]...)
		}
		return string(b)
	}
	fast := editReq(`{"key":"cue/1","value":"x"}`, "")
	slow := editReq(`{"key":"cue/1","value":"x"}`, "Connection: keep-alive\r\n")
	for cut := 1; cut < len(fast); cut++ {
		// The same place in the other request, which has the Connection
		// header before Content-Length.
		at := "Content-Length"
		scut := cut
		i := strings.Index(fast, at)
		if cut < i {
			continue // before the header's place they are the same request
		}
		scut += len("Connection: keep-alive\r\n")
		if f, s := answer(fast[:cut]), answer(slow[:scut]); f != s {
			t.Errorf("cut at %d: fast path %q, net/http %q", cut, f, s)
		}
	}
	c := NewClient(sock)
	defer c.Close()
	if _, err := c.Set(context.Background(), "cue/2", "y"); err != nil {
		t.Fatal(err)
	}
}
