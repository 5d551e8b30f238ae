package replication

import (
	"github.com/jonboulle/clockwork"

	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"consoled/replication/store"
	"consoled/replication/wire"
)

// TestSnapshotTiming times a full sync in-process: checkpoint, the stream
// over TLS on loopback (sendSnapshot → readLoop-style reader →
// receiveSnapshot), install and reopen, next to a raw TCP copy of the same
// files into one fsynced file. Performance work only: set
// CONSOLED_SNAPBENCH to a directory (the loaded show is kept there between
// runs), optionally CONSOLED_SNAPBENCH_N (objects of 1000 bytes, default
// 100000), CONSOLED_SNAPBENCH_V=1 for compressible values instead of random
// text, CONSOLED_SNAPBENCH_DIRTY (objects rewritten just before the sync,
// default 2000), CONSOLED_SNAPBENCH_TRIALS (syncs in a row, default 1),
// CONSOLED_SNAPBENCH_LOG=1 for the engines' log lines. The
// stores use the default Options (LogRetain among them).
func TestSnapshotTiming(t *testing.T) {
	root := os.Getenv("CONSOLED_SNAPBENCH")
	if root == "" {
		t.Skip("set CONSOLED_SNAPBENCH=DIR to run")
	}
	n := 100000
	if s := os.Getenv("CONSOLED_SNAPBENCH_N"); s != "" {
		fmt.Sscan(s, &n)
	}
	lg := slog.New(slog.NewTextHandler(io.Discard, nil))
	compressible := os.Getenv("CONSOLED_SNAPBENCH_V") != ""
	srcDir := filepath.Join(root, fmt.Sprintf("src-%d-%v", n, compressible))
	_, statErr := os.Stat(srcDir)
	src, err := store.Open(srcDir, store.Options{Logger: lg})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	sh, err := src.OpenShow("bench", true)
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	if statErr != nil {
		if _, err := sh.StartEpoch("e1"); err != nil {
			t.Fatal(err)
		}
		ops := make([]store.Op, 0, 100)
		for i := 0; i < n; i++ {
			v := make([]byte, 500)
			rand.Read(v)
			val := []byte(fmt.Sprintf("%x", v))
			if compressible {
				val = bytes.Repeat([]byte("v"), 1000)
			}
			ops = append(ops, store.Op{Key: fmt.Sprintf("patch/%07d", i), Value: val})
			if len(ops) == cap(ops) || i == n-1 {
				if _, err := sh.Append(ops); err != nil {
					t.Fatal(err)
				}
				ops = ops[:0]
			}
		}
	}

	// A show that was just edited has a memtable and a WAL that the
	// checkpoint has to flush: write a memtable's worth before each run, as
	// the bench's show has right after it was loaded.
	dirty := 2000
	if s := os.Getenv("CONSOLED_SNAPBENCH_DIRTY"); s != "" {
		fmt.Sscan(s, &dirty)
	}
	ops := make([]store.Op, 0, 100)
	for i := 0; i < dirty; i++ {
		v := make([]byte, 500)
		rand.Read(v)
		ops = append(ops, store.Op{Key: fmt.Sprintf("patch/%07d", i*7%n), Value: []byte(fmt.Sprintf("%x", v))})
		if len(ops) == cap(ops) || i == dirty-1 {
			if _, err := sh.Append(ops); err != nil {
				t.Fatal(err)
			}
			ops = ops[:0]
		}
	}

	k := wire.Key{}
	rand.Read(k[:])
	tlsA, err := wire.NewTLS(k, "a")
	if err != nil {
		t.Fatal(err)
	}
	tlsB, _ := wire.NewTLS(k, "b")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx := context.Background()
	accepted := make(chan *wire.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		c, _ := wire.Server(ctx, nc, tlsB.Server())
		accepted <- c
	}()
	ca, err := wire.Dial(ctx, ln.Addr().String(), tlsA.Client())
	if err != nil {
		t.Fatal(err)
	}
	cb := <-accepted
	if cb == nil {
		t.Fatal("accept failed")
	}
	defer ca.Close()
	defer cb.Close()

	elog := lg
	if os.Getenv("CONSOLED_SNAPBENCH_LOG") != "" {
		elog = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	ea := &Engine{st: src, log: elog, id: "a", sched: realSched{clockwork.NewRealClock()}}
	pa := &peer{e: ea, id: "b", conn: ca, done: make(chan struct{})}
	inbox := make(chan wire.Msg, 16)
	readerDone := make(chan struct{})
	go func() { // the receiving side's readLoop, as far as a snapshot goes
		defer close(readerDone)
		for {
			m, err := cb.ReadMsg()
			if err != nil {
				return
			}
			inbox <- m
		}
	}()
	trials := 1
	if s := os.Getenv("CONSOLED_SNAPBENCH_TRIALS"); s != "" {
		fmt.Sscan(s, &trials)
	}
	for range trials {
		dstDir := filepath.Join(root, "dst")
		os.RemoveAll(dstDir)
		dst, err := store.Open(dstDir, store.Options{Logger: lg})
		if err != nil {
			t.Fatal(err)
		}
		eb := &Engine{st: dst, log: elog, id: "b", sched: realSched{clockwork.NewRealClock()}}
		pb := &peer{e: eb, id: "a", conn: cb, done: readerDone, inbox: inbox}
		cpu0, flt0 := cpuTime(), minorFaults()
		t0 := time.Now()
		sent := make(chan error, 1)
		go func() {
			_, err := ea.sendSnapshot(ctx, pa, sh)
			sent <- err
		}()
		dir, lin, err := eb.receiveSnapshot(ctx, pb, "bench")
		if err != nil {
			t.Fatal(err)
		}
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		cpu, faults := cpuTime()-cpu0, minorFaults()-flt0
		var size int64
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if fi, err := e.Info(); err == nil {
				size += fi.Size()
			}
		}
		if _, err := dst.Install("bench", dir, store.InstallOptions{}); err != nil {
			t.Fatal(err)
		}
		t2 := time.Now()
		got, err := dst.OpenShow("bench", false)
		if err != nil {
			t.Fatal(err)
		}
		t3 := time.Now()
		if got.Lineage().Seq != lin.Seq || lin.Seq != sh.Lineage().Seq {
			t.Fatalf("seq %d, want %d", got.Lineage().Seq, sh.Lineage().Seq)
		}
		got.Close()
		dst.Close()
		total := t3.Sub(t0)
		// The raw copy reads the sender's files, as the sync does (cached);
		// the copy just received was written with direct I/O.
		raw := rawFileCopy(t, filepath.Join(srcDir, "shows", "bench"), filepath.Join(root, "raw"), size)
		t.Logf("%.1f MB: stream %v (cpu %v, %d page faults), install %v, open %v, total %v; raw %v; ratio %.2f",
			float64(size)/1e6, t1.Sub(t0).Round(time.Millisecond), cpu.Round(time.Millisecond), faults, t2.Sub(t1).Round(time.Millisecond),
			t3.Sub(t2).Round(time.Millisecond), total.Round(time.Millisecond), raw.Round(time.Millisecond), float64(total)/float64(raw))
	}
}

// rawFileCopy sends the first limit bytes of dir's files over one plain TCP
// connection into one fsynced file.
func rawFileCopy(t *testing.T, dir, dst string, limit int64) time.Duration {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		f, err := os.Create(dst)
		if err != nil {
			done <- err
			return
		}
		if _, err := io.Copy(f, c); err != nil {
			done <- err
			return
		}
		err = f.Sync()
		f.Close()
		done <- err
	}()
	t0 := time.Now()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !e.Type().IsRegular() || limit <= 0 || strings.HasSuffix(e.Name(), ".log") || e.Name() == "LOCK" {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		n, _ := io.Copy(conn, io.LimitReader(f, limit))
		limit -= n
		f.Close()
	}
	conn.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	took := time.Since(t0)
	os.Remove(dst)
	return took
}

// cpuTime is the CPU time (user and system) this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// minorFaults is the count of page faults this process took that needed no
// disk: each is a page touched for the first time, or again after the
// kernel took it back.
func minorFaults() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Minflt
}
