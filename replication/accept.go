package replication

// The peer listener's side of descriptors and of connections that have not
// authenticated yet. A listener that stops at an accept error stays stopped:
// once the process ran out of descriptors (EMFILE), this console took no
// peers again, and a console started with --peers pointing here found no
// one and launched the show a second time. As net/http's Server.Serve does,
// accept errors are waited out with a growing pause. And one source address
// may hold only maxHandshakesPerSource connections that are still in their
// TLS or protocol handshake (each bounded by its own timeout), so a single
// host cannot take every descriptor with connections that never speak.

import (
	"context"
	"errors"
	"net"
	"time"
)

// maxHandshakesPerSource bounds the connections from one address that have
// not finished their handshake. A console dials each other console once, so
// even a machine running a whole bench network stays far below it.
const maxHandshakesPerSource = 16

// Accept back-off, as net/http's: 5 ms, doubling, at most 1 s.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// accept returns the next connection the peer listener may take, and a
// release the caller calls when its handshake is over (done or failed). It
// waits out accept errors; it fails only once the listener is closed or ctx
// ends.
func (e *Engine) accept(ctx context.Context, ln net.Listener) (net.Conn, func(), error) {
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil, nil, err
			}
			delay = min(max(2*delay, acceptBackoffMin), acceptBackoffMax)
			e.log.Warn("peer listener: accept failed; retrying", "err", err, "in", delay)
			if !sleep(e.sched, delay, ctx.Done()) {
				return nil, nil, ctx.Err()
			}
			continue
		}
		delay = 0
		if release, ok := e.startHandshake(nc.RemoteAddr()); ok {
			return nc, release, nil
		}
		nc.Close()
		e.guard.connsRefused.Add(1)
		e.log.Debug("peer connection refused: too many handshakes under way from its address", "addr", nc.RemoteAddr(), "limit", maxHandshakesPerSource)
	}
}

// startHandshake counts a handshake from addr's host, unless it has as many
// under way as it may.
func (e *Engine) startHandshake(addr net.Addr) (release func(), ok bool) {
	host := addr.String()
	if ta, isTCP := addr.(*net.TCPAddr); isTCP {
		host = ta.IP.String()
	}
	g := &e.guard
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.handshakes == nil {
		g.handshakes = map[string]int{}
	}
	if g.handshakes[host] >= maxHandshakesPerSource {
		return nil, false
	}
	g.handshakes[host]++
	done := false
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if done {
			return
		}
		done = true
		if g.handshakes[host]--; g.handshakes[host] <= 0 {
			delete(g.handshakes, host)
		}
	}, true
}

// handshaking is how many handshakes from host are under way.
func (e *Engine) handshaking(host string) int {
	e.guard.mu.Lock()
	defer e.guard.mu.Unlock()
	return e.guard.handshakes[host]
}
