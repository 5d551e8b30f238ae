package wire

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A control client and a peer reach the same server configuration; the
// negotiated protocol tells them apart, and a control client with another
// key is refused like a peer with one.
func TestControlProtocol(t *testing.T) {
	k := testKey(7)
	srv, peer := tlsPair(t, newTLS(t, k, "desk-1"), newTLS(t, k, "desk-2"))
	if srv.Protocol() != "" || peer.Protocol() != "" {
		t.Fatalf("peer connection negotiated %q/%q, want none", srv.Protocol(), peer.Protocol())
	}

	ln := listen(t)
	ch := serveOne(t, ln, newTLS(t, k, "desk-1"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cli, err := Dial(ctx, ln.Addr().String(), newTLS(t, k, "consolectl").ControlClient())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	a := <-ch
	if a.err != nil {
		t.Fatal(a.err)
	}
	defer a.c.Close()
	if a.c.Protocol() != ControlProto || cli.Protocol() != ControlProto {
		t.Fatalf("control connection negotiated %q (server) %q (client), want %q", a.c.Protocol(), cli.Protocol(), ControlProto)
	}

	ch = serveOne(t, ln, newTLS(t, k, "desk-1"))
	_, cliErr := Dial(ctx, ln.Addr().String(), newTLS(t, testKey(8), "consolectl").ControlClient())
	a = <-ch
	for side, err := range map[string]error{"client": cliErr, "server": a.err} {
		if !errors.Is(err, ErrAuth) {
			t.Errorf("%s: a control client with another key: %v, want ErrAuth", side, err)
		}
	}
}

// LoadKey reads a key file as a console does, and never makes one.
func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "none.key")
	if _, err := LoadKey(missing); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing key: %v", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("LoadKey created a key")
	}
	p := filepath.Join(dir, "network.key")
	want, _, err := LoadOrCreateKey(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := LoadKey(p); err != nil || got != want {
		t.Fatalf("LoadKey: %v, %v", got, err)
	}
	os.Chmod(p, 0o644)
	if _, err := LoadKey(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("key readable by others: %v", err)
	}
}
