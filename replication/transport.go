package replication

import (
	"context"
	"net"

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
