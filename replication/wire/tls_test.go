package wire

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCADeterministic(t *testing.T) {
	a := newTLS(t, testKey(1), "desk-1")
	b := newTLS(t, testKey(1), "desk-2")
	c := newTLS(t, testKey(2), "desk-1")
	if !bytes.Equal(a.CACert(), b.CACert()) {
		t.Fatal("two consoles with the same key derived different CA certificates")
	}
	if bytes.Equal(a.CACert(), c.CACert()) {
		t.Fatal("different keys derived the same CA certificate")
	}
	ca, err := x509.ParseCertificate(a.CACert())
	if err != nil {
		t.Fatal(err)
	}
	if !ca.IsCA || ca.Subject.CommonName != caSubject || ca.SerialNumber.Int64() != 1 {
		t.Fatalf("CA certificate: IsCA %v, subject %q, serial %v", ca.IsCA, ca.Subject.CommonName, ca.SerialNumber)
	}
	// Leaf keys are fresh for each run.
	if bytes.Equal(a.leaf.Certificate[0], newTLS(t, testKey(1), "desk-1").leaf.Certificate[0]) {
		t.Fatal("leaf certificate repeated")
	}
	if _, err := NewTLS(testKey(1), ""); err == nil {
		t.Fatal("empty console ID accepted")
	}
}

func TestTLSConnect(t *testing.T) {
	k := testKey(7)
	srv, cli := tlsPair(t, newTLS(t, k, "desk-1"), newTLS(t, k, "desk-2"))
	if got := srv.PeerID(); got != "desk-2" {
		t.Fatalf("server sees peer %q, want desk-2", got)
	}
	if got := cli.PeerID(); got != "desk-1" {
		t.Fatalf("client sees peer %q, want desk-1", got)
	}
	st := cli.NetConn().(*tls.Conn).ConnectionState()
	if st.Version != tls.VersionTLS13 {
		t.Fatalf("TLS version %x, want 1.3", st.Version)
	}
	// Both directions carry messages.
	if err := cli.Send(&Ack{Seq: 42}); err != nil {
		t.Fatal(err)
	}
	m, err := srv.ReadMsg()
	if err != nil || m.(*Ack).Seq != 42 {
		t.Fatalf("server read %v, %v", m, err)
	}
	if err := srv.Send(&Reject{Reason: "bye"}); err != nil {
		t.Fatal(err)
	}
	m, err = cli.ReadMsg()
	if err != nil || m.(*Reject).Reason != "bye" {
		t.Fatalf("client read %v, %v", m, err)
	}
}

func TestTLSWrongKeyFailsBothSides(t *testing.T) {
	ln := listen(t)
	ch := serveOne(t, ln, newTLS(t, testKey(1), "desk-1"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, cliErr := Dial(ctx, ln.Addr().String(), newTLS(t, testKey(2), "desk-2").Client())
	if cliErr == nil {
		// TLS 1.3 may let the client finish first; its first read must fail.
		_, cliErr = Handshake(c, Hello{Console: "desk-2"}, 2*time.Second)
		c.Close()
	}
	a := <-ch
	for side, err := range map[string]error{"client": cliErr, "server": a.err} {
		if err == nil {
			t.Errorf("%s: connected with a different network key", side)
			continue
		}
		if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "wrong network key?") {
			t.Errorf("%s: error %q does not hint at the network key", side, err)
		}
		t.Logf("%s: %v", side, err)
	}
}

func TestTLSPlainClientRefused(t *testing.T) {
	ln := listen(t)
	ch := serveOne(t, ln, newTLS(t, testKey(1), "desk-1"))
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// A plaintext peer speaking our framing straight away.
	nc.Write(frame(t, &Hello{Version: ProtocolVersion, Console: "intruder"}))
	nc.Write(frame(t, &Edits{Edits: []Edit{{Seq: 1, Key: "cue/1", Value: []byte("x")}}}))
	a := <-ch
	if a.err == nil {
		a.c.Close()
		t.Fatal("server accepted a plaintext client")
	}
	if a.c != nil {
		t.Fatal("server returned a connection with its error")
	}
	t.Logf("server: %v", a.err)
	// The client hears nothing it could decode as a message.
	nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	got, _ := io.ReadAll(nc)
	if _, err := NewConn(&streamConn{r: bytes.NewReader(got)}).ReadMsg(); err == nil {
		t.Fatalf("plaintext client decoded a message from %x", got)
	}
}

func TestTLSRefusesOldVersions(t *testing.T) {
	ln := listen(t)
	ch := serveOne(t, ln, newTLS(t, testKey(1), "desk-1"))
	cfg := newTLS(t, testKey(1), "desk-2").Client()
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, err := Dial(ctx, ln.Addr().String(), cfg); err == nil {
		c.Close()
		t.Fatal("TLS 1.2 client connected")
	}
	if a := <-ch; a.err == nil {
		t.Fatal("server accepted TLS 1.2")
	}
}

// TestTLSEncrypts records the client's raw bytes in both directions and looks
// for the plaintext of what was sent.
func TestTLSEncrypts(t *testing.T) {
	k := testKey(9)
	ln := listen(t)
	ch := serveOne(t, ln, newTLS(t, k, "desk-1"))
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingConn{Conn: raw}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cli, err := Client(ctx, rec, newTLS(t, k, "desk-2").Client())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	a := <-ch
	if a.err != nil {
		t.Fatal(a.err)
	}
	defer a.c.Close()

	const up, down = "PLAINTEXT-MARKER-up-cue-77", "PLAINTEXT-MARKER-down-snap"
	if err := cli.Send(&Edits{Edits: []Edit{{Seq: 1, Epoch: "e", Key: "cue/1", Value: []byte(up)}}}); err != nil {
		t.Fatal(err)
	}
	m, err := a.c.ReadMsg()
	if err != nil || string(m.(*Edits).Edits[0].Value) != up {
		t.Fatalf("server got %+v, %v", m, err)
	}
	if err := a.c.Send(&SnapChunk{Data: []byte(down)}); err != nil {
		t.Fatal(err)
	}
	m, err = cli.ReadMsg()
	if err != nil || string(m.(*SnapChunk).Data) != down {
		t.Fatalf("client got %+v, %v", m, err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.written.Len() < len(up) || rec.read.Len() < len(down) {
		t.Fatalf("recorded only %d/%d bytes", rec.written.Len(), rec.read.Len())
	}
	for _, s := range []string{up, down, "PLAINTEXT", "cue/1"} {
		if bytes.Contains(rec.written.Bytes(), []byte(s)) || bytes.Contains(rec.read.Bytes(), []byte(s)) {
			t.Errorf("%q appears in the clear on the wire", s)
		}
	}
}

// TestConcurrentWrites: many goroutines send at once; every message arrives
// whole.
func TestConcurrentWrites(t *testing.T) {
	k := testKey(4)
	srv, cli := tlsPair(t, newTLS(t, k, "desk-1"), newTLS(t, k, "desk-2"))
	const writers, each = 8, 200
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				var err error
				val := bytes.Repeat([]byte{byte(w)}, 100+i*37)
				m := &Edits{Edits: []Edit{{Seq: uint64(w*each + i), Epoch: fmt.Sprint(w), Key: "cue/1", Value: val}}}
				if i%3 == 0 {
					err = cli.Send(m)
				} else {
					err = cli.WriteMsg(m)
					if err == nil && i%7 == 0 {
						err = cli.Flush()
					}
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
			cli.Flush()
		}()
	}
	seen := map[uint64]bool{}
	srv.SetReadDeadline(time.Now().Add(20 * time.Second))
	for len(seen) < writers*each {
		m, err := srv.ReadMsg()
		if err != nil {
			t.Fatalf("after %d messages: %v", len(seen), err)
		}
		e := m.(*Edits).Edits[0]
		w, i := int(e.Seq)/each, int(e.Seq)%each
		if e.Epoch != fmt.Sprint(w) || len(e.Value) != 100+i*37 || e.Value[0] != byte(w) || e.Value[len(e.Value)-1] != byte(w) {
			t.Fatalf("message %d corrupted", e.Seq)
		}
		if seen[e.Seq] {
			t.Fatalf("message %d twice", e.Seq)
		}
		seen[e.Seq] = true
	}
	wg.Wait()
}

// TestTLSServerRejectsClientCert: the client trusts the server, but its own
// certificate is from another network. In TLS 1.3 the client's handshake
// completes first; the refusal must still surface, with the hint, on the
// client's first read.
func TestTLSServerRejectsClientCert(t *testing.T) {
	ln := listen(t)
	ch := serveOne(t, ln, newTLS(t, testKey(1), "desk-1"))
	cfg := newTLS(t, testKey(1), "desk-2").Client()
	cfg.Certificates = newTLS(t, testKey(2), "desk-2").Client().Certificates
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, ln.Addr().String(), cfg)
	if err == nil {
		defer c.Close()
		_, err = Handshake(c, Hello{Console: "desk-2"}, 2*time.Second)
	}
	if err == nil || !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "wrong network key?") {
		t.Fatalf("client: %v", err)
	}
	t.Logf("client: %v", err)
	if a := <-ch; a.err == nil || !errors.Is(a.err, ErrAuth) {
		t.Fatalf("server: %v", a.err)
	}
}

// TestTLSClockSkew: peers whose clocks differ by days still connect (show
// networks often run without NTP), and so does one whose clock starts in
// 1970 (a Raspberry Pi without a real-time clock); a clock past the
// certificates' end is reported as a clock problem, not as a wrong key.
func TestTLSClockSkew(t *testing.T) {
	k := testKey(3)
	for _, tc := range []struct {
		name string
		skew time.Time
		ok   bool
	}{
		{"three days behind", time.Now().AddDate(0, 0, -3), true},
		{"a year ahead", time.Now().AddDate(1, 0, 0), true},
		{"clock at boot without a real-time clock", time.Unix(5, 0), true},
		{"clock reset to 2019", time.Date(2019, 6, 1, 0, 0, 0, 0, time.UTC), true},
		{"clock past 2200", time.Date(2201, 6, 1, 0, 0, 0, 0, time.UTC), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := listen(t)
			ch := serveOne(t, ln, newTLS(t, k, "desk-1"))
			cfg := newTLS(t, k, "desk-2").Client()
			cfg.Time = func() time.Time { return tc.skew }
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := Dial(ctx, ln.Addr().String(), cfg)
			a := <-ch
			if a.c != nil {
				defer a.c.Close()
			}
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("connected with a clock past the certificates' end")
			}
			if !errors.Is(err, ErrClock) || errors.Is(err, ErrAuth) {
				t.Fatalf("err = %v, want ErrClock", err)
			}
			t.Log(err)
		})
	}
}
