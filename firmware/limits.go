package firmware

import (
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"consoled/api"
)

// What the control socket and the status page allow a client, so that no
// client (a stuck script, an idle browser tab, a flood) can hold what
// others need: descriptors, goroutines, buffers.

// Timeouts bound how long a client may hold a connection without making
// progress. Zero fields take the defaults.
type Timeouts struct {
	// Header bounds the arrival of a request's head, timed from its first
	// byte (or from the connection's start). Default 10s.
	Header time.Duration
	// Read bounds the arrival of a whole request, head and body. Default 30s.
	Read time.Duration
	// Write bounds the writing of an answer on the status page, and each
	// write of a dump or of an edit stream's answers. Default 30s.
	Write time.Duration
	// Idle closes a kept-alive connection that sends no next request.
	// Default 60s.
	Idle time.Duration
	// StreamIdle ends an edit stream that sends no edit for this long: a
	// stream is long-lived by design, and has this instead of Idle.
	// Default 2m.
	StreamIdle time.Duration
}

func (t *Timeouts) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.Header, 10*time.Second)
	def(&t.Read, 30*time.Second)
	def(&t.Write, 30*time.Second)
	def(&t.Idle, 60*time.Second)
	def(&t.StreamIdle, 2*time.Minute)
}

// Limits cap the connections served at once. Zero fields take the
// defaults. A connection over a cap is answered 503 (kind unavailable) and
// closed.
type Limits struct {
	// ControlConns caps the control socket's connections. Only the
	// console's user can reach the socket, so there is no cap per source.
	// Default 2048.
	ControlConns int
	// StatusConns caps the status page's connections, and
	// StatusConnsPerSource those from one IP address. Defaults 256 and 32.
	StatusConns          int
	StatusConnsPerSource int
	// RemoteConns caps the remote control connections (consolectl
	// --remote), and RemoteConnsPerSource those from one IP address.
	// Defaults 256 and 64.
	RemoteConns          int
	RemoteConnsPerSource int
}

func (l *Limits) defaults() {
	def := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	def(&l.ControlConns, 2048)
	def(&l.StatusConns, 256)
	def(&l.StatusConnsPerSource, 32)
	def(&l.RemoteConns, 256)
	def(&l.RemoteConnsPerSource, 64)
}

// limitConns caps the connections ln hands out: max in all and, if
// perSource > 0, perSource from one IP address.
func (s *Service) limitConns(ln net.Listener, what string, max, perSource int) net.Listener {
	return &limitListener{Listener: ln, what: what, max: max, perSource: perSource, log: s.log,
		bySource: map[string]int{}, refusers: make(chan struct{}, 32)}
}

type limitListener struct {
	net.Listener
	what           string
	max, perSource int
	log            *slog.Logger
	refusers       chan struct{} // bounds the refusals being answered

	mu       sync.Mutex
	open     int
	bySource map[string]int
	lastLog  time.Time
}

// Accept returns the next connection within the caps, answering and
// closing those over them. Its errors are the listener's: http.Server backs
// off on temporary ones (no descriptors left) and retries.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := ""
		if l.perSource > 0 {
			if host, _, err := net.SplitHostPort(nc.RemoteAddr().String()); err == nil {
				src = host
			}
		}
		if why := l.take(src); why != "" {
			l.refuse(nc, why)
			continue
		}
		return &limitedConn{Conn: nc, l: l, src: src}, nil
	}
}

// take counts a connection from src in, or says which cap it is over.
func (l *limitListener) take(src string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var why string
	switch {
	case l.open >= l.max:
		why = fmt.Sprintf("too many connections to the %s (%d open)", l.what, l.open)
	case l.perSource > 0 && l.bySource[src] >= l.perSource:
		why = fmt.Sprintf("too many connections to the %s from %s (%d open)", l.what, src, l.bySource[src])
	default:
		l.open++
		if l.perSource > 0 {
			l.bySource[src]++
		}
		return ""
	}
	if now := time.Now(); now.Sub(l.lastLog) > 10*time.Second {
		l.lastLog = now
		l.log.Warn("refusing connections", "why", why)
	}
	return why
}

func (l *limitListener) release(src string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.perSource > 0 {
		if l.bySource[src]--; l.bySource[src] <= 0 {
			delete(l.bySource, src)
		}
	}
}

// refuse answers a connection over a cap with 503 and closes it. The
// answer waits for the request's first bytes (an HTTP client takes an
// answer that comes before its request for a broken connection), for a
// second at most; when many are refused at once, the rest are just closed.
func (l *limitListener) refuse(nc net.Conn, why string) {
	select {
	case l.refusers <- struct{}{}:
	default:
		nc.Close()
		return
	}
	go func() {
		defer func() { <-l.refusers }()
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(time.Second))
		var buf [4096]byte
		if _, err := nc.Read(buf[:]); err != nil {
			return
		}
		body := fmt.Sprintf(`{"error":"consoled: %s; try again later","kind":%q}`+"\n", why, api.KindUnavailable)
		fmt.Fprintf(nc, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		// Take the rest of the request, so that closing does not reset the
		// connection before the client has read the answer.
		if cw, ok := nc.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		for {
			if _, err := nc.Read(buf[:]); err != nil {
				return
			}
		}
	}()
}

// limitedConn gives its place back when closed.
type limitedConn struct {
	net.Conn
	l    *limitListener
	src  string
	once sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() { c.l.release(c.src) })
	return c.Conn.Close()
}
