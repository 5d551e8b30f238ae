package replication

import (
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"consoled/replication/wire"
)

// The peer listener survives running out of descriptors (EMFILE), as an
// http.Server does: it retries with a back-off and takes peers again once
// descriptors are free. A listener that stopped at the first accept error
// would let a console that comes up with --peers pointing here find no one
// and launch the show a second time.
func TestPeerListenerSurvivesDescriptorExhaustion(t *testing.T) {
	log := &capturedLog{}
	key := testKey(t)
	a := rigEngine(t, key, "desk-1", log.logger())

	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	restore := func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) }
	defer restore()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	low := lim
	low.Cur = uint64(len(entries) + 64)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	// Fill the descriptor table, then free one for a connection: the dial
	// takes it, and the connection waits in the listener's backlog for an
	// accept that finds no descriptor left.
	var held []*os.File
	defer func() {
		for _, f := range held {
			f.Close()
		}
	}()
	for {
		f, err := os.Open(os.DevNull)
		if errors.Is(err, syscall.EMFILE) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, f)
		if len(held) > 1000 {
			t.Fatal("never ran out of descriptors")
		}
	}
	held[len(held)-1].Close()
	held = held[:len(held)-1]
	c, err := net.Dial("tcp", a.ListenAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !waitUntil(10*time.Second, func() bool { return strings.Contains(log.String(), "too many open files") }) {
		t.Fatal("the listener never met the descriptor limit")
	}
	for _, f := range held {
		f.Close()
	}
	held = nil
	restore()

	p := dialProbe(t, key, "probe", a.ListenAddr())
	if !waitUntil(5*time.Second, func() bool { return a.peer("probe") != nil }) {
		t.Fatal("the listener took the connection but the peer is not registered")
	}
	p.close()
}

// One source address may hold only so many connections that have not yet
// completed their handshake; more are closed at once. Consoles elsewhere
// are not affected, and the held ones end with the handshake timeout.
func TestPerSourceHandshakeLimit(t *testing.T) {
	key := testKey(t)
	a := rigEngine(t, key, "desk-1", quietLog())
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	dialFrom := func(src string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", a.ListenAddr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		return c
	}
	// closed reports whether the engine closed c within d.
	closed := func(c net.Conn, d time.Duration) bool {
		c.SetReadDeadline(time.Now().Add(d))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		return err != nil && !(errors.As(err, &ne) && ne.Timeout())
	}
	var held []net.Conn
	heldSince := time.Now()
	for range maxHandshakesPerSource {
		held = append(held, dialFrom("127.0.0.1"))
	}
	if !waitUntil(5*time.Second, func() bool { return a.handshaking("127.0.0.1") == maxHandshakesPerSource }) {
		t.Fatalf("%d handshakes under way from 127.0.0.1, want %d", a.handshaking("127.0.0.1"), maxHandshakesPerSource)
	}
	extra := dialFrom("127.0.0.1")
	if !closed(extra, 5*time.Second) {
		t.Fatal("a connection over the per-source limit was kept")
	}
	if n := a.Status().ConnsRefused; n != 1 {
		t.Fatalf("refused connections: %d, want 1", n)
	}
	// The held ones end with the handshake timeout: check them before it.
	if time.Since(heldSince) < wire.DefaultTLSTimeout-time.Second {
		for _, c := range held {
			if closed(c, time.Millisecond) {
				t.Fatal("a connection under the limit was closed")
			}
		}
	} else {
		t.Logf("the machine is slow: the held connections are near their handshake timeout, not checked")
	}
	// Another address is not held back by the first.
	p := dialProbeFrom(t, key, "probe", "127.0.0.2", a.ListenAddr())
	if !waitUntil(5*time.Second, func() bool { return a.peer("probe") != nil }) {
		t.Fatal("a console from another address could not connect")
	}
	p.close()
}
