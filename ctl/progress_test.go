package ctl

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"consoled/api"
)

// consolectl launch says how a full copy comes along while it waits: plain
// lines when stderr is not a terminal, and stdout keeps only the answer.
func TestLaunchShowsCopyProgress(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "c.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now().Add(-2 * time.Second)
	var reads atomic.Int64
	copied := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.PathStatus, func(w http.ResponseWriter, r *http.Request) {
		n := reads.Add(1)
		st := api.Status{Console: "desk-3", Role: "syncing", Show: "demo", Syncing: true,
			Copy: &api.Copy{From: "desk-1", Bytes: n * 4 << 20, Total: 64 << 20, Started: started}}
		if n == 2 {
			close(copied)
		}
		json.NewEncoder(w).Encode(st)
	})
	mux.HandleFunc("POST "+api.PathLaunch, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-copied:
		case <-time.After(10 * time.Second):
		}
		json.NewEncoder(w).Encode(api.Status{Console: "desk-3", Role: "backup", Show: "demo", Seq: 7})
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	defer srv.Close()

	var out, errOut bytes.Buffer
	if code := Main([]string{"--socket", sock, "launch", "demo"}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("launch exit %d: %s", code, errOut.String())
	}
	if out.String() != "demo: backup at seq 7\n" {
		t.Errorf("stdout %q", out.String())
	}
	line := strings.SplitN(errOut.String(), "\n", 2)[0]
	if !strings.HasPrefix(line, "receiving demo from desk-1: 4.0 MiB of 64.0 MiB (6%), ") || !strings.Contains(line, "MiB/s") || !strings.Contains(line, "s left") {
		t.Errorf("progress line %q", line)
	}
}

// On a terminal the copy is a progress bar with the bytes.
func TestCopyProgressBar(t *testing.T) {
	var b bytes.Buffer
	cw := &copyWatch{w: &b, tty: true}
	start := time.Now()
	c := &api.Copy{From: "desk-1", Bytes: 8 << 20, Total: 64 << 20, Started: start}
	cw.show(start.Add(250*time.Millisecond), "demo", c)
	c.Bytes = 32 << 20
	cw.show(start.Add(time.Second), "demo", c)
	cw.finish()
	if s := b.String(); !strings.Contains(s, "receiving demo from desk-1: 32.0 MiB of 64.0 MiB (50%), 32.0 MiB/s, 1 s left") || !strings.Contains(s, "50%") {
		t.Errorf("bar output %q", s)
	}
}
