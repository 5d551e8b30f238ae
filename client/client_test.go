package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"consoled/api"
)

// fakeConsole accepts connections on a unix socket, upgrades each to an
// edit stream and hands it to serve, one connection at a time in order.
type fakeConsole struct {
	t      *testing.T
	socket string
	ln     net.Listener
	wg     sync.WaitGroup
}

// fakeStream is one upgraded connection of the fake console.
type fakeStream struct {
	nc net.Conn
	fr *api.FrameReader
}

// edit reads the next edit's key.
func (fs *fakeStream) edit() (string, error) {
	typ, p, err := fs.fr.Next()
	if err != nil {
		return "", err
	}
	if typ != api.FrameEdit {
		return "", fmt.Errorf("frame type %d", typ)
	}
	key, _, _, err := api.DecodeEdit(p)
	return string(key), err
}

func (fs *fakeStream) send(b []byte) {
	fs.nc.Write(b)
}

// newFakeConsole serves the i-th connection with serve[i] (the last one
// for any beyond).
func newFakeConsole(t *testing.T, serve ...func(*fakeStream)) *fakeConsole {
	t.Helper()
	fc := &fakeConsole{t: t, socket: filepath.Join(t.TempDir(), "fake.sock")}
	ln, err := net.Listen("unix", fc.socket)
	if err != nil {
		t.Fatal(err)
	}
	fc.ln = ln
	fc.wg.Add(1)
	go func() {
		defer fc.wg.Done()
		for i := 0; ; i++ {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			f := serve[min(i, len(serve)-1)]
			fc.wg.Add(1)
			go func() {
				defer fc.wg.Done()
				defer nc.Close()
				br := bufio.NewReader(nc)
				req, err := http.ReadRequest(br)
				if err != nil || req.URL.Path != api.PathEditStream {
					return
				}
				io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "+api.StreamProtocol+"\r\n\r\n")
				f(&fakeStream{nc: nc, fr: api.NewFrameReader(br)})
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		fc.wg.Wait()
	})
	return fc
}

func (fc *fakeConsole) client(opts Options) *Client {
	c := New(func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", fc.socket)
	}, opts)
	fc.t.Cleanup(c.Close)
	return c
}

func kindOf(err error) api.Kind {
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae.Kind
	}
	return ""
}

// An edit whose stream breaks after it was sent has an unknown outcome
// (exit 4); the next edit opens a new stream.
func TestOutcomeUnknown(t *testing.T) {
	fc := newFakeConsole(t,
		func(fs *fakeStream) { fs.edit() }, // reads it, then the connection drops
		func(fs *fakeStream) {
			if _, err := fs.edit(); err == nil {
				fs.send(api.AppendSeq(nil, 7))
			}
		})
	c := fc.client(Options{})
	_, err := c.Set(context.Background(), "cue/1", "x")
	if kindOf(err) != api.KindOutcomeUnknown || api.KindOutcomeUnknown.ExitCode() != api.ExitOutcomeUnknown {
		t.Fatalf("edit on a stream that broke: %v (kind %q), want outcome_unknown", err, kindOf(err))
	}
	if seq, err := c.Set(context.Background(), "cue/1", "x"); err != nil || seq != 7 {
		t.Fatalf("the next edit: %d %v", seq, err)
	}
}

// Edits a console ends the stream without applying (it is stopping, or
// the stream idled) go again on a new stream, once.
func TestRetryAfterEnd(t *testing.T) {
	end := api.AppendError(nil, api.FrameEnd, api.KindUnavailable, "edit stream idle for 2m0s")
	fc := newFakeConsole(t,
		func(fs *fakeStream) {
			if _, err := fs.edit(); err == nil {
				fs.send(end)
			}
		},
		func(fs *fakeStream) {
			if key, err := fs.edit(); err == nil && key == "cue/1" {
				fs.send(api.AppendSeq(nil, 1))
			}
		})
	c := fc.client(Options{})
	if seq, err := c.Set(context.Background(), "cue/1", "x"); err != nil || seq != 1 {
		t.Fatalf("an edit not applied on an ended stream, then taken on a new one: %d %v", seq, err)
	}

	// An end that is not "unavailable" (the console found the stream
	// malformed) is the answer, not retried.
	bad := api.AppendError(nil, api.FrameEnd, api.KindBadInput, "edit stream: frame type 0x09")
	fc = newFakeConsole(t, func(fs *fakeStream) {
		if _, err := fs.edit(); err == nil {
			fs.send(bad)
		}
	})
	c = fc.client(Options{})
	if _, err := c.Set(context.Background(), "cue/1", "x"); kindOf(err) != api.KindBadInput {
		t.Fatalf("after a bad_input end: %v", err)
	}
}

// No more edits than the window are sent unanswered.
func TestWindow(t *testing.T) {
	got := make(chan string, 10)
	release := make(chan struct{})
	fc := newFakeConsole(t, func(fs *fakeStream) {
		var keys []string
		for {
			key, err := fs.edit()
			if err != nil {
				return
			}
			got <- key
			keys = append(keys, key)
			if len(keys) == 1 {
				<-release
				fs.send(api.AppendSeq(nil, 1))
			} else {
				fs.send(api.AppendSeq(nil, uint64(len(keys))))
			}
		}
	})
	c := fc.client(Options{Window: 1})
	first := make(chan error, 1)
	go func() {
		_, err := c.Set(context.Background(), "cue/1", "x")
		first <- err
	}()
	if k := <-got; k != "cue/1" {
		t.Fatalf("first edit %q", k)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Set(ctx, "cue/2", "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second edit with a window of 1 and the first unanswered: %v", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if seq, err := c.Set(context.Background(), "cue/3", "x"); err != nil || seq != 2 {
		t.Fatalf("after the answer: %d %v", seq, err)
	}
	if k := <-got; k != "cue/3" {
		t.Fatalf("the console got %q after the window freed, want cue/3 (cue/2 was given up before it was sent)", k)
	}
}

// A refused upgrade is the console's error answer.
func TestUpgradeRefused(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "c.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"error":"the console is stopping","kind":"unavailable"}`)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	c := Unix(socket)
	defer c.Close()
	_, err = c.Set(context.Background(), "cue/1", "x")
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Kind != api.KindUnavailable || ae.Status != 503 || ae.Message != "the console is stopping" {
		t.Fatalf("refused upgrade: %#v", err)
	}
	c2 := Unix(filepath.Join(t.TempDir(), "nobody.sock"))
	defer c2.Close()
	var de *DialError
	if _, err := c2.Status(context.Background()); !errors.As(err, &de) {
		t.Fatalf("no console: %v", err)
	}
	if _, err := c2.Set(context.Background(), "cue/1", "x"); !errors.As(err, &de) {
		t.Fatalf("no console, set: %v", err)
	}
}

// Rounds bigger than the buffer the stream keeps for reuse: the buffer
// being written is never the one the next round's edits are queued into
// (under -race, a write that read a buffer the callers were filling was
// reported here).
func TestLargeRounds(t *testing.T) {
	fc := newFakeConsole(t, func(fs *fakeStream) {
		for n := uint64(1); ; n++ {
			if _, err := fs.edit(); err != nil {
				return
			}
			fs.send(api.AppendSeq(nil, n))
		}
	})
	c := fc.client(Options{})
	value := string(make([]byte, 40<<10)) // 16 callers: rounds of up to 640 KiB
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				if _, err := c.Set(context.Background(), fmt.Sprintf("cue/%d.%d", w, i), value); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
