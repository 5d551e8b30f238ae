package wire

import (
	"crypto/tls"
	"errors"
	"os"
)

// Remote control (consolectl --remote) shares the peer port: a control
// client completes the same TLS 1.3 handshake with a certificate derived
// from the network key, and offers the ALPN protocol ControlProto, which
// peers never offer. The console tells the two apart by the protocol the
// handshake negotiated; a client without the key gets no further than a
// peer without it.

// ControlProto is the ALPN protocol of a control client. What runs inside
// is the control API (package api): HTTP/1.1 and the edit stream.
const ControlProto = "consoled-control/1"

// ControlClient returns the configuration for a control client: Client's,
// offering ControlProto.
func (t *TLS) ControlClient() *tls.Config {
	cfg := t.Client()
	cfg.NextProtos = []string{ControlProto}
	return cfg
}

// Protocol returns the ALPN protocol the TLS handshake negotiated: "" for
// a peer, ControlProto for a control client.
func (c *Conn) Protocol() string {
	if tc, ok := c.nc.(*tls.Conn); ok {
		return tc.ConnectionState().NegotiatedProtocol
	}
	return ""
}

// LoadKey reads the network key at path, which must exist (see
// LoadOrCreateKey for the checks it passes). A client uses it: it never
// makes a key.
func LoadKey(path string) (Key, error) {
	k, err := loadKey(path)
	if errors.Is(err, os.ErrNotExist) {
		return Key{}, &os.PathError{Op: "wire: reading network key", Path: path, Err: os.ErrNotExist}
	}
	return k, err
}
