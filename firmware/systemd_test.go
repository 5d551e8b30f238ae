package firmware

import (
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// notifySocket is a fake systemd: it collects what the service sends to
// NOTIFY_SOCKET.
type notifySocket struct {
	conn *net.UnixConn
	msgs chan string
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	n := &notifySocket{conn: conn, msgs: make(chan string, 1024)}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				close(n.msgs)
				return
			}
			n.msgs <- string(buf[:k])
		}
	}()
	return n
}

// next returns the next message holding want, failing after d.
func (n *notifySocket) next(t *testing.T, want string, d time.Duration) string {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m := <-n.msgs:
			if strings.Contains(m, want) {
				return m
			}
		case <-deadline:
			t.Fatalf("no %q from the service within %s", want, d)
		}
	}
}

// READY=1 comes once the service listens; WATCHDOG=1 comes while the panel
// loop and the engine answer, stops while they do not, and comes again
// when they do; STOPPING=1 comes when it stops.
func TestSystemdNotify(t *testing.T) {
	ns := newNotifySocket(t)
	const wd = 300 * time.Millisecond
	t.Setenv("WATCHDOG_USEC", "300000")
	var blocked atomic.Bool
	release := make(chan struct{})
	ts := startTestServiceWith(t, Options{}, func(s *Service) {
		check := s.engineCheck
		s.engineCheck = func() {
			if blocked.Load() {
				<-release // a hung engine
			}
			check()
		}
	})
	t.Cleanup(func() {
		if blocked.Load() {
			close(release)
		}
	})
	if m := ns.next(t, "READY=1", 5*time.Second); !strings.Contains(m, "STATUS=") {
		t.Errorf("READY without a STATUS line: %q", m)
	}
	ns.next(t, "WATCHDOG=1", 5*time.Second)
	ns.next(t, "WATCHDOG=1", 5*time.Second)

	blocked.Store(true)
	// A ping on its way when the block began may still come; after one
	// watchdog period none may.
	drainUntil := time.After(wd)
	for draining := true; draining; {
		select {
		case <-ns.msgs:
		case <-drainUntil:
			draining = false
		}
	}
	quiet := time.After(3 * wd)
	for waiting := true; waiting; {
		select {
		case m := <-ns.msgs:
			if strings.Contains(m, "WATCHDOG=1") {
				t.Fatalf("WATCHDOG=1 while the engine is hung")
			}
		case <-quiet:
			waiting = false
		}
	}
	blocked.Store(false)
	close(release)
	ns.next(t, "WATCHDOG=1", 5*time.Second)

	ts.stop()
	ns.next(t, "STOPPING=1", 5*time.Second)
}
