package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"consoled/replication/store"
	"consoled/replication/wire"
)

// A full sync ships the show's Pebble files (a checkpoint: hard links to
// the immutable sstables plus a copy of the small mutable files, no WAL),
// not its objects one by one: the receiver writes plain files and fsyncs
// them, which costs about what copying the bytes costs. The bulk path is
// kept to the copies TLS needs: the sender reads ahead into a few reused
// buffers and hands them to the connection as they are (WriteChunk); the
// receiver's chunks come in pooled buffers that go to disk as they are, with
// direct I/O, while the next ones arrive (copyWriter), and each file is
// fsynced in the background.
//
// The checkpoint flushes the memtable first, which after a burst of edits
// takes a few tens of milliseconds. The sstables the show has when the join
// comes are sent meanwhile, straight from the show's directory: each is
// immutable, and a checkpoint taken later holds it under the same name with
// the same bytes, unless a compaction dropped it (the receiver then deletes
// it: SnapEnd names the files the copy consists of). What the checkpoint
// adds (the flushed memtable, compaction outputs, MANIFEST, OPTIONS) goes
// after it.

// snapshotsDir, under the data directory, holds the checkpoints being sent.
const snapshotsDir = "snapshots"

// sendSnapshot streams a checkpoint of sh to p and returns the seq it holds.
func (cp copier) sendSnapshot(ctx context.Context, p stream, sh *store.Show) (uint64, error) {
	tmp := filepath.Join(cp.st.Dir(), snapshotsDir)
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp(tmp, sh.Name()+"-")
	if err != nil {
		return 0, err
	}
	os.Remove(dir) // Checkpoint wants to create it
	t0 := cp.sched.Now()
	live, err := sh.LiveTables()
	if err != nil {
		return 0, err
	}
	// The checkpoint is made while the sstables above are sent; its result
	// is read once done is closed.
	var ckpt struct {
		lin  store.Lineage
		err  error
		took time.Duration
	}
	done := make(chan struct{})
	cp.sched.Go(cp.wg, func() {
		ckpt.lin, ckpt.err = sh.CheckpointToSend(dir)
		ckpt.took = cp.sched.Now().Sub(t0)
		close(done)
	})
	defer func() {
		cp.sched.Wait(time.Time{}, done)
		os.RemoveAll(dir)
	}()

	var estimate uint64
	early := make([]snapFile, len(live))
	for i, t := range live {
		early[i] = snapFile{name: t.Name, path: t.Path, optional: true}
		estimate += uint64(t.Size)
	}
	if err := p.Write(&wire.SnapBegin{Show: sh.Name(), Bytes: estimate}); err != nil {
		return 0, err
	}
	sent := make(map[string]int64) // name → size
	if err := cp.sendFiles(ctx, p, early, sent); err != nil {
		return 0, err
	}
	tEarly := cp.sched.Now().Sub(t0)

	cp.sched.Wait(time.Time{}, done)
	if ckpt.err != nil {
		return 0, ckpt.err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var names []string
	var rest []snapFile
	for _, en := range entries {
		if !en.Type().IsRegular() {
			continue
		}
		names = append(names, en.Name())
		if _, ok := sent[en.Name()]; !ok {
			rest = append(rest, snapFile{name: en.Name(), path: filepath.Join(dir, en.Name())})
		}
	}
	if err := cp.sendFiles(ctx, p, rest, sent); err != nil {
		return 0, err
	}
	if d := cp.delay; d > 0 {
		if !sleep(cp.sched, d, ctx.Done()) {
			return 0, ctx.Err()
		}
	}
	// The transport is authenticated encryption and Pebble checksums every
	// block it reads, so the end carries no digest of its own.
	lin := ckpt.lin
	if err := p.Send(&wire.SnapEnd{ShowID: lin.ShowID, Epochs: toWireEpochs(lin.Epochs), Seq: lin.Seq, Files: names}); err != nil {
		return 0, err
	}
	var total int64
	for _, size := range sent {
		total += size
	}
	cp.log.Info("sent full copy", "peer", p.ID(), "show", sh.Name(), "seq", lin.Seq, "files", len(names),
		"bytes", total, "took", cp.sched.Now().Sub(t0).Round(time.Millisecond), "checkpoint", ckpt.took.Round(time.Millisecond),
		"before_checkpoint", len(live), "dropped", len(sent)-len(names), "first_part", tEarly.Round(time.Millisecond))
	return lin.Seq, nil
}

// sendFiles sends files to p, each as a SnapFile and its chunks, adding
// each to sent with its size. An optional file that is gone already is
// skipped.
func (cp copier) sendFiles(ctx context.Context, p stream, files []snapFile, sent map[string]int64) error {
	// Files are read ahead by a second goroutine, so reading the next chunk
	// overlaps encrypting and sending this one.
	rctx, stop := context.WithCancel(ctx)
	chunks := readAhead(rctx, files)
	defer func() {
		stop()
		for range chunks { // the reader is done with the files before they go
		}
	}()
	for c := range chunks {
		if c.err != nil {
			return c.err
		}
		if c.data == nil {
			f := files[c.file]
			if err := p.Write(&wire.SnapFile{Name: f.name, Size: uint64(c.size)}); err != nil {
				return err
			}
			sent[f.name] = c.size
			continue
		}
		err := p.WriteChunk(c.data)
		c.release()
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

type snapFile struct {
	name, path string
	optional   bool // skipped if it no longer exists
}

// A readChunk is the start of file number file (data nil; size is the
// file's), a piece of it, or a read error (the last one sent).
type readChunk struct {
	file int
	size int64
	data []byte
	err  error
	free chan<- []byte
}

// release hands the chunk's buffer back to the reader.
func (c readChunk) release() { c.free <- c.data[:cap(c.data)] }

// readAhead reads files in order, each whole as it is when opened, in
// chunks of at most wire.MaxChunk bytes, a few chunks ahead of the consumer,
// who releases each data chunk when done with it. The channel closes after
// the last file, after an error, or once ctx ends.
func readAhead(ctx context.Context, files []snapFile) <-chan readChunk {
	const ahead = 4
	out := make(chan readChunk, ahead)
	free := make(chan []byte, ahead)
	made := 0 // buffers made so far: at most ahead
	// buffer returns a buffer of want bytes: a released one, or a new one
	// while fewer than ahead exist. A buffer is made as large as the chunk
	// needs, not wire.MaxChunk: most files of a show are small.
	buffer := func(want int) ([]byte, error) {
		var buf []byte
		select {
		case buf = <-free:
		default:
			if made < ahead {
				made++
				break
			}
			select {
			case buf = <-free:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if cap(buf) < want {
			buf = make([]byte, want)
		}
		return buf[:want], nil
	}
	send := func(c readChunk) bool {
		select {
		case out <- c:
			return true
		case <-ctx.Done():
			return false
		}
	}
	readFile := func(i int) error {
		f := files[i]
		fd, err := os.Open(f.path)
		if f.optional && errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		defer fd.Close()
		fi, err := fd.Stat()
		if err != nil {
			return err
		}
		if !send(readChunk{file: i, size: fi.Size()}) {
			return ctx.Err()
		}
		for left := fi.Size(); left > 0; {
			buf, err := buffer(int(min(wire.MaxChunk, left)))
			if err != nil {
				return err
			}
			n, err := io.ReadFull(fd, buf)
			if err != nil {
				free <- buf
				return fmt.Errorf("reading %s: %w", f.name, err)
			}
			if !send(readChunk{file: i, data: buf[:n], free: free}) {
				return ctx.Err()
			}
			left -= int64(n)
		}
		return nil
	}
	go func() {
		defer close(out)
		for i := range files {
			if err := readFile(i); err != nil {
				send(readChunk{err: err})
				return
			}
		}
	}()
	return out
}

// receiveSnapshot writes the files of a snapshot into a fresh incoming
// directory of the store and returns it with the lineage it holds. The
// caller installs it. On error the directory is gone.
func (cp copier) receiveSnapshot(ctx context.Context, p stream, show string) (dir string, lin store.Lineage, err error) {
	// A sender that stays connected but stops sending the copy would hold
	// this console in the copy for good: each message must come within
	// copyStall of the last.
	next := func() (wire.Msg, error) { return p.Receive(ctx, cp.sched.Now().Add(copyStall)) }
	m, err := next()
	if err != nil {
		return "", lin, err
	}
	begin, ok := m.(*wire.SnapBegin)
	if !ok || begin.Show != show {
		return "", lin, unexpected(m, "expected the start of a copy of %s", show)
	}
	incoming, err := cp.st.IncomingDir(show)
	if err != nil {
		return "", lin, err
	}
	if err := os.MkdirAll(incoming, 0o750); err != nil {
		return "", lin, err
	}
	// Whatever ends the receive early (an error, or the console stopping
	// under it), the writer and the directory go.
	var success, finished bool
	var w *copyWriter
	defer func() {
		if !success {
			if w != nil && !finished {
				w.abandon()
			}
			os.RemoveAll(incoming)
		}
	}()
	dir = incoming
	if free, ferr := freeBytes(dir); ferr == nil && free < begin.Bytes+64<<20 {
		return "", lin, fmt.Errorf("%w: the copy needs %d MiB, %d MiB free", store.ErrDiskFull, begin.Bytes>>20, free>>20)
	}
	t0 := cp.sched.Now()
	if cp.progress != nil {
		cp.progress.begin(p.ID(), int64(min(begin.Bytes, 1<<62)), t0)
		defer cp.progress.end()
	}
	w = newCopyWriter()
	var got uint64
	received := make(map[string]bool) // every file begun; the current one is complete once the next begins
	var left uint64
	for {
		m, err := next()
		if err != nil {
			return "", lin, err
		}
		switch m := m.(type) {
		case *wire.SnapFile:
			if left != 0 {
				return "", lin, fmt.Errorf("copy: file ended %d bytes early", left)
			}
			if !filepath.IsLocal(m.Name) || filepath.Base(m.Name) != m.Name {
				return "", lin, fmt.Errorf("copy: refusing file name %q", m.Name)
			}
			if received[m.Name] {
				return "", lin, fmt.Errorf("copy: file %s sent twice", m.Name)
			}
			if len(received) >= 2*wire.MaxFiles {
				return "", lin, fmt.Errorf("copy: more than %d files", 2*wire.MaxFiles)
			}
			if err := w.create(filepath.Join(dir, m.Name), int64(m.Size)); err != nil {
				return "", lin, err
			}
			received[m.Name] = true
			left = m.Size
		case *wire.SnapChunk:
			if len(received) == 0 || uint64(len(m.Data)) > left {
				return "", lin, errors.New("copy: data outside a file")
			}
			n := uint64(len(m.Data))
			if err := w.write(m); err != nil {
				return "", lin, err
			}
			left -= n
			got += n
			if cp.progress != nil {
				cp.progress.add(int64(n))
			}
		case *wire.SnapEnd:
			if left != 0 {
				return "", lin, fmt.Errorf("copy incomplete: the last file ended %d bytes early", left)
			}
			keep := make(map[string]bool, len(m.Files))
			for _, name := range m.Files {
				if !received[name] {
					return "", lin, fmt.Errorf("copy incomplete: %s was not sent", name)
				}
				keep[name] = true
			}
			tEnd := cp.sched.Now()
			finished = true
			if err := w.finish(); err != nil {
				return "", lin, err
			}
			// Files the sender's compactions dropped while it made the copy.
			// Install syncs the directory, removals included.
			for name := range received {
				if !keep[name] {
					if err := os.Remove(filepath.Join(dir, name)); err != nil {
						return "", lin, err
					}
				}
			}
			if err := cp.st.CopyReceived(show, dir); err != nil {
				return "", lin, err
			}
			lin = store.Lineage{ShowID: m.ShowID, Epochs: fromWireEpochs(m.Epochs), Seq: m.Seq}
			cp.log.Info("received full copy", "peer", p.ID(), "show", show, "seq", lin.Seq, "bytes", got,
				"took", cp.sched.Now().Sub(t0).Round(time.Millisecond), "sync_wait", cp.sched.Now().Sub(tEnd).Round(time.Millisecond),
				"dropped", len(received)-len(keep))
			success = true
			return dir, lin, nil
		default:
			return "", lin, unexpected(m, "copy: expected the next file")
		}
	}
}

// copyStall bounds the wait for each message of a full copy being
// received. The sender sends the files back to back, each write bounded by
// wire.DefaultWriteTimeout; a gap of this long means it has stopped.
const copyStall = 30 * time.Second

// copier sends and receives full copies: what of the engine that needs.
type copier struct {
	st    *store.Store
	sched sched
	wg    *group // the goroutines it starts
	log   *slog.Logger
	delay time.Duration // Options.copyDelay
	// progress is where a received copy reports how far it has come.
	progress *copyProgress
}

func (e *Engine) copier() copier {
	return copier{st: e.st, sched: e.sched, wg: &e.net.wg, log: e.log, delay: e.opts.copyDelay, progress: &e.incoming}
}
