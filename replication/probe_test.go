package replication

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"consoled/replication/store"
	"consoled/replication/wire"
)

// The hardening tests run engines in this process on loopback and talk to
// them as a console holding the network key: a probe, a raw wire.Conn
// whose messages the test makes up.

// rigEngine starts an engine listening on loopback and closes it (and its
// store) when the test ends.
func rigEngine(t testing.TB, key wire.Key, id string, log *slog.Logger, opts ...func(*Options)) *Engine {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), id), store.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{ID: id, Store: st, Logger: log, Key: key, Listen: "127.0.0.1:0", JoinWait: 300 * time.Millisecond}
	for _, f := range opts {
		f(&o)
	}
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		st.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Close()
		st.Close()
	})
	return e
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// capturedLog keeps every line, for tests that look for one.
type capturedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (c *capturedLog) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.Write(p)
}

func (c *capturedLog) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.String()
}

func (c *capturedLog) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(c, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// activeAndBackup starts desk-1, launches show demo on it as active, and
// desk-2 joined to it as backup.
func activeAndBackup(t testing.TB, key wire.Key, log *slog.Logger) (a, b *Engine) {
	t.Helper()
	a = rigEngine(t, key, "desk-1", log)
	b = rigEngine(t, key, "desk-2", log, func(o *Options) { o.Peers = []string{a.ListenAddr()} })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Launch(ctx, "demo", false); err != nil {
		t.Fatal(err)
	}
	if err := b.Launch(ctx, "demo", false); err != nil {
		t.Fatal(err)
	}
	if st := b.Status(); st.Role != RoleBackup || st.Active != "desk-1" {
		t.Fatalf("desk-2 did not join desk-1: %+v", st)
	}
	return a, b
}

// probe is a console holding the network key whose every message the test
// writes itself. What the engine sends it is read and dropped.
type probe struct {
	c      *wire.Conn
	closed chan struct{} // closed once reading fails: the engine closed the connection
}

func dialProbe(t testing.TB, key wire.Key, id, addr string) *probe {
	t.Helper()
	return dialProbeFrom(t, key, id, "", addr)
}

// dialProbeFrom connects from the local address src ("" for any).
func dialProbeFrom(t testing.TB, key wire.Key, id, src, addr string) *probe {
	t.Helper()
	tl, err := wire.NewTLS(key, id)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var d net.Dialer
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := wire.Client(ctx, nc, tl.Client())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wire.Handshake(c, wire.Hello{Console: id, KeyFP: key.Fingerprint()}, 5*time.Second); err != nil {
		c.Close()
		t.Fatal(err)
	}
	p := &probe{c: c, closed: make(chan struct{})}
	go func() {
		defer close(p.closed)
		for {
			m, err := c.ReadMsg()
			if err != nil {
				return
			}
			releaseMsg(m)
		}
	}()
	t.Cleanup(p.close)
	// Heartbeats, so that the engine keeps a probe that says nothing else.
	go func() {
		for {
			select {
			case <-p.closed:
				return
			case <-time.After(50 * time.Millisecond):
				if c.Send(&wire.State{Console: id, Role: string(RoleOff)}) != nil {
					return
				}
			}
		}
	}()
	return p
}

func (p *probe) close() {
	p.c.Close()
	<-p.closed
}

// closedByEngine reports whether the engine closed the connection within d.
func (p *probe) closedByEngine(d time.Duration) bool {
	select {
	case <-p.closed:
		return true
	case <-time.After(d):
		return false
	}
}

// waitUntil polls cond until it holds or d has passed.
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

// edit makes one edit on e and fails the test unless it is acknowledged.
func edit(t testing.TB, e *Engine, key, value string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seq, err := e.Submit(ctx, []store.Op{{Key: key, Value: []byte(value)}})
	if err != nil {
		t.Fatalf("%s: edit %s: %v", e.id, key, err)
	}
	return seq
}

// digest is the show's digest on e.
func digest(t testing.TB, e *Engine) ([32]byte, uint64) {
	t.Helper()
	_, d, seq, err := e.Dump(func(store.Object) error { return nil })
	if err != nil {
		t.Fatalf("%s: dump: %v", e.id, err)
	}
	return d, seq
}

// converged waits until b holds what a holds.
func converged(t testing.TB, a, b *Engine, d time.Duration) {
	t.Helper()
	var da, db [32]byte
	var sa, sb uint64
	if !waitUntil(d, func() bool {
		da, sa = digest(t, a)
		db, sb = digest(t, b)
		return da == db && sa == sb
	}) {
		t.Fatalf("%s (seq %d) and %s (seq %d) did not converge within %s", a.id, sa, b.id, sb, d)
	}
}
