package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Handshake errors. The returned errors wrap one of these and carry a
// message fit for the log and the status page.
var (
	// ErrIncompatibleVersion: the two consoles speak protocol versions that
	// are not Compatible.
	ErrIncompatibleVersion = errors.New("incompatible protocol version")
	// ErrDuplicateConsole: the peer uses this console's ID.
	ErrDuplicateConsole = errors.New("duplicate console ID")
	// ErrRejected: the peer refused the connection (its reason is in the
	// error's message).
	ErrRejected = errors.New("refused by peer")
	// ErrProtocol: the peer did not follow the handshake.
	ErrProtocol = errors.New("protocol error")
)

// Handshake runs the protocol handshake on a fresh connection; both sides
// call it:
//
//  1. each side sends its Hello,
//  2. reads the peer's Hello and judges it (version, console ID, key),
//  3. sends HelloReply: OK, or a refusal and its reason,
//  4. reads the peer's HelloReply.
//
// Both sides decide independently, and each also hears the other's verdict,
// so when either refuses, both return an error with a clear message and
// neither starts sending protocol messages to a peer that has refused. A
// version mismatch is reported by both sides as ErrIncompatibleVersion naming
// both consoles and both versions.
//
// me.Version defaults to ProtocolVersion. timeout bounds the whole exchange.
// The caller closes the connection on error.
func Handshake(c *Conn, me Hello, timeout time.Duration) (Hello, error) {
	return HandshakeUntil(c, me, time.Now().Add(timeout))
}

// HandshakeUntil is Handshake with a deadline on the caller's clock.
func HandshakeUntil(c *Conn, me Hello, deadline time.Time) (Hello, error) {
	if me.Version == 0 {
		me.Version = ProtocolVersion
	}
	if err := c.SetDeadline(deadline); err != nil {
		return Hello{}, wrapErr(err, "handshake")
	}
	defer c.SetDeadline(time.Time{})

	if err := c.Send(&me); err != nil {
		return Hello{}, wrapErr(err, "handshake: sending Hello")
	}

	b, err := c.readFrame()
	if err != nil {
		return Hello{}, wrapErr(err, "handshake: waiting for the peer's Hello")
	}
	peer, err := parseHello(b)
	if err != nil {
		if r := refusal(b); r != "" {
			return Hello{}, fmt.Errorf("wire: handshake: %w: %s", ErrRejected, r)
		}
		c.Send(&Reject{Reason: "expected a Hello: " + err.Error()})
		return Hello{}, wrapKind(ErrProtocol, err, "handshake: expected a Hello from %s", c.RemoteAddr())
	}

	ourErr := judge(me, peer, c.PeerID())
	reply := HelloReply{Version: me.Version, Console: me.Console, OK: ourErr == nil}
	if ourErr != nil {
		reply.Reason = strings.TrimPrefix(ourErr.Error(), "wire: ")
	}
	sendErr := c.Send(&reply)

	// Read the peer's verdict even when we refuse: it drains the peer's
	// reply, so our close does not reset the connection before the peer
	// has read our reason.
	b, readErr := c.readFrame()
	if ourErr != nil {
		return peer, ourErr
	}
	if sendErr != nil {
		return peer, wrapErr(sendErr, "handshake with %s: sending HelloReply", peer.Console)
	}
	if readErr != nil {
		return peer, wrapErr(readErr, "handshake: waiting for %s's reply", peer.Console)
	}
	if r := refusal(b); r != "" {
		err := fmt.Errorf("wire: peer %s refused this console (%s): %w: %s", peer.Console, me.Console, ErrRejected, r)
		if peer.Version != me.Version {
			err = fmt.Errorf("%w (%w: peer speaks %d, this console speaks %d)", err, ErrIncompatibleVersion, peer.Version, me.Version)
		}
		return peer, err
	}
	m, err := Decode(b)
	if err != nil {
		return peer, wrapKind(ErrProtocol, err, "handshake: bad reply from %s", peer.Console)
	}
	if _, ok := m.(*HelloReply); !ok {
		return peer, fmt.Errorf("wire: handshake: %w: %s sent %s instead of HelloReply", ErrProtocol, peer.Console, m.Type())
	}
	return peer, nil
}

// judge decides whether to accept the peer's Hello. peerCert is the console
// ID from the peer's TLS certificate ("" without TLS).
func judge(me, peer Hello, peerCert string) error {
	if !Compatible(me.Version, peer.Version) {
		return fmt.Errorf("wire: peer %s speaks protocol version %d, this console (%s) speaks %d: %w; run the same consoled release on every console", peer.Console, peer.Version, me.Console, me.Version, ErrIncompatibleVersion)
	}
	if peer.Console == "" {
		return fmt.Errorf("wire: peer sent an empty console ID: %w", ErrProtocol)
	}
	if !ValidConsoleID(peer.Console) {
		return fmt.Errorf("wire: peer sent console ID %q, not 1 to 64 characters without spaces: %w", peer.Console, ErrProtocol)
	}
	if peer.Console == me.Console {
		return fmt.Errorf("wire: two consoles named %s on the show network: %w; give each console a unique --id", me.Console, ErrDuplicateConsole)
	}
	if peerCert != "" && peerCert != peer.Console {
		return fmt.Errorf("wire: peer says it is %s but its certificate names %s: %w", peer.Console, peerCert, ErrProtocol)
	}
	if me.KeyFP != "" && peer.KeyFP != "" && me.KeyFP != peer.KeyFP {
		return fmt.Errorf("wire: peer %s holds network key %s, this console (%s) holds %s: %w", peer.Console, peer.KeyFP, me.Console, me.KeyFP, ErrAuth)
	}
	return nil
}

// ValidConsoleID reports whether id can name a console (consoled's --id):
// 1 to 64 bytes, no spaces or control characters. A name goes into logs,
// the status page and file records, so a peer's is held to it too.
func ValidConsoleID(id string) bool {
	return id != "" && len(id) <= 64 && !strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f })
}

// parseHello decodes a Hello frame. A Hello from a different protocol
// version may carry fields we do not know; its frozen prefix (version, then
// console ID) is enough to refuse it with a clear message.
func parseHello(b []byte) (Hello, error) {
	m, err := Decode(b)
	if err == nil {
		if h, ok := m.(*Hello); ok {
			return *h, nil
		}
		return Hello{}, fmt.Errorf("%w: got %s", ErrProtocol, m.Type())
	}
	if len(b) > 0 && MsgType(b[0]) == TypeHello {
		d := decoder{b: b[1:]}
		h := Hello{Version: d.u16("Version"), Console: d.str("Console", MaxString)}
		if d.err == nil && h.Version != ProtocolVersion {
			return h, nil
		}
	}
	return Hello{}, err
}

// refusal returns the reason if b is a Reject or a refusing HelloReply, else
// "". It reads only the frozen prefix of a HelloReply, so it understands a
// refusal from any protocol version.
func refusal(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	switch MsgType(b[0]) {
	case TypeReject:
		d := decoder{b: b[1:]}
		if r := d.str("Reason", MaxText); d.err == nil {
			return orUnknown(r)
		}
		return "(no reason given)"
	case TypeHelloReply:
		d := decoder{b: b[1:]}
		d.u16("Version")
		d.str("Console", MaxString)
		ok := d.bool("OK")
		r := d.str("Reason", MaxText)
		if d.err != nil {
			if len(b) >= 3 && binary.BigEndian.Uint16(b[1:3]) != ProtocolVersion {
				return "(unreadable reply)"
			}
			return ""
		}
		if !ok {
			return orUnknown(r)
		}
	}
	return ""
}

func orUnknown(r string) string {
	if r == "" {
		return "(no reason given)"
	}
	return r
}

// wrapErr adds context to an error from this package without repeating its
// "wire: " prefix; errors.Is and errors.As still see err.
func wrapErr(err error, format string, args ...any) error {
	return wrapKind(nil, err, format, args...)
}

// wrapKind is wrapErr that also marks the error as kind (one of the sentinel
// errors), so errors.Is matches both.
func wrapKind(kind, err error, format string, args ...any) error {
	msg := "wire: " + fmt.Sprintf(format, args...) + ": "
	errs := []error{err}
	if kind != nil {
		if errors.Is(err, kind) {
			kind = nil
		} else {
			msg += kind.Error() + ": "
			errs = append(errs, kind)
		}
	}
	return &contextError{msg: msg + strings.TrimPrefix(err.Error(), "wire: "), errs: errs}
}

type contextError struct {
	msg  string
	errs []error
}

func (e *contextError) Error() string   { return e.msg }
func (e *contextError) Unwrap() []error { return e.errs }
