package replication

// The simulation's network: connections in memory whose bytes arrive after
// a delay drawn from the seed, in order, as on TCP. Links between two
// consoles can be cut (both ends see the connection fail at once, whatever
// was in flight lost: a message cut in the middle) or blocked for a while
// (nothing passes; what was sent waits, as TCP retransmits, until the link
// is back or a side gives up). Reads and dials wait through the simulated
// scheduler.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"time"

	"consoled/replication/wire"
)

type memNet struct {
	s         *simSched
	rng       *rand.Rand
	listeners map[string]*memListener // by address
	blocked   map[[2]string]bool      // node pairs that cannot reach each other (sorted)
	conns     []*memConn
	latency   time.Duration // least one-way delay
	jitter    time.Duration // up to this much more, per write
}

func newMemNet(s *simSched, rng *rand.Rand) *memNet {
	return &memNet{s: s, rng: rng, listeners: map[string]*memListener{}, blocked: map[[2]string]bool{},
		latency: 200 * time.Microsecond, jitter: 2 * time.Millisecond}
}

func pair(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// block stops traffic between nodes a and b (or lets it through again).
func (n *memNet) block(a, b string, on bool) {
	n.s.touch()
	if on {
		n.blocked[pair(a, b)] = true
	} else {
		delete(n.blocked, pair(a, b))
	}
}

func (n *memNet) reachable(a, b string) bool { return !n.blocked[pair(a, b)] }

// cut fails every connection between nodes a and b at once.
func (n *memNet) cut(a, b string) {
	n.s.touch()
	for _, c := range slices.Clone(n.conns) {
		if c.node == a && c.peer.node == b {
			c.fail(errors.New("connection reset by peer (cut)"))
			c.peer.fail(errors.New("connection reset by peer (cut)"))
		}
	}
}

// down closes everything of node: its listeners and connections (a crash).
func (n *memNet) down(node string) {
	n.s.touch()
	for addr, l := range n.listeners {
		if l.node == node {
			l.Close()
			delete(n.listeners, addr)
		}
	}
	for _, c := range slices.Clone(n.conns) {
		if c.node == node {
			c.fail(net.ErrClosed)
			c.peer.fail(errors.New("connection reset by peer"))
		}
	}
}

func (n *memNet) delay() time.Duration {
	return n.latency + time.Duration(n.rng.Int64N(int64(n.jitter)+1))
}

// transport is node's view of the network: the engine's Transport.
func (n *memNet) transport(node string) Transport { return memTransport{n, node} }

type memTransport struct {
	n    *memNet
	node string
}

func (t memTransport) Listen(addr string) (net.Listener, error) {
	if t.n.listeners[addr] != nil {
		return nil, fmt.Errorf("listen %s: address already in use", addr)
	}
	l := &memListener{n: t.n, addr: addr, node: t.node, notify: make(chan struct{})}
	t.n.listeners[addr] = l
	return l, nil
}

func (t memTransport) Dial(ctx context.Context, addr string) (net.Conn, error) {
	// A connection takes a round trip; a refusal too.
	sleep(t.n.s, 2*t.n.delay(), ctx.Done())
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	l := t.n.listeners[addr]
	if l == nil || l.closed {
		return nil, fmt.Errorf("dial %s: connection refused", addr)
	}
	if !t.n.reachable(t.node, l.node) {
		sleep(t.n.s, time.Second, ctx.Done()) // the SYN goes unanswered
		return nil, fmt.Errorf("dial %s: i/o timeout", addr)
	}
	local := fmt.Sprintf("%s:%d", t.node, 40000+len(t.n.conns))
	a := &memConn{n: t.n, node: t.node, local: local, remote: addr, notify: make(chan struct{})}
	b := &memConn{n: t.n, node: l.node, local: addr, remote: local, notify: make(chan struct{})}
	a.peer, b.peer = b, a
	t.n.conns = append(t.n.conns, a, b)
	l.queue = append(l.queue, b)
	l.wake()
	t.n.s.changed(l.node)
	return a, nil
}

func (t memTransport) Client(ctx context.Context, nc net.Conn) (*wire.Conn, error) {
	return wire.NewConn(nc), nil
}

func (t memTransport) Server(ctx context.Context, nc net.Conn) (*wire.Conn, error) {
	return wire.NewConn(nc), nil
}

type memListener struct {
	n      *memNet
	addr   string
	node   string
	queue  []*memConn
	notify chan struct{}
	closed bool
}

func (l *memListener) wake() {
	close(l.notify)
	l.notify = make(chan struct{})
}

func (l *memListener) Accept() (net.Conn, error) {
	for {
		if l.closed {
			return nil, net.ErrClosed
		}
		if len(l.queue) > 0 {
			c := l.queue[0]
			l.queue = l.queue[1:]
			l.n.s.moved = true
			return c, nil
		}
		l.n.s.Wait(time.Time{}, l.notify)
	}
}

func (l *memListener) Close() error {
	if !l.closed {
		l.closed = true
		l.wake()
	}
	return nil
}

func (l *memListener) Addr() net.Addr { return memAddr(l.addr) }

type memAddr string

func (a memAddr) Network() string { return "mem" }
func (a memAddr) String() string  { return string(a) }

// memConn is one end of a connection.
type memConn struct {
	n             *memNet
	node          string
	local, remote string
	peer          *memConn

	in       []byte        // arrived, not yet read
	eof      bool          // the other end closed, after in
	err      error         // failed: reads and writes return it
	notify   chan struct{} // closed and replaced whenever in, eof or err change
	deadline time.Time     // for reads
	lastAt   time.Time     // when the last write reaches the other end
	out      []pending     // written, on its way
}

func (c *memConn) wake() {
	close(c.notify)
	c.notify = make(chan struct{})
}

func (c *memConn) Read(b []byte) (int, error) {
	for {
		switch {
		case len(c.in) > 0:
			n := copy(b, c.in)
			c.in = c.in[n:]
			c.n.s.moved = true
			return n, nil
		case c.err != nil:
			return 0, c.err
		case c.eof:
			return 0, io.EOF
		case !c.deadline.IsZero() && !c.n.s.now.Before(c.deadline):
			return 0, os.ErrDeadlineExceeded
		}
		c.n.s.Wait(c.deadline, c.notify)
	}
}

// Write sends b: it arrives after the network's delay, after what was
// written before, and waits out a blocked link.
func (c *memConn) Write(b []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	c.send(slices.Clone(b))
	return len(b), nil
}

// send queues data (nil: the end of the stream) for the other end.
func (c *memConn) send(data []byte) {
	at := c.n.s.now.Add(c.n.delay())
	if at.Before(c.lastAt) {
		at = c.lastAt
	}
	c.lastAt = at
	c.out = append(c.out, pending{at, data})
	if len(c.out) == 1 {
		c.n.s.at(at, c.peer.node, c.pump)
	}
}

type pending struct {
	at   time.Time
	data []byte // nil: the end of the stream
}

// pump delivers what is due, in order; a blocked link holds everything
// back, as TCP retransmits, until it is back or the connection fails.
func (c *memConn) pump() {
	p := c.peer
	for len(c.out) > 0 && !c.out[0].at.After(c.n.s.now) {
		if p.err != nil || (c.err != nil && c.err != net.ErrClosed) {
			c.out = nil // lost with the connection
			return
		}
		if !c.n.reachable(c.node, p.node) {
			c.n.s.at(c.n.s.now.Add(20*time.Millisecond), c.peer.node, c.pump)
			return
		}
		d := c.out[0].data
		c.out = c.out[1:]
		if d == nil {
			p.eof = true
		} else {
			p.in = append(p.in, d...)
		}
		p.wake()
	}
	if len(c.out) > 0 {
		c.n.s.at(c.out[0].at, c.peer.node, c.pump)
	}
}

func (c *memConn) fail(err error) {
	if c.err == nil {
		c.err = err
		c.in = nil
		c.wake()
	}
	c.n.conns = slices.DeleteFunc(c.n.conns, func(x *memConn) bool { return x == c })
}

// Close ends this side; the other reads to the end of what was sent, then
// EOF.
func (c *memConn) Close() error {
	if c.err != nil {
		return nil
	}
	c.err = net.ErrClosed
	c.wake()
	c.n.conns = slices.DeleteFunc(c.n.conns, func(x *memConn) bool { return x == c })
	c.send(nil)
	return nil
}

func (c *memConn) LocalAddr() net.Addr                { return memAddr(c.local) }
func (c *memConn) RemoteAddr() net.Addr               { return memAddr(c.remote) }
func (c *memConn) SetDeadline(t time.Time) error      { c.deadline = t; return nil }
func (c *memConn) SetReadDeadline(t time.Time) error  { c.deadline = t; return nil }
func (c *memConn) SetWriteDeadline(t time.Time) error { return nil } // writes never block
