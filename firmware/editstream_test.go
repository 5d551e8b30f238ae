package firmware

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"consoled/api"
	"consoled/client"
)

// rawStream is an edit stream spoken by hand, to see exactly what the
// console sends.
type rawStream struct {
	t  *testing.T
	nc net.Conn
	fr *api.FrameReader
}

// upgradeHead is the request that opens a stream.
const upgradeHead = "POST " + api.PathEditStream + " HTTP/1.1\r\nHost: consoled\r\nConnection: Upgrade\r\nUpgrade: " + api.StreamProtocol + "\r\n\r\n"

// openStream upgrades a connection; early is sent right after the request,
// before the 101 has come.
func (ts *testService) openStream(early []byte) *rawStream {
	ts.t.Helper()
	nc, err := net.Dial("unix", ts.socket)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := nc.Write(append([]byte(upgradeHead), early...)); err != nil {
		ts.t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		ts.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != api.StreamProtocol {
		ts.t.Fatalf("upgrade answered %s %v", resp.Status, resp.Header)
	}
	return &rawStream{t: ts.t, nc: nc, fr: api.NewFrameReader(br)}
}

func (rs *rawStream) send(frames []byte) {
	rs.t.Helper()
	if _, err := rs.nc.Write(frames); err != nil {
		rs.t.Fatal(err)
	}
}

// next reads one answer as "seq N", "error KIND: MSG" or "end KIND: MSG",
// or "closed" at the connection's end.
func (rs *rawStream) next() string {
	rs.t.Helper()
	typ, p, err := rs.fr.Next()
	if errors.Is(err, io.EOF) {
		return "closed"
	}
	if err != nil {
		rs.t.Fatal(err)
	}
	switch typ {
	case api.FrameSeq:
		seq, err := api.DecodeSeq(p)
		if err != nil {
			rs.t.Fatal(err)
		}
		return fmt.Sprintf("seq %d", seq)
	case api.FrameError, api.FrameEnd:
		kind, msg, err := api.DecodeError(p)
		if err != nil {
			rs.t.Fatal(err)
		}
		what := map[byte]string{api.FrameError: "error", api.FrameEnd: "end"}[typ]
		return fmt.Sprintf("%s %s: %s", what, kind, msg)
	}
	rs.t.Fatalf("frame type %d from the console", typ)
	return ""
}

func (rs *rawStream) expect(want ...string) {
	rs.t.Helper()
	for _, w := range want {
		if got := rs.next(); !strings.HasPrefix(got, w) {
			rs.t.Fatalf("answer %q, want %q", got, w)
		}
	}
}

func (ts *testService) launch() {
	ts.t.Helper()
	if code, body := ts.post(api.PathLaunch, `{"show":"show"}`); code != 200 {
		ts.t.Fatalf("launch: %d %s", code, body)
	}
}

func (ts *testService) get(key string) string {
	ts.t.Helper()
	code, body := ts.do("GET", api.PathObject+"?key="+key, "")
	if code == http.StatusNotFound {
		return "(none)"
	}
	return strings.TrimSpace(body)
}

// Pipelined edits, some sent before the 101, are answered in order, each
// with its own seq, and applied in the order sent; an invalid one gets its
// own error and the others go on.
func TestEditStreamPipelined(t *testing.T) {
	ts := startTestService(t, Options{})
	ts.launch()
	var early []byte
	for i := 0; i < 3; i++ {
		early = api.AppendEdit(early, "cue/k", fmt.Sprintf("v%d", i), false)
	}
	rs := ts.openStream(early)
	var more []byte
	more = api.AppendEdit(more, "bad key", "x", false)
	more = api.AppendEdit(more, "cue/k", "v3", false)
	more = api.AppendEdit(more, "cue/gone", "", true)
	more = api.AppendEdit(more, "cue/k", "\xff", false)
	for i := 4; i < 600; i++ { // more than one submission's worth
		more = api.AppendEdit(more, "cue/k", fmt.Sprintf("v%d", i), false)
	}
	rs.send(more)
	rs.expect("seq 1", "seq 2", "seq 3", `error bad_input: bad input: `, "seq 4", "seq 5", "error bad_input: bad input: value of \"cue/k\" is not valid UTF-8")
	for seq := 6; seq < 602; seq++ {
		rs.expect(fmt.Sprintf("seq %d", seq))
	}
	if got := ts.get("cue/k"); got != `{"key":"cue/k","value":"v599"}` {
		t.Fatalf("after the stream: %s", got)
	}
}

// A malformed frame ends the stream with a reason, after the edits before
// it are answered; the console goes on serving.
func TestEditStreamMalformed(t *testing.T) {
	ts := startTestService(t, Options{})
	ts.launch()
	for _, c := range []struct {
		name  string
		frame []byte
		want  string
	}{
		{"not an edit", api.AppendSeq(nil, 1), "end bad_input: edit stream: frame type 0x02"},
		{"unknown flag", []byte{0, 0, 0, 3, api.FrameEdit, 0x80, 0}, "end bad_input: edit stream: edit frame with unknown flags"},
		{"too long", []byte{0x7f, 0, 0, 0, 1}, "end bad_input: edit stream: frame of 2130706432 bytes"},
	} {
		rs := ts.openStream(nil)
		rs.send(append(api.AppendEdit(nil, "cue/"+strings.ReplaceAll(c.name, " ", "-"), "x", false), c.frame...))
		rs.expect("seq ", c.want, "closed")
	}
	if code, _ := ts.post(api.PathEdit, `{"key":"cue/after","value":"x"}`); code != 200 {
		t.Fatalf("an edit after the malformed streams: %d", code)
	}
}

// A stream that sends nothing is ended, saying so.
func TestEditStreamIdle(t *testing.T) {
	ts := startTestService(t, Options{Timeouts: Timeouts{StreamIdle: 100 * time.Millisecond}})
	ts.launch()
	rs := ts.openStream(nil)
	rs.send(api.AppendEdit(nil, "cue/1", "x", false))
	rs.expect("seq 1", "end unavailable: edit stream idle for 100ms", "closed")
}

// Upgrades the console does not speak are refused, naming the one it does.
func TestEditStreamUpgradeRefused(t *testing.T) {
	ts := startTestService(t, Options{})
	for _, head := range []string{
		"POST " + api.PathEditStream + " HTTP/1.1\r\nHost: consoled\r\nContent-Length: 0\r\n\r\n",
		"POST " + api.PathEditStream + " HTTP/1.1\r\nHost: consoled\r\nConnection: Upgrade\r\nUpgrade: consoled-edits/2\r\n\r\n",
	} {
		nc, err := net.Dial("unix", ts.socket)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		io.WriteString(nc, head)
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1000))
		if resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Upgrade") != api.StreamProtocol || !strings.Contains(string(b), api.StreamProtocol) {
			t.Errorf("%q: %s %v %s", head, resp.Status, resp.Header, b)
		}
	}
}

// A stop answers what the stream has taken, ends it saying so, and does not
// wait for an idle stream.
func TestEditStreamStop(t *testing.T) {
	ts := startTestService(t, Options{})
	ts.launch()
	rs := ts.openStream(api.AppendEdit(nil, "cue/1", "x", false))
	rs.expect("seq 1")
	t0 := time.Now()
	ts.stop()
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("stop took %v with an idle stream open", d)
	}
	rs.expect("end unavailable: the console is stopping", "closed")
}

// Many callers of one client share its stream, stopping at different
// times: every edit is acknowledged with its own seq (none is left queued
// behind a round), a bad edit gets its error and the others go on, and the
// client carries on over a stream the console ended.
func TestClientStream(t *testing.T) {
	ts := startTestService(t, Options{Timeouts: Timeouts{StreamIdle: 200 * time.Millisecond}})
	ts.launch()
	c := client.Unix(ts.socket)
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
				key := fmt.Sprintf("cue/%d.%d", w, i)
				if i == 10 {
					if _, err := c.Set(ctx, "bad key", "v"); err == nil || !strings.Contains(err.Error(), "bad key") {
						t.Errorf("bad key: %v", err)
					}
				}
				seq, err := c.Set(ctx, key, "v")
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
	// The console ends the idle stream; the next edit goes on a new one.
	deadline := time.Now().Add(10 * time.Second)
	for ts.svc.streams.count() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the idle stream was not ended")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if seq, err := c.Delete(ctx, "cue/3.7"); err != nil || seq != total+1 {
		t.Fatalf("delete after the stream idled: %d %v", seq, err)
	}
}
