package wire

import (
	"bytes"
	"context"
	"io"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"
)

func testKey(b byte) Key {
	var k Key
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

func newTLS(t testing.TB, k Key, id string) *TLS {
	t.Helper()
	tl, err := NewTLS(k, id)
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

// listen returns a loopback listener closed at the end of the test.
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

type accepted struct {
	c   *Conn
	err error
}

// serveOne accepts one connection and runs the TLS server handshake on it.
func serveOne(t testing.TB, ln net.Listener, srv *TLS) <-chan accepted {
	ch := make(chan accepted, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			ch <- accepted{nil, err}
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := Server(ctx, nc, srv.Server())
		ch <- accepted{c, err}
	}()
	return ch
}

// tlsPair connects a client and a server over loopback TCP and TLS.
func tlsPair(t testing.TB, srv, cli *TLS) (server, client *Conn) {
	t.Helper()
	ln := listen(t)
	ch := serveOne(t, ln, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	client, err := Dial(ctx, ln.Addr().String(), cli.Client())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	a := <-ch
	if a.err != nil {
		t.Fatalf("accept: %v", a.err)
	}
	t.Cleanup(func() { client.Close(); a.c.Close() })
	return a.c, client
}

// tcpPair connects two plain Conns over loopback TCP (buffered, unlike
// net.Pipe, so both sides may write before reading, as the handshake does).
func tcpPair(t testing.TB) (a, b *Conn) {
	t.Helper()
	ln := listen(t)
	ch := make(chan net.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			ch <- nil
			return
		}
		ch <- nc
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc := <-ch
	if sc == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { nc.Close(); sc.Close() })
	return NewConn(sc), NewConn(nc)
}

// streamConn is a net.Conn over a byte stream, for framing tests.
type streamConn struct {
	r io.Reader
	w bytes.Buffer
}

func (s *streamConn) Read(p []byte) (int, error)       { return s.r.Read(p) }
func (s *streamConn) Write(p []byte) (int, error)      { return s.w.Write(p) }
func (s *streamConn) Close() error                     { return nil }
func (s *streamConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (s *streamConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (s *streamConn) SetDeadline(time.Time) error      { return nil }
func (s *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (s *streamConn) SetWriteDeadline(time.Time) error { return nil }

// recordingConn records every byte written to and read from a net.Conn.
type recordingConn struct {
	net.Conn
	mu      sync.Mutex
	written bytes.Buffer
	read    bytes.Buffer
}

func (r *recordingConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.written.Write(p)
	r.mu.Unlock()
	return r.Conn.Write(p)
}

func (r *recordingConn) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.read.Write(p[:n])
	r.mu.Unlock()
	return n, err
}

// frame returns m as a complete frame.
func frame(t testing.TB, m Msg) []byte {
	t.Helper()
	b, err := AppendMsg([]byte{0, 0, 0, 0}, m)
	if err != nil {
		t.Fatal(err)
	}
	n := len(b) - 4
	b[0], b[1], b[2], b[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return b
}

// normalize turns empty slices into nil, the form Decode produces, so
// messages compare with reflect.DeepEqual.
func normalize(v any) any {
	rv := reflect.ValueOf(v)
	c := reflect.New(rv.Type()).Elem()
	c.Set(rv)
	normValue(c)
	return c.Interface()
}

func normValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			n := reflect.New(v.Elem().Type())
			n.Elem().Set(v.Elem())
			normValue(n.Elem())
			v.Set(n)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			normValue(v.Field(i))
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		n := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(n, v)
		for i := 0; i < n.Len(); i++ {
			normValue(n.Index(i))
		}
		v.Set(n)
	case reflect.Interface:
		if !v.IsNil() {
			e := reflect.New(v.Elem().Type()).Elem()
			e.Set(v.Elem())
			normValue(e)
			v.Set(e)
		}
	}
}
