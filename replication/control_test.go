package replication

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"consoled/replication/store"
	"consoled/replication/wire"
)

// The peer port hands the connections of control clients (those holding
// the key that negotiated wire.ControlProto) to Options.Control, still
// takes peers, and refuses and counts a control client with another key.
func TestControlConnectionsOnThePeerPort(t *testing.T) {
	dir := t.TempDir()
	key, _, err := wire.LoadOrCreateKey(filepath.Join(dir, "network.key"))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan net.Conn, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := func(id string, control func(net.Conn), peers ...string) *Engine {
		st, err := store.Open(filepath.Join(dir, id), store.Options{Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		e, err := New(Options{ID: id, Store: st, Logger: log, Key: key, Listen: "127.0.0.1:0", Peers: peers, Control: control})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close(); st.Close() })
		return e
	}
	a := start("desk-1", func(nc net.Conn) { got <- nc })
	b := start("desk-2", nil, a.ListenAddr())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dial := func(k wire.Key, addr string) (*wire.Conn, error) {
		t.Helper()
		id, err := wire.NewTLS(k, "consolectl")
		if err != nil {
			t.Fatal(err)
		}
		return wire.Dial(ctx, addr, id.ControlClient())
	}
	c, err := dial(key, a.ListenAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case nc := <-got:
		// What the client writes arrives on the handed connection.
		go c.NetConn().Write([]byte("GET /v1/status"))
		buf := make([]byte, 14)
		if _, err := io.ReadFull(nc, buf); err != nil || string(buf) != "GET /v1/status" {
			t.Fatalf("read %q, %v", buf, err)
		}
		nc.Close()
	case <-ctx.Done():
		t.Fatal("the control connection was not handed over")
	}

	// desk-2 still connects as a peer, and is listed with its address.
	connected := func(e *Engine) bool { ps := e.Status().Peers; return len(ps) > 0 && ps[0].Connected }
	for !connected(a) || !connected(b) {
		if ctx.Err() != nil {
			t.Fatal("desk-2 did not connect as a peer")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if p := b.Status().Peers[0]; p.Console != "desk-1" || p.Address != a.ListenAddr() {
		t.Fatalf("desk-2 lists %+v, want desk-1 at %s", p, a.ListenAddr())
	}

	other, _, err := wire.LoadOrCreateKey(filepath.Join(dir, "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := dial(other, a.ListenAddr()); err == nil {
		c.Close()
		t.Fatal("a control client with another key connected")
	}
	for a.Status().AuthRefused == 0 {
		if ctx.Err() != nil {
			t.Fatal("the refused control client was not counted")
		}
		time.Sleep(5 * time.Millisecond)
	}

	// A console without Options.Control closes control connections.
	c, err = dial(key, b.ListenAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.NetConn().Read(make([]byte, 1)); err == nil {
		t.Fatal("a console without a control hook kept the connection")
	}
}
