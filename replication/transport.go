package replication

import (
	"context"
	"net"
	"time"

	"consoled/replication/wire"
)

// Transport is how a console reaches the others: every exchange between
// consoles goes through its connections. Production uses TCP with TLS 1.3
// from the network key (tlsTransport); the deterministic simulation uses a
// network in memory that can delay, block and cut links (memnet_test.go).
type Transport interface {
	// Listen takes connections from the others at addr.
	Listen(addr string) (net.Listener, error)
	// Dial connects to the console listening at addr.
	Dial(ctx context.Context, addr string) (net.Conn, error)
	// Client and Server make a fresh connection, dialed or accepted, one
	// the peer protocol runs on: authenticated and encrypted in
	// production. On error the connection is closed.
	Client(ctx context.Context, nc net.Conn) (*wire.Conn, error)
	Server(ctx context.Context, nc net.Conn) (*wire.Conn, error)
}

// tlsTransport is TCP with TLS 1.3, its certificates derived from the
// network key (wire/tls.go).
type tlsTransport struct {
	tls *wire.TLS
	// wrap, when set, passes every TCP connection through it (a test seam).
	wrap func(net.Conn) net.Conn
}

func (t tlsTransport) Listen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }

func (t tlsTransport) Dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err == nil && t.wrap != nil {
		nc = t.wrap(nc)
	}
	return nc, err
}

func (t tlsTransport) Client(ctx context.Context, nc net.Conn) (*wire.Conn, error) {
	return wire.Client(ctx, nc, t.tls.Client())
}

func (t tlsTransport) Server(ctx context.Context, nc net.Conn) (*wire.Conn, error) {
	if t.wrap != nil {
		nc = t.wrap(nc)
	}
	return wire.Server(ctx, nc, t.tls.Server())
}

// stream is one exchange with another console, as the copy and sync code
// sees it (snapshot.go, merge.go, adopt.go): messages out, the exchange's
// messages in. A peer is one.
type stream interface {
	ID() string
	Send(wire.Msg) error          // the message, and whatever was queued before it
	Write(wire.Msg) error         // queued, for a large transfer
	WriteChunk(data []byte) error // a SnapChunk, queued, without a copy of data
	// Receive waits for the exchange's next message until deadline (on
	// the engine's clock; zero: no deadline).
	Receive(ctx context.Context, deadline time.Time) (wire.Msg, error)
}

func (p *peer) ID() string                   { return p.id }
func (p *peer) Send(m wire.Msg) error        { return p.conn.Send(m) }
func (p *peer) Write(m wire.Msg) error       { return p.conn.WriteMsg(m) }
func (p *peer) WriteChunk(data []byte) error { return p.conn.WriteChunk(data) }
func (p *peer) Receive(ctx context.Context, deadline time.Time) (wire.Msg, error) {
	return p.receiveBy(ctx, deadline)
}
