package wire

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

type hsResult struct {
	peer Hello
	err  error
}

// handshakeBoth runs Handshake on both ends at once.
func handshakeBoth(a, b *Conn, ha, hb Hello) (ra, rb hsResult) {
	ch := make(chan hsResult, 1)
	go func() {
		p, err := Handshake(b, hb, 3*time.Second)
		ch <- hsResult{p, err}
	}()
	p, err := Handshake(a, ha, 3*time.Second)
	return hsResult{p, err}, <-ch
}

func TestHandshakeOK(t *testing.T) {
	k := testKey(5)
	srv, cli := tlsPair(t, newTLS(t, k, "desk-1"), newTLS(t, k, "desk-2"))
	h1 := Hello{Console: "desk-1", Listen: "10.0.0.1:7400", Master: true, KeyFP: k.Fingerprint()}
	h2 := Hello{Version: ProtocolVersion, Console: "desk-2", Listen: "10.0.0.2:7400", KeyFP: k.Fingerprint()}
	r1, r2 := handshakeBoth(srv, cli, h1, h2)
	if r1.err != nil || r2.err != nil {
		t.Fatalf("handshake: %v / %v", r1.err, r2.err)
	}
	if r1.peer != h2 {
		t.Fatalf("desk-1 saw %+v, want %+v", r1.peer, h2)
	}
	h1.Version = ProtocolVersion
	if r2.peer != h1 {
		t.Fatalf("desk-2 saw %+v, want %+v", r2.peer, h1)
	}
	// The connection is usable afterwards, with no deadline left over.
	go func() {
		time.Sleep(50 * time.Millisecond)
		srv.Send(&Ack{Seq: 3})
	}()
	if m, err := cli.ReadMsg(); err != nil || m.(*Ack).Seq != 3 {
		t.Fatalf("after handshake: %v, %v", m, err)
	}
}

func TestHandshakeIncompatibleVersion(t *testing.T) {
	k := testKey(5)
	srv, cli := tlsPair(t, newTLS(t, k, "desk-1"), newTLS(t, k, "desk-2"))
	r1, r2 := handshakeBoth(srv, cli,
		Hello{Version: 1, Console: "desk-1"},
		Hello{Version: 2, Console: "desk-2"})
	for _, r := range []struct {
		name string
		err  error
	}{{"desk-1", r1.err}, {"desk-2", r2.err}} {
		if !errors.Is(r.err, ErrIncompatibleVersion) {
			t.Fatalf("%s: err = %v, want ErrIncompatibleVersion", r.name, r.err)
		}
		t.Logf("%s: %v", r.name, r.err)
	}
	if want := "peer desk-2 speaks protocol version 2, this console (desk-1) speaks 1"; !strings.Contains(r1.err.Error(), want) {
		t.Errorf("desk-1: %q lacks %q", r1.err, want)
	}
	if want := "peer desk-1 speaks protocol version 1, this console (desk-2) speaks 2"; !strings.Contains(r2.err.Error(), want) {
		t.Errorf("desk-2: %q lacks %q", r2.err, want)
	}
}

// TestHandshakeFutureHello: a later version's Hello carries fields we do not
// know; we must still read its version and console and refuse clearly, and
// the peer must hear why.
func TestHandshakeFutureHello(t *testing.T) {
	a, b := tcpPair(t)
	done := make(chan error, 1)
	go func() {
		_, err := Handshake(a, Hello{Console: "desk-1"}, 3*time.Second)
		done <- err
	}()
	// The future peer: a next-version Hello with an extra field appended.
	next := ProtocolVersion + 1
	future := frame(t, &Hello{Version: next, Console: "desk-9"})
	future = append(future, 0xEE, 0xEE)
	future[3] += 2
	if _, err := b.NetConn().Write(future); err != nil {
		t.Fatal(err)
	}
	// It reads our Hello, then our refusal.
	if m, err := b.ReadMsg(); err != nil || m.(*Hello).Console != "desk-1" {
		t.Fatalf("future peer read %v, %v", m, err)
	}
	m, err := b.ReadMsg()
	if err != nil {
		t.Fatal(err)
	}
	r, ok := m.(*HelloReply)
	if !ok || r.OK || !strings.Contains(r.Reason, fmt.Sprintf("peer desk-9 speaks protocol version %d, this console (desk-1) speaks %d", next, ProtocolVersion)) {
		t.Fatalf("future peer got %+v", m)
	}
	b.Send(&HelloReply{Version: next, Console: "desk-9", Reason: "whatever"})
	if err := <-done; !errors.Is(err, ErrIncompatibleVersion) {
		t.Fatalf("err = %v", err)
	}
}

// TestHandshakeOneSidedRefusal: when only the peer refuses (a later version
// with a wider Compatible, say), this side still returns the peer's reason.
func TestHandshakeOneSidedRefusal(t *testing.T) {
	a, b := tcpPair(t)
	done := make(chan error, 1)
	go func() {
		_, err := Handshake(a, Hello{Console: "desk-1"}, 3*time.Second)
		done <- err
	}()
	b.Send(&Hello{Version: ProtocolVersion, Console: "desk-2"})
	b.ReadMsg() // desk-1's Hello
	b.Send(&HelloReply{Version: ProtocolVersion, Console: "desk-2", Reason: "show hamlet is not served here"})
	err := <-done
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "show hamlet is not served here") || !strings.Contains(err.Error(), "desk-2") {
		t.Fatalf("err = %v", err)
	}
	if errors.Is(err, ErrIncompatibleVersion) {
		t.Fatalf("same-version refusal reported as incompatible: %v", err)
	}

	// A Reject in place of the reply counts the same.
	a, b = tcpPair(t)
	go func() {
		_, err := Handshake(a, Hello{Console: "desk-1"}, 3*time.Second)
		done <- err
	}()
	b.Send(&Hello{Version: ProtocolVersion, Console: "desk-2"})
	b.ReadMsg()
	b.Send(&Reject{Reason: "go away"})
	if err := <-done; !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "go away") {
		t.Fatalf("err = %v", err)
	}
}

func TestHandshakeSameConsoleName(t *testing.T) {
	k := testKey(5)
	srv, cli := tlsPair(t, newTLS(t, k, "desk-1"), newTLS(t, k, "desk-1"))
	r1, r2 := handshakeBoth(srv, cli, Hello{Console: "desk-1"}, Hello{Console: "desk-1"})
	for _, err := range []error{r1.err, r2.err} {
		if !errors.Is(err, ErrDuplicateConsole) || !strings.Contains(err.Error(), "two consoles named desk-1") {
			t.Fatalf("err = %v", err)
		}
	}
}

// TestHandshakeCertMismatch: the Hello must name the console the peer's
// certificate names.
func TestHandshakeCertMismatch(t *testing.T) {
	k := testKey(5)
	srv, cli := tlsPair(t, newTLS(t, k, "desk-1"), newTLS(t, k, "desk-2"))
	r1, r2 := handshakeBoth(srv, cli, Hello{Console: "desk-1"}, Hello{Console: "desk-3"})
	if !errors.Is(r1.err, ErrProtocol) || !strings.Contains(r1.err.Error(), "certificate names desk-2") {
		t.Fatalf("desk-1: %v", r1.err)
	}
	if !errors.Is(r2.err, ErrRejected) {
		t.Fatalf("desk-3: %v", r2.err)
	}
}

func TestHandshakeKeyFingerprintMismatch(t *testing.T) {
	a, b := tcpPair(t)
	r1, r2 := handshakeBoth(a, b, Hello{Console: "desk-1", KeyFP: "aaaaaaaa"}, Hello{Console: "desk-2", KeyFP: "bbbbbbbb"})
	if !errors.Is(r1.err, ErrAuth) || !errors.Is(r2.err, ErrAuth) && !errors.Is(r2.err, ErrRejected) {
		t.Fatalf("%v / %v", r1.err, r2.err)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	k := testKey(5)
	srv, _ := tlsPair(t, newTLS(t, k, "desk-1"), newTLS(t, k, "desk-2"))
	start := time.Now()
	_, err := Handshake(srv, Hello{Console: "desk-1"}, 200*time.Millisecond)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("timed out after %v", d)
	}

	// A peer that sends its Hello but never replies times out too.
	a, b := tcpPair(t)
	b.Send(&Hello{Version: ProtocolVersion, Console: "desk-2"})
	if _, err := Handshake(a, Hello{Console: "desk-1"}, 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
}

func TestHandshakeNotAHello(t *testing.T) {
	a, b := tcpPair(t)
	done := make(chan error, 1)
	go func() {
		_, err := Handshake(a, Hello{Console: "desk-1"}, 3*time.Second)
		done <- err
	}()
	b.Send(&Edits{Edits: []Edit{{Seq: 1, Key: "cue/1"}}})
	if err := <-done; !errors.Is(err, ErrProtocol) {
		t.Fatalf("err = %v", err)
	}
	b.ReadMsg() // our Hello
	if m, err := b.ReadMsg(); err != nil || m.Type() != TypeReject {
		t.Fatalf("peer got %v, %v; want a Reject", m, err)
	}
}
