package wire

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// countingConn records every Write it gets as a separate call, and passes
// it on to Conn when there is one.
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
	err    error
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	c.writes = append(c.writes, bytes.Clone(p))
	if c.Conn != nil {
		return c.Conn.Write(p)
	}
	return len(p), nil
}

func (c *countingConn) calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.writes)
}

// TestBatchConnCork: corked writes go out together at uncork, in order and
// in writes of at most batchWriteSize (or one larger write passed through);
// uncorked writes go out at once.
func TestBatchConnCork(t *testing.T) {
	cc := &countingConn{}
	b := newBatchConn(cc)
	if _, err := b.Write([]byte("alert")); err != nil {
		t.Fatal(err)
	}
	if cc.calls() != 1 {
		t.Fatalf("an uncorked write was held back (%d writes)", cc.calls())
	}
	var want []byte
	want = append(want, "alert"...)
	b.cork()
	for i := range 100 {
		rec := bytes.Repeat([]byte{byte(i)}, 16<<10+22)
		want = append(want, rec...)
		if _, err := b.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if n := cc.calls(); n > 1+len(want)/batchWriteSize {
		t.Fatalf("%d writes for %d corked bytes", n, len(want))
	}
	big := bytes.Repeat([]byte{'x'}, batchWriteSize+1)
	want = append(want, big...)
	b.Write(big)
	want = append(want, "tail"...)
	b.Write([]byte("tail"))
	held := cc.calls()
	if err := b.uncork(); err != nil {
		t.Fatal(err)
	}
	if cc.calls() != held+1 {
		t.Fatalf("uncork made %d writes, want 1", cc.calls()-held)
	}
	var got []byte
	for i, w := range cc.writes {
		if len(w) > batchWriteSize && !bytes.Equal(w, big) {
			t.Fatalf("write %d is %d bytes", i, len(w))
		}
		got = append(got, w...)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the bytes written differ from the bytes given")
	}
	b.Write([]byte("after"))
	if cc.calls() != len(cc.writes) || !bytes.Equal(cc.writes[len(cc.writes)-1], []byte("after")) {
		t.Fatal("a write after uncork was held back")
	}
}

// TestBatchConnError: once a write fails, the record stream is broken and
// every later write, and uncork, fails too.
func TestBatchConnError(t *testing.T) {
	cc := &countingConn{}
	b := newBatchConn(cc)
	b.cork()
	b.Write([]byte("queued"))
	boom := errors.New("boom")
	cc.err = boom
	if err := b.uncork(); !errors.Is(err, boom) {
		t.Fatalf("uncork: %v, want boom", err)
	}
	cc.err = nil
	if _, err := b.Write([]byte("x")); !errors.Is(err, boom) {
		t.Fatalf("write after a failed one: %v, want boom", err)
	}
}

// TestTLSBatchedWrites: over TLS a large chunk reaches the socket in a few
// large writes, not a write per record, and arrives intact; a single small
// message still goes out with its Send.
func TestTLSBatchedWrites(t *testing.T) {
	ln := listen(t)
	ch := serveOne(t, ln, newTLS(t, testKey(1), "srv"))
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cc := &countingConn{Conn: nc}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cli, err := Client(ctx, cc, newTLS(t, testKey(1), "cli").Client())
	if err != nil {
		t.Fatal(err)
	}
	a := <-ch
	if a.err != nil {
		t.Fatal(a.err)
	}
	srv := a.c
	t.Cleanup(func() { cli.Close(); srv.Close() })
	handshake := cc.calls()
	data := bytes.Repeat([]byte("0123456789abcdef"), MaxChunk/16)
	done := make(chan error, 1)
	go func() {
		err := cli.WriteChunk(data)
		if err == nil {
			err = cli.Send(&Ack{Seq: 7})
		}
		done <- err
	}()
	srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	m, err := srv.ReadMsg()
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := m.(*SnapChunk); !ok || !bytes.Equal(c.Data, data) {
		t.Fatalf("got %T, not the chunk sent", m)
	}
	if m, err = srv.ReadMsg(); err != nil {
		t.Fatal(err)
	}
	if a, ok := m.(*Ack); !ok || a.Seq != 7 {
		t.Fatalf("got %#v, want Ack 7", m)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// 64 records of 16 KiB, one TLS write each without the batching.
	if n := cc.calls() - handshake; n > 2+MaxChunk/batchWriteSize+1 {
		t.Fatalf("%d socket writes for one chunk and an ack", n)
	}
}
