package firmware

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"consoled/api"
)

// closedWithin reads nc until the console closes it, and fails the test if
// it has not within d. It returns what was read.
func closedWithin(t *testing.T, nc net.Conn, d time.Duration) string {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v (read %q)", d, b)
	}
	return string(b)
}

var shortTimeouts = Timeouts{Header: 200 * time.Millisecond, Read: 300 * time.Millisecond, Idle: 200 * time.Millisecond}

// Issue 13, row 8: on the control socket, a connection that sends nothing,
// one that stops in the middle of a body and one left idle after a request
// are closed after their timeouts; the cut-short edit is not applied.
func TestControlSocketTimeouts(t *testing.T) {
	ts := startTestService(t, Options{Timeouts: shortTimeouts})
	ts.launch()
	dial := func() net.Conn {
		nc, err := net.Dial("unix", ts.socket)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		return nc
	}
	closedWithin(t, dial(), 5*time.Second)

	partial := dial()
	io.WriteString(partial, "POST /v1/edit HTTP/1.1\r\nHost: consoled\r\nContent-Length: 100\r\n\r\n"+`{"key":"cue/1",`)
	closedWithin(t, partial, 5*time.Second)

	idle := dial()
	io.WriteString(idle, "GET /v1/panel HTTP/1.1\r\nHost: consoled\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(idle), nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("panel: %v %v", resp, err)
	}
	closedWithin(t, idle, 5*time.Second)

	if got := ts.get("cue/1"); got != "(none)" {
		t.Fatalf("the cut-short edit was applied: %s", got)
	}
}

// Issue 13, row 3: the status page closes idle keep-alive connections and
// ones that never send a request.
func TestStatusPageTimeouts(t *testing.T) {
	ts := startTestService(t, Options{Timeouts: shortTimeouts}, "--http", "127.0.0.1:0")
	addr := ts.svc.HTTPAddr()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	closedWithin(t, nc, 5*time.Second)

	nc2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	io.WriteString(nc2, "GET /status.json HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(nc2), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("status.json: %v %v", resp, err)
	}
	closedWithin(t, nc2, 5*time.Second)
}

// Issue 13, rows 6 and 7: the control API refuses a request that is not
// valid UTF-8 (raw, or a lone surrogate escaped), that has anything after
// its JSON object, that names a field twice, or whose body is cut short, with
// 400 and a one-line message, and applies none of them.
func TestStrictRequests(t *testing.T) {
	ts := startTestService(t, Options{})
	ts.launch()
	for _, c := range []struct{ body, want string }{
		{`{"key":"cue/1","value":"caf` + "\xe9" + `"}`, "not valid UTF-8"},
		{`{"key":"cue/1","value":"\ud800"}`, `lone surrogate`},
		{`{"key":"cue/1","value":"\udc00\ud800"}`, `lone surrogate`},
		{`{"key":"cue/1","value":"a"}x`, "after the JSON object"},
		{`{"key":"cue/1","value":"a"}{"key":"cue/2","value":"b"}`, "after the JSON object"},
		{`{"key":"cue/1","value":"a","value":"b"}`, `field \"value\" twice`},
		{`{"key":"cue/1","Key":"cue/2","value":"b"}`, `field \"Key\" twice`},
		{`{"key":"cue/1","value":"a"`, "unexpected EOF"},
		{``, "empty"},
	} {
		code, body := ts.post(api.PathEdit, c.body)
		if code != 400 || !strings.Contains(body, c.want) || !strings.Contains(body, `"kind":"bad_input"`) || strings.Count(strings.TrimSpace(body), "\n") != 0 {
			t.Errorf("%q: %d %s; want 400 naming %q", c.body, code, body, c.want)
		}
	}
	// A body cut short of its Content-Length.
	nc, err := net.Dial("unix", ts.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	io.WriteString(nc, "POST /v1/edit HTTP/1.1\r\nHost: consoled\r\nContent-Length: 60\r\n\r\n"+`{"key":"cue/1","value":"a"}`)
	nc.(*net.UnixConn).CloseWrite()
	closedWithin(t, nc, 10*time.Second)
	// Escaped surrogate pairs and other escapes are fine.
	if code, body := ts.post(api.PathEdit, `{"key":"cue/ok","value":"\ud83c\udfad \u00e9 \n"}`); code != 200 {
		t.Errorf("a valid escaped pair: %d %s", code, body)
	}
	if got := ts.get("cue/1"); got != "(none)" {
		t.Fatalf("a refused request was applied: %s", got)
	}
	if got := ts.get("cue/ok"); got != `{"key":"cue/ok","value":"🎭 é \n"}` {
		t.Fatalf("cue/ok: %s", got)
	}
}

// Connections over the control socket's cap are answered 503 at once; the
// ones within it go on, and a slot that frees is taken again.
func TestControlConnectionCap(t *testing.T) {
	ts := startTestService(t, Options{Limits: Limits{ControlConns: 2}})
	var held []net.Conn
	for i := 0; i < 2; i++ {
		nc, err := net.Dial("unix", ts.socket)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		held = append(held, nc)
	}
	code, body := ts.do("GET", api.PathStatus, "")
	if code != 503 || !strings.Contains(body, `"kind":"unavailable"`) || !strings.Contains(body, "too many connections") {
		t.Fatalf("a third connection: %d %s", code, body)
	}
	held[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _ = ts.do("GET", api.PathStatus, ""); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the freed slot was not taken again: %d", code)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The status page caps the connections from one address.
func TestStatusPageCapPerSource(t *testing.T) {
	ts := startTestService(t, Options{Limits: Limits{StatusConnsPerSource: 1}}, "--http", "127.0.0.1:0")
	held, err := net.Dial("tcp", ts.svc.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	resp, err := http.Get("http://" + ts.svc.HTTPAddr() + "/status.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(b), "too many connections to the status page from 127.0.0.1") {
		t.Fatalf("a second connection from one address: %d %s", resp.StatusCode, b)
	}
}
