package firmware

import (
	"fmt"
	"net"
	"net/http"
	"sync"

	"consoled/api"
)

// Remote control: consolectl --remote reaches the control API over the
// show network. Its connections arrive on the peer port, TLS 1.3 with a
// certificate from the network key like a peer's; the engine hands those
// that negotiated wire.ControlProto to remoteListener.hand, and an
// http.Server serves them the same API as the control socket (or, with
// --remote-control off, a refusal). A client without the key never gets
// here: the engine refuses its handshake and counts it in auth_refused.
//
// Holding the key already lets a machine join the show network and edit
// the show as a console, so remote control grants nothing new.

// remoteListener is a net.Listener of the control connections the engine
// hands over.
type remoteListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newRemoteListener() *remoteListener {
	return &remoteListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// hand gives a control connection to the server, or closes it once the
// listener is closed. It waits for the server to take it: the engine calls
// it from the connection's own goroutine.
func (l *remoteListener) hand(nc net.Conn) {
	// http.Server takes a *tls.Conn for one of its own TLS listener and
	// looks for a handler of the ALPN protocol it negotiated; this one is
	// TLS already, with plain HTTP/1.1 inside.
	select {
	case l.conns <- plainConn{nc}:
	case <-l.done:
		nc.Close()
	}
}

func (l *remoteListener) Accept() (net.Conn, error) {
	select {
	case nc := <-l.conns:
		return nc, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *remoteListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *remoteListener) Addr() net.Addr { return remoteAddr{} }

type remoteAddr struct{}

func (remoteAddr) Network() string { return "tls" }
func (remoteAddr) String() string  { return "peer port (remote control)" }

// plainConn hides the *tls.Conn type from http.Server (see hand).
type plainConn struct{ net.Conn }

// remoteAPI is what remote control clients are served.
func (s *Service) remoteAPI() http.Handler {
	if s.cfg.RemoteControl == api.RemoteControlOn {
		return s.controlAPI()
	}
	msg := fmt.Sprintf("%s refuses remote control (consoled --remote-control off): use its control socket or its front panel", s.cfg.ID)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeErrorKind(w, api.KindForbidden, msg)
	})
}
