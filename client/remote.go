package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"consoled/replication/wire"
)

// Remote control: the control API over the show network (consolectl
// --remote). A console takes control clients on its peer port, over the
// same TLS 1.3 as its peers, authenticated by a certificate derived from
// the show network's key; the ALPN protocol wire.ControlProto tells them
// from peers. Package wire is stdlib-only, so this links no service code.

// DefaultPort is a console's peer port when --listen does not say another.
const DefaultPort = "7400"

// RemoteAddr returns HOST:PORT for HOST or HOST:PORT (an IPv6 address
// alone may be written bare or in brackets).
func RemoteAddr(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("no console address")
	}
	if host, port, err := net.SplitHostPort(s); err == nil {
		if host == "" || port == "" {
			return "", fmt.Errorf("console address %q: want HOST or HOST:PORT", s)
		}
		return s, nil
	}
	host := s
	if len(host) > 2 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	return net.JoinHostPort(host, DefaultPort), nil
}

// TLSConfig returns a control client's TLS configuration for the show
// network whose key is key: a fresh certificate from the network's CA,
// offering wire.ControlProto. One serves any number of connections.
func TLSConfig(key wire.Key) (*tls.Config, error) {
	id, err := wire.NewTLS(key, "consolectl")
	if err != nil {
		return nil, err
	}
	return id.ControlClient(), nil
}

// connectTimeout bounds reaching a console's address, which on a show
// network is one hop away.
const connectTimeout = 5 * time.Second

// DialTLS dials the console whose peer port is addr as a control client.
// A console that does not hold the key refuses the handshake (and this
// client refuses its certificate): the error wraps wire.ErrAuth.
func DialTLS(addr string, cfg *tls.Config) DialFunc {
	return func(ctx context.Context) (net.Conn, error) {
		d := net.Dialer{Timeout: connectTimeout}
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			if oe, ok := err.(*net.OpError); ok {
				err = oe.Err // the address is in the DialError already
			}
			return nil, err
		}
		c, err := wire.Client(ctx, nc, cfg)
		if err != nil {
			return nil, err
		}
		if c.Protocol() != wire.ControlProto {
			c.Close()
			return nil, fmt.Errorf("the console does not take remote control (its consoled predates it)")
		}
		return c.NetConn(), nil
	}
}

// Remote returns a client of the console whose peer port is addr.
func Remote(addr string, cfg *tls.Config) *Client {
	return New(DialTLS(addr, cfg), Options{Where: addr})
}
