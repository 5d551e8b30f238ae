package replication

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"consoled/replication/wire"
)

// chunk returns a SnapChunk holding data in a buffer of MaxChunk bytes, as
// the connection hands them over (pooled, room to pad).
func chunk(data []byte) *wire.SnapChunk {
	buf := make([]byte, wire.MaxChunk)
	return &wire.SnapChunk{Data: buf[:copy(buf, data)]}
}

// TestCopyWriterFiles: whatever the chunks look like (the sender's 1 MiB
// pieces and a short last one, chunks that do not fit direct I/O, an empty
// file), every file holds exactly its bytes once finish returns, and is no
// longer than its size (the padding of the last direct write is cut off).
func TestCopyWriterFiles(t *testing.T) {
	pattern := func(n, seed int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7 + seed)
		}
		return b
	}
	const mib = wire.MaxChunk
	cases := map[string][]int{ // chunk sizes
		"sender's pieces":        {mib, mib, 12345},
		"whole pieces":           {mib, mib},
		"one short":              {100},
		"unaligned middle":       {mib, 1000, mib, 77},
		"unaligned from start":   {4095, mib},
		"empty":                  {},
		"aligned, not a piece":   {8192, 4096},
		"short then aligned end": {10, 4096},
	}
	dir := t.TempDir()
	// Where the file system has direct I/O, the sender's pieces must go
	// that way (it is what keeps the receiver's CPU down), and a chunk that
	// does not fit it must turn the file to buffered writes.
	probe, err := os.OpenFile(filepath.Join(dir, "probe"), os.O_WRONLY|os.O_CREATE|unix.O_DIRECT, 0o640)
	hasDirect := err == nil && fitsDirect(probe)
	if err == nil {
		probe.Close()
	}
	wantDirect := map[string]bool{"sender's pieces": hasDirect, "whole pieces": hasDirect, "unaligned middle": false, "unaligned from start": false}
	w := newCopyWriter()
	want := map[string][]byte{}
	seed := 0
	for name, sizes := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		var all []byte
		for _, n := range sizes {
			seed++
			all = append(all, pattern(n, seed)...)
		}
		if err := w.create(path, int64(len(all))); err != nil {
			t.Fatal(err)
		}
		off := 0
		for _, n := range sizes {
			if err := w.write(chunk(all[off : off+n])); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			off += n
		}
		if d, ok := wantDirect[name]; ok && w.cur.direct != d {
			t.Errorf("%s: written with direct I/O %v, want %v", name, w.cur.direct, d)
		}
		want[path] = all
	}
	if err := w.finish(); err != nil {
		t.Fatal(err)
	}
	for path, data := range want {
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("%s: %d bytes, want %d (equal prefix: %v)", filepath.Base(path), len(got), len(data), bytes.HasPrefix(got, data))
		}
	}
}

// TestCopyWriterError: a write that fails (here: to a file opened for
// reading only, standing in for a full or failing disk) is reported by a
// later write or by finish, naming the file, and finish still closes
// everything.
func TestCopyWriterError(t *testing.T) {
	dir := t.TempDir()
	w := newCopyWriter()
	path := filepath.Join(dir, "000007.sst")
	if err := w.create(path, 3*wire.MaxChunk); err != nil {
		t.Fatal(err)
	}
	ro, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	w.cur.f.Close()
	w.cur.f = ro
	var errs []error
	for range 3 {
		errs = append(errs, w.write(chunk(make([]byte, wire.MaxChunk))))
	}
	errs = append(errs, w.finish())
	var first error
	for _, err := range errs {
		if err != nil {
			first = err
			break
		}
	}
	if first == nil || !strings.Contains(first.Error(), "000007.sst") {
		t.Fatalf("errors %v: want one naming 000007.sst", errs)
	}
	if err := w.finish(); err == nil {
		t.Fatal("a second finish forgot the error")
	}
	if err := ro.Close(); err == nil {
		t.Fatal("finish left the file open")
	}
}

// TestCopyWriterDirectRefused: a direct write the kernel refuses (here: one
// that skips the padding) is made again buffered, not failed.
func TestCopyWriterDirectRefused(t *testing.T) {
	dir := t.TempDir()
	w := newCopyWriter()
	path := filepath.Join(dir, "000009.sst")
	data := []byte("not a multiple of the block size")
	if err := w.create(path, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if !w.cur.direct {
		t.Skip("no direct I/O on this file system")
	}
	c := chunk(data)
	w.cur.pending.Add(1)
	w.jobs <- writeJob{cf: w.cur, chunk: c, data: c.Data, off: 0}
	w.cur.off = int64(len(data))
	if err := w.finish(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
		t.Fatalf("file holds %q", got)
	}
}
