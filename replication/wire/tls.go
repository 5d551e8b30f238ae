package wire

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

// crypto/tls has no external pre-shared-key mode, so the network key becomes
// a certificate authority instead: every console that holds the key derives
// the same CA key (HKDF) and the byte-identical CA certificate (fixed
// template, deterministic Ed25519 signature), and trusts only that CA for
// both server and client certificates. A console without the key cannot
// produce a certificate the others accept, nor accept theirs.
const (
	caInfo     = "consoled network CA v1"
	caSubject  = "consoled show network"
	serverName = "consoled" // every leaf carries it as DNS SAN; clients verify it
)

// The certificates are valid from 1970: a console without a real-time
// clock (a Raspberry Pi) on a show network without NTP boots in 1970, and
// must still reach the others. The network key is what is trusted, not a
// date.
var (
	caNotBefore = time.Unix(0, 0).UTC()
	caNotAfter  = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ErrAuth marks a TLS handshake that failed the way a wrong network key
// makes it fail (the peer's certificate is not from our CA, or ours is not
// from theirs).
var ErrAuth = errors.New("peer not authenticated (wrong network key?)")

// TLS holds one console's TLS identity on the show network: the CA derived
// from the key and a fresh leaf certificate for this run.
type TLS struct {
	consoleID string
	caDER     []byte
	pool      *x509.CertPool
	leaf      tls.Certificate
}

// NewTLS derives the network CA from key and issues a leaf certificate for
// consoleID with a fresh key. The leaf key never leaves memory: a restart
// makes a new one, so there is no per-console secret to store or rotate.
func NewTLS(key Key, consoleID string) (*TLS, error) {
	if consoleID == "" {
		return nil, errors.New("wire: console ID is empty")
	}
	caKey, caDER, err := deriveCA(key)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("wire: parsing network CA: %w", err)
	}
	leafPub, leafKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("wire: generating console key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("wire: generating serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: consoleID},
		DNSNames:     []string{serverName},
		// Not now-1h: show networks are often isolated, without NTP, and a
		// peer whose clock runs behind ours by more than the margin would
		// refuse our certificate as "not yet valid". The leaf is ephemeral
		// and only as trusted as the CA, so its start buys nothing; start it
		// with the CA.
		NotBefore:   caNotBefore,
		NotAfter:    caNotAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, tmpl, ca, leafPub, caKey)
	if err != nil {
		return nil, fmt.Errorf("wire: issuing console certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &TLS{
		consoleID: consoleID,
		caDER:     caDER,
		pool:      pool,
		leaf:      tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey},
	}, nil
}

// deriveCA returns the network CA's key and certificate. Everything in the
// template is fixed, and Ed25519 signatures are deterministic, so the result
// depends on the key alone.
func deriveCA(key Key) (ed25519.PrivateKey, []byte, error) {
	seed, err := hkdf.Key(sha256.New, key[:], nil, caInfo, ed25519.SeedSize)
	if err != nil {
		return nil, nil, fmt.Errorf("wire: deriving network CA: %w", err)
	}
	caKey := ed25519.NewKeyFromSeed(seed)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: caSubject},
		NotBefore:             caNotBefore,
		NotAfter:              caNotAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	// The rand argument is unused for Ed25519 signing; pass a reader that
	// fails to prove the certificate depends on nothing random.
	der, err := x509.CreateCertificate(failingReader{}, tmpl, tmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("wire: deriving network CA: %w", err)
	}
	return caKey, der, nil
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) {
	return 0, errors.New("wire: CA derivation must not use randomness")
}

// ConsoleID returns the console ID the leaf certificate names.
func (t *TLS) ConsoleID() string { return t.consoleID }

// CACert returns the network CA certificate (DER); the same bytes on every
// console that holds the key.
func (t *TLS) CACert() []byte { return bytes.Clone(t.caDER) }

// Server returns the configuration for accepting peers: TLS 1.3 only, and
// the client must present a certificate from the network CA.
func (t *TLS) Server() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{t.leaf},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    t.pool,
		// Peers hold long-lived connections; resumption buys nothing and
		// tickets would only add bytes and state.
		SessionTicketsDisabled: true,
		// A control client offers it; peers offer none (control.go).
		NextProtos: []string{ControlProto},
	}
}

// Client returns the configuration for dialling peers: TLS 1.3 only, the
// server must present a certificate from the network CA for "consoled", and
// we present ours.
func (t *TLS) Client() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{t.leaf},
		RootCAs:      t.pool,
		ServerName:   serverName,
	}
}

// PeerID returns the console ID (certificate CommonName) of a peer whose
// certificate chain was verified, or "" if none was.
func PeerID(state tls.ConnectionState) string {
	if len(state.VerifiedChains) == 0 || len(state.VerifiedChains[0]) == 0 {
		return ""
	}
	return state.VerifiedChains[0][0].Subject.CommonName
}

// DefaultTLSTimeout bounds a TLS handshake when the context has no deadline,
// so a peer that connects and stays silent cannot hold a goroutine forever.
const DefaultTLSTimeout = 5 * time.Second

// Dial connects to a peer at addr and completes the TLS handshake.
func Dial(ctx context.Context, addr string, cfg *tls.Config) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("wire: connecting to peer %s: %w", addr, err)
	}
	return Client(ctx, nc, cfg)
}

// Client runs the client side of the TLS handshake on nc. On error nc is
// closed.
func Client(ctx context.Context, nc net.Conn, cfg *tls.Config) (*Conn, error) {
	bc := newBatchConn(nc)
	tc := tls.Client(bc, cfg)
	if err := handshakeTLS(ctx, tc); err != nil {
		return nil, err
	}
	return newTLSConn(tc, bc), nil
}

// Server runs the server side of the TLS handshake on an accepted nc. Call it
// from the connection's own goroutine, not the accept loop: a slow peer then
// delays only itself. On error nc is closed.
func Server(ctx context.Context, nc net.Conn, cfg *tls.Config) (*Conn, error) {
	bc := newBatchConn(nc)
	tc := tls.Server(bc, cfg)
	if err := handshakeTLS(ctx, tc); err != nil {
		return nil, err
	}
	return newTLSConn(tc, bc), nil
}

func handshakeTLS(ctx context.Context, tc *tls.Conn) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTLSTimeout)
		defer cancel()
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		tc.Close()
		return tlsError(fmt.Sprintf("TLS handshake with %s", tc.RemoteAddr()), err)
	}
	return nil
}

// tlsError wraps err with what; when err looks like a certificate the other
// side did not accept (or we did not), it also wraps ErrAuth so the message
// says "wrong network key?" and the engine can tell it from a network fault
// (or ErrClock when the certificate was refused for its dates).
func tlsError(what string, err error) error {
	if isClockError(err) {
		return fmt.Errorf("wire: %s: %w: %w", what, ErrClock, err)
	}
	if isAuthError(err) {
		return fmt.Errorf("wire: %s: %w: %w", what, ErrAuth, err)
	}
	return fmt.Errorf("wire: %s: %w", what, err)
}

// ErrClock marks a certificate refused for its validity period: a
// console's clock is past 2200.
var ErrClock = errors.New("certificate not valid at this console's time (check the clocks)")

func isClockError(err error) bool {
	var ierr x509.CertificateInvalidError
	return errors.As(err, &ierr) && ierr.Reason == x509.Expired
}

func isAuthError(err error) bool {
	var verr *tls.CertificateVerificationError
	if errors.As(err, &verr) {
		return true // we rejected their certificate
	}
	var uerr x509.UnknownAuthorityError
	if errors.As(err, &uerr) {
		return true
	}
	// They rejected ours: crypto/tls reports the alert they sent as
	// "remote error: tls: <alert>" without an exported type.
	s := err.Error()
	for _, alert := range []string{"bad certificate", "unknown certificate authority", "certificate required", "unsupported certificate", "certificate unknown", "decrypt error"} {
		if strings.Contains(s, "remote error: tls: "+alert) {
			return true
		}
	}
	return false
}
